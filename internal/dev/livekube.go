package dev

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/slipway-dev/slipway/internal/kube"
	"github.com/slipway-dev/slipway/internal/liveupdate"
)

// KubeSyncer syncs live-update binaries through the API server's exec (the
// connection's guarded clients), and watches live-updated pods.
type KubeSyncer struct {
	Clients *kube.Clients
	// Stale receives targets with a replaced pod; Problems watch failures.
	Stale    chan<- string
	Problems chan<- error
	// Ctx bounds the watches (the loop's lifetime).
	Ctx context.Context

	mu      sync.Mutex
	watches map[string]context.CancelFunc
}

var _ Syncer = (*KubeSyncer)(nil)

func (k *KubeSyncer) Push(ctx context.Context, s liveupdate.Sync, file, sum string) ([]liveupdate.Synced, error) {
	return liveupdate.Push(ctx, kubePods{k.Clients}, s, file, sum)
}

func (k *KubeSyncer) Reset(ctx context.Context, s liveupdate.Sync) ([]liveupdate.Synced, error) {
	return liveupdate.Reset(ctx, kubePods{k.Clients}, s)
}

// kubePods are liveupdate.Pods over the API.
type kubePods struct{ c *kube.Clients }

func (p kubePods) Running(ctx context.Context, namespace string, selector map[string]string, container string) ([]liveupdate.Pod, error) {
	list, err := p.c.Typed.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: labels.SelectorFromSet(selector).String()})
	if err != nil {
		return nil, fmt.Errorf("listing pods in %s: %w", namespace, err)
	}
	var out []liveupdate.Pod
	for i := range list.Items {
		if st, ok := running(&list.Items[i], container); ok {
			out = append(out, liveupdate.Pod{Name: list.Items[i].Name, UID: string(list.Items[i].UID), RestartCount: st.RestartCount})
		}
	}
	return out, nil
}

func (p kubePods) Exec(ctx context.Context, namespace, pod, container string, cmd []string, stdin io.Reader) ([]byte, error) {
	return p.c.Exec(ctx, namespace, pod, container, cmd, stdin)
}

// running returns the container's status when the pod is not going away and
// the container runs and is ready (its process serves: the agent, which
// listens before it starts it, answers).
func running(pod *corev1.Pod, container string) (corev1.ContainerStatus, bool) {
	if pod.DeletionTimestamp != nil || pod.Status.Phase != corev1.PodRunning {
		return corev1.ContainerStatus{}, false
	}
	for _, st := range pod.Status.ContainerStatuses {
		if st.Name == container && st.State.Running != nil && st.Ready {
			return st, true
		}
	}
	return corev1.ContainerStatus{}, false
}

// Watch replaces target's pod watches: one per workload of syncs, sending the
// target on Stale once for each running pod that is not one of synced.
func (k *KubeSyncer) Watch(target string, syncs []liveupdate.Sync, synced []liveupdate.Synced) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if cancel := k.watches[target]; cancel != nil {
		cancel()
		delete(k.watches, target)
	}
	if len(syncs) == 0 {
		return
	}
	if k.watches == nil {
		k.watches = map[string]context.CancelFunc{}
	}
	ctx, cancel := context.WithCancel(k.Ctx)
	k.watches[target] = cancel
	known := map[string]bool{}
	for _, s := range synced {
		known[s.UID] = true
	}
	seen := map[string]bool{}
	for _, s := range syncs {
		if key := syncKey(s); !seen[key] {
			seen[key] = true
			go k.watchPods(ctx, target, s, known)
		}
	}
}

// watchPods watches one workload's pods until ctx ends, re-opening the watch
// when the server closes it.
func (k *KubeSyncer) watchPods(ctx context.Context, target string, s liveupdate.Sync, known map[string]bool) {
	told := map[string]bool{}
	opts := metav1.ListOptions{LabelSelector: labels.SelectorFromSet(s.Selector).String()}
	for ctx.Err() == nil {
		w, err := k.Clients.Typed.CoreV1().Pods(s.Namespace).Watch(ctx, opts)
		if err != nil {
			k.problem(fmt.Errorf("%s: watching live-updated pods of %s/%s: %w", target, s.Kind, s.Name, err))
			select {
			case <-ctx.Done():
			case <-time.After(2 * time.Second):
			}
			continue
		}
		for ev := range w.ResultChan() {
			pod, ok := ev.Object.(*corev1.Pod)
			if !ok || ev.Type == watch.Deleted || known[string(pod.UID)] || told[string(pod.UID)] {
				continue
			}
			if _, ok := running(pod, s.Container); ok {
				told[string(pod.UID)] = true
				select {
				case k.Stale <- target:
				case <-ctx.Done():
				}
			}
		}
		w.Stop()
	}
}

func (k *KubeSyncer) problem(err error) {
	select {
	case k.Problems <- err:
	default:
	}
}
