package kube

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/fluxcd/cli-utils/pkg/kstatus/status"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/clock"
)

// Readiness of one object.
type Readiness struct {
	Ref     Ref           `json:"object"`
	Status  status.Status `json:"status"`
	Message string        `json:"message,omitempty"`
	// Reason is why a pod of the object cannot become ready (e.g. CrashLoopBackOff).
	Reason string `json:"reason,omitempty"`
}

// Ready reports whether the object is ready (kstatus Current).
func (r Readiness) Ready() bool { return r.Status == status.CurrentStatus }

// NotReadyError lists objects that failed, or did not become ready in time.
type NotReadyError struct {
	Objects []Readiness
	Timeout bool
}

func (e *NotReadyError) Error() string {
	var lines []string
	for _, r := range e.Objects {
		line := fmt.Sprintf("%s: %s", r.Ref, r.Status)
		if r.Reason != "" {
			line += ": " + r.Reason
		} else if r.Message != "" {
			line += ": " + r.Message
		}
		lines = append(lines, line)
	}
	what := "failed"
	if e.Timeout {
		what = "not ready in time"
	}
	return fmt.Sprintf("%d object(s) %s:\n  %s", len(e.Objects), what, strings.Join(lines, "\n  "))
}

// fatalReasons are container states that waiting will not fix.
var fatalReasons = map[string]bool{
	"CrashLoopBackOff":           true,
	"ImagePullBackOff":           true,
	"ErrImagePull":               true,
	"InvalidImageName":           true,
	"CreateContainerConfigError": true,
	"CreateContainerError":       true,
	"RunContainerError":          true,
}

// WaitReady polls the objects until every one is ready (kstatus Current), one
// fails (kstatus Failed, or a pod in CrashLoopBackOff, ImagePullBackOff, ...), or
// the timeout passes. Polls start 25ms apart, doubling up to interval: most objects
// are ready within a few hundred milliseconds of an apply. onChange, if set, sees
// each object's readiness when it changes. A transient failure to read an object
// (the API server restarting) keeps it pending until the deadline; any other
// failure ends the wait.
func (c *Clients) WaitReady(ctx context.Context, refs []Ref, timeout, interval time.Duration, onChange func(Readiness)) ([]Readiness, error) {
	w := &readyWaiter{probe: c.readiness, clock: c.clock(), timeout: timeout, interval: interval, onChange: onChange}
	return w.wait(ctx, refs)
}

func (c *Clients) clock() clock.Clock {
	if c.Clock != nil {
		return c.Clock
	}
	return clock.RealClock{}
}

// readyWaiter polls objects' readiness through probe.
type readyWaiter struct {
	probe    func(context.Context, Ref) (Readiness, error)
	clock    clock.Clock
	timeout  time.Duration
	interval time.Duration
	onChange func(Readiness)
	last     map[string]Readiness
}

func (w *readyWaiter) wait(ctx context.Context, refs []Ref) ([]Readiness, error) {
	deadline := w.clock.Now().Add(w.timeout)
	delay := min(25*time.Millisecond, w.interval)
	w.last = map[string]Readiness{}
	pending := append([]Ref(nil), refs...)
	for {
		still, failed, err := w.poll(ctx, pending)
		if err != nil {
			return nil, err
		}
		if len(failed) > 0 {
			return collect(refs, w.last), &NotReadyError{Objects: failed}
		}
		if len(still) == 0 {
			return collect(refs, w.last), nil
		}
		pending = still
		if !w.clock.Now().Before(deadline) {
			var late []Readiness
			for _, ref := range still {
				late = append(late, w.last[ref.Key()])
			}
			return collect(refs, w.last), &NotReadyError{Objects: late, Timeout: true}
		}
		select {
		case <-ctx.Done():
			return collect(refs, w.last), ctx.Err()
		case <-w.clock.After(delay):
		}
		delay = min(delay*2, w.interval)
	}
}

// poll looks at each pending object once: those still not ready, and those failed.
func (w *readyWaiter) poll(ctx context.Context, pending []Ref) (still []Ref, failed []Readiness, err error) {
	for _, ref := range pending {
		r, err := w.probe(ctx, ref)
		if err != nil && !IsTransient(err) {
			return nil, nil, err
		}
		if err != nil { // unknown for now: keep waiting, and say why if time runs out
			r = Readiness{Ref: ref, Status: status.UnknownStatus, Message: err.Error()}
		}
		if prev, ok := w.last[ref.Key()]; !ok || prev != r {
			w.last[ref.Key()] = r
			if w.onChange != nil {
				w.onChange(r)
			}
		}
		switch {
		case r.Status == status.FailedStatus || r.Reason != "":
			failed = append(failed, r)
		case !r.Ready():
			still = append(still, ref)
		}
	}
	return still, failed, nil
}

