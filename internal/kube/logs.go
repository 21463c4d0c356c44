package kube

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// FollowLogs streams the logs of the pods of a workload (or of a pod) to out, one
// line at a time prefixed with "[pod/container] ", until ctx ends. Logs written
// before since are skipped. Pods that serve no logs (simulated nodes, say) are
// reported once and skipped.
func (c *Clients) FollowLogs(ctx context.Context, ref Ref, since time.Time, out io.Writer) error {
	ri, err := c.ResourceFor(ref)
	if err != nil {
		return err
	}
	live, err := ri.Get(ctx, ref.Name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	var pods []corev1.Pod
	if ref.Kind == "Pod" {
		pod := corev1.Pod{}
		if err := fromUnstructured(live, &pod); err != nil {
			return err
		}
		pods = append(pods, pod)
	} else {
		sel, found, _ := unstructured.NestedMap(live.Object, "spec", "selector")
		if !found {
			return nil
		}
		ls := &metav1.LabelSelector{}
		if err := fromUnstructuredMap(sel, ls); err != nil {
			return nil
		}
		s, err := metav1.LabelSelectorAsSelector(ls)
		if err != nil {
			return nil
		}
		list, err := c.Typed.CoreV1().Pods(ref.Namespace).List(ctx, metav1.ListOptions{LabelSelector: s.String()})
		if err != nil {
			return err
		}
		pods = list.Items
	}
	var mu sync.Mutex // lines from several streams never interleave mid-line
	var wg sync.WaitGroup
	for _, pod := range pods {
		if pod.DeletionTimestamp != nil {
			continue
		}
		for _, ctr := range pod.Spec.Containers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				prefix := fmt.Sprintf("[%s/%s] ", pod.Name, ctr.Name)
				st := metav1.NewTime(since)
				req := c.Typed.CoreV1().Pods(pod.Namespace).GetLogs(pod.Name, &corev1.PodLogOptions{Container: ctr.Name, Follow: true, SinceTime: &st})
				stream, err := req.Stream(ctx)
				if err != nil {
					if ctx.Err() == nil {
						mu.Lock()
						fmt.Fprintf(out, "%slogs unavailable from node %s: %v\n", prefix, pod.Spec.NodeName, err)
						mu.Unlock()
					}
					return
				}
				defer stream.Close()
				sc := bufio.NewScanner(stream)
				for sc.Scan() {
					mu.Lock()
					fmt.Fprintf(out, "%s%s\n", prefix, sc.Text())
					mu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	return nil
}
