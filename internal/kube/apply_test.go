package kube

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func obj(t *testing.T, y map[string]any) *unstructured.Unstructured {
	t.Helper()
	return &unstructured.Unstructured{Object: y}
}

func deployment(replicas int64, labels map[string]any, rv string) map[string]any {
	return map[string]any{
		"apiVersion": "apps/v1", "kind": "Deployment",
		"metadata": map[string]any{"name": "web", "namespace": "shop", "labels": labels, "resourceVersion": rv, "managedFields": []any{map[string]any{"manager": "x"}}},
		"spec":     map[string]any{"replicas": replicas},
		"status":   map[string]any{"readyReplicas": replicas},
	}
}

func TestDrifted(t *testing.T) {
	base := deployment(2, map[string]any{"app": "web"}, "1")
	tests := []struct {
		name    string
		desired map[string]any
		want    bool
	}{
		{"identical but metadata and status", func() map[string]any {
			d := deployment(2, map[string]any{"app": "web"}, "9")
			d["status"] = map[string]any{"readyReplicas": int64(0)}
			return d
		}(), false},
		{"spec changed", deployment(3, map[string]any{"app": "web"}, "1"), true},
		{"label changed", deployment(2, map[string]any{"app": "web", "v": "2"}, "1"), true},
	}
	for _, tt := range tests {
		if got := drifted(obj(t, base), obj(t, tt.desired)); got != tt.want {
			t.Errorf("%s: drifted = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestUnifiedDiffMasksSecrets(t *testing.T) {
	secret := func(v string) *unstructured.Unstructured {
		return obj(t, map[string]any{"apiVersion": "v1", "kind": "Secret", "metadata": map[string]any{"name": "s", "namespace": "n"}, "data": map[string]any{"password": v}})
	}
	c := Change{Ref: RefOf(secret("")), Action: Configured, Live: secret("b2xk"), Desired: secret("bmV3")}
	text, err := UnifiedDiff(c)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(text, "b2xk") || strings.Contains(text, "bmV3") || !strings.Contains(text, "password") {
		t.Errorf("secret values leak into the diff, or the changed key is missing:\n%s", text)
	}
}

func TestUnifiedDiff(t *testing.T) {
	live := obj(t, deployment(2, map[string]any{"app": "web"}, "1"))
	desired := obj(t, deployment(3, map[string]any{"app": "web"}, "2"))
	text, err := UnifiedDiff(Change{Ref: RefOf(desired), Action: Configured, Live: live, Desired: desired})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"--- live/Deployment shop/web", "+++ desired/Deployment shop/web", "-  replicas: 2", "+  replicas: 3"} {
		if !strings.Contains(text, want) {
			t.Errorf("diff lacks %q:\n%s", want, text)
		}
	}
	for _, noise := range []string{"resourceVersion", "managedFields", "readyReplicas"} {
		if strings.Contains(text, noise) {
			t.Errorf("diff shows %s:\n%s", noise, text)
		}
	}
}

func TestPodReason(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-1"}, Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{
		{Name: "ok", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}},
		{Name: "app", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: "back-off 10s"}},
			LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 2, Reason: "Error"}}},
	}}}
	want := "pod web-1: container app: CrashLoopBackOff: back-off 10s (last exit code 2, Error)"
	if got := podReason(pod); got != want {
		t.Errorf("podReason = %q, want %q", got, want)
	}
	pod.Status.ContainerStatuses[1].State.Waiting.Reason = "ContainerCreating"
	if got := podReason(pod); got != "" {
		t.Errorf("a container still being created is not a failure, got %q", got)
	}
}

func TestInventoryIDSeparatesNamespacesAndTargets(t *testing.T) {
	ids := map[string]bool{}
	for _, k := range [][2]string{{"//a:deploy", "dev-alice"}, {"//a:deploy", "dev-bob"}, {"//b:deploy", "dev-alice"}} {
		id := InventoryID(k[0], k[1])
		if ids[id] || len(id) > 63 {
			t.Errorf("InventoryID%v = %q: duplicate or not a valid label value", k, id)
		}
		ids[id] = true
	}
	first, again := InventoryID("//a:deploy", "x"), InventoryID("//a:deploy", "x")
	if first != again {
		t.Error("InventoryID is not stable")
	}
}