func collect(refs []Ref, last map[string]Readiness) []Readiness {
	out := make([]Readiness, 0, len(refs))
	for _, ref := range refs {
		out = append(out, last[ref.Key()])
	}
	return out
}

func (c *Clients) readiness(ctx context.Context, ref Ref) (Readiness, error) {
	ri, err := c.ResourceFor(ref)
	if err != nil {
		return Readiness{}, err
	}
	live, err := ri.Get(ctx, ref.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return Readiness{Ref: ref, Status: status.NotFoundStatus}, nil
	}
	if err != nil {
		return Readiness{}, fmt.Errorf("%s: %w", ref, err)
	}
	res, err := status.Compute(live)
	if err != nil {
		return Readiness{}, fmt.Errorf("%s: %w", ref, err)
	}
	r := Readiness{Ref: ref, Status: res.Status, Message: res.Message}
	if r.Status != status.CurrentStatus {
		reason, err := c.podFailure(ctx, live)
		if err != nil {
			return Readiness{}, err
		}
		r.Reason = reason
	}
	return r, nil
}

// podFailure returns why a pod of a workload cannot start, or "".
func (c *Clients) podFailure(ctx context.Context, workload *unstructured.Unstructured) (string, error) {
	var selector string
	switch workload.GetKind() {
	case "Pod":
		pod := &corev1.Pod{}
		if err := fromUnstructured(workload, pod); err != nil {
			return "", err
		}
		return c.withLastLogs(ctx, pod, podReason(pod)), nil
	case "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job":
		sel, found, _ := unstructured.NestedMap(workload.Object, "spec", "selector")
		if !found {
			return "", nil
		}
		ls := &metav1.LabelSelector{}
		if err := fromUnstructuredMap(sel, ls); err != nil {
			return "", nil
		}
		s, err := metav1.LabelSelectorAsSelector(ls)
		if err != nil {
			return "", nil
		}
		selector = s.String()
	default:
		return "", nil
	}
	pods, err := c.Typed.CoreV1().Pods(workload.GetNamespace()).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return "", fmt.Errorf("listing pods of %s: %w", RefOf(workload), err)
	}
	sort.Slice(pods.Items, func(i, j int) bool { return pods.Items[i].Name < pods.Items[j].Name })
	for i := range pods.Items {
		if reason := podReason(&pods.Items[i]); reason != "" {
			return c.withLastLogs(ctx, &pods.Items[i], reason), nil
		}
	}
	return "", nil
}

// podReason describes a container of the pod stuck in a state waiting will not fix.
func podReason(pod *corev1.Pod) string {
	statuses := append(append([]corev1.ContainerStatus{}, pod.Status.InitContainerStatuses...), pod.Status.ContainerStatuses...)
	for _, cs := range statuses {
		w := cs.State.Waiting
		if w == nil || !fatalReasons[w.Reason] {
			continue
		}
		reason := fmt.Sprintf("pod %s: container %s: %s", pod.Name, cs.Name, w.Reason)
		if w.Message != "" {
			reason += ": " + w.Message
		}
		if t := cs.LastTerminationState.Terminated; t != nil {
			reason += fmt.Sprintf(" (last exit code %d", t.ExitCode)
			if t.Reason != "" {
				reason += ", " + t.Reason
			}
			reason += ")"
		}
		return reason
	}
	return ""
}

// lastLogLines is how many lines of a crashed container's log a failure quotes.
const lastLogLines = 3

// withLastLogs adds to a crash reason the last lines the crashed container wrote
// (its previous instance's log, which the kubelet keeps until the next restart).
func (c *Clients) withLastLogs(ctx context.Context, pod *corev1.Pod, reason string) string {
	if reason == "" {
		return ""
	}
	for _, cs := range append(append([]corev1.ContainerStatus{}, pod.Status.InitContainerStatuses...), pod.Status.ContainerStatuses...) {
		if cs.State.Waiting == nil || cs.State.Waiting.Reason != "CrashLoopBackOff" {
			continue
		}
		tail := int64(lastLogLines)
		b, err := c.Typed.CoreV1().Pods(pod.Namespace).GetLogs(pod.Name,
			&corev1.PodLogOptions{Container: cs.Name, Previous: true, TailLines: &tail}).DoRaw(ctx)
		if err != nil || len(strings.TrimSpace(string(b))) == 0 {
			return reason
		}
		return reason + "; last log lines of " + cs.Name + ":\n    " +
			strings.ReplaceAll(strings.TrimRight(string(b), "\n"), "\n", "\n    ")
	}
	return reason
}
