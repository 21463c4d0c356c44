package portforward

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes/fake"
)

func testPod(name string, age time.Duration, ready, deleting bool) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop", Labels: map[string]string{"app": "frontend"},
			CreationTimestamp: metav1.NewTime(time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC).Add(-age))},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{
			{Type: corev1.PodReady, Status: corev1.ConditionFalse}}},
	}
	if ready {
		p.Status.Conditions[0].Status = corev1.ConditionTrue
	}
	if deleting {
		now := metav1.Now()
		p.DeletionTimestamp = &now
		p.Finalizers = []string{"test/keep"} // the fake clientset refuses deleting objects without one
	}
	return p
}

func TestKubeEndpointsPick(t *testing.T) {
	deployment := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "frontend", Namespace: "shop"},
		Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "frontend"}}}}
	service := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "frontend", Namespace: "shop"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "frontend"}, Ports: []corev1.ServicePort{
			{Name: "web", Port: 80, TargetPort: intstr.FromString("http")},
			{Name: "admin", Port: 9000, TargetPort: intstr.FromInt32(9090)}}}}
	for _, tc := range []struct {
		name    string
		pods    []runtime.Object
		spec    Spec
		want    Endpoint
		wantErr string
	}{
		{name: "newest ready pod of a deployment",
			pods: []runtime.Object{testPod("old", 2*time.Minute, true, false), testPod("new", time.Minute, true, false), testPod("starting", 0, false, false)},
			spec: Spec{Kind: "deployment", Name: "frontend", Port: "8080"}, want: Endpoint{Pod: "new", Port: 8080}},
		{name: "a terminating pod is not picked",
			pods: []runtime.Object{testPod("old", 2*time.Minute, true, false), testPod("leaving", time.Minute, true, true)},
			spec: Spec{Kind: "deployment", Name: "frontend", Port: "http"}, want: Endpoint{Pod: "old", Port: 8080}},
		{name: "service port name to a named target port",
			pods: []runtime.Object{testPod("a", time.Minute, true, false)},
			spec: Spec{Kind: "service", Name: "frontend", Port: "web"}, want: Endpoint{Pod: "a", Port: 8080}},
		{name: "service port number to a numbered target port",
			pods: []runtime.Object{testPod("a", time.Minute, true, false)},
			spec: Spec{Kind: "service", Name: "frontend", Port: "9000"}, want: Endpoint{Pod: "a", Port: 9090}},
		{name: "no ready pod",
			pods:    []runtime.Object{testPod("starting", 0, false, false)},
			spec:    Spec{Kind: "deployment", Name: "frontend", Port: "8080"},
			wantErr: `deployment shop/frontend has no ready pod (1 pods match "app=frontend")`},
		{name: "unknown port name",
			pods:    []runtime.Object{testPod("a", time.Minute, true, false)},
			spec:    Spec{Kind: "deployment", Name: "frontend", Port: "grpc"},
			wantErr: `pod shop/a has no container port named "grpc"`},
		{name: "a pod by name",
			pods: []runtime.Object{testPod("a", time.Minute, true, false)},
			spec: Spec{Kind: "pod", Name: "a", Port: "8080"}, want: Endpoint{Pod: "a", Port: 8080}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client := fake.NewClientset(append(tc.pods, deployment, service)...)
			got, err := KubeEndpoints{Client: client}.Pick(context.Background(), Forward{Namespace: "shop", Spec: tc.spec})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v, %v; want error %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Pick (-want +got):\n%s", diff)
			}
		})
	}
}

func TestKubeEndpointsReady(t *testing.T) {
	client := fake.NewClientset(testPod("up", 0, true, false), testPod("leaving", 0, true, true))
	k := KubeEndpoints{Client: client}
	for pod, want := range map[string]bool{"up": true, "leaving": false, "gone": false} {
		got, err := k.Ready(context.Background(), "shop", pod)
		if err != nil || got != want {
			t.Errorf("Ready(%s) = %v, %v; want %v", pod, got, err, want)
		}
	}
}

func TestParseSpec(t *testing.T) {
	for _, tc := range []struct {
		local, remote string
		want          Spec
		wantErr       string
	}{
		{"8081", "deployment/frontend:8080", Spec{LocalPort: 8081, Kind: "deployment", Name: "frontend", Port: "8080"}, ""},
		{"9000", "svc/orders:http", Spec{LocalPort: 9000, Kind: "service", Name: "orders", Port: "http"}, ""},
		{"80x", "deployment/frontend:8080", Spec{}, `port_forwards key "80x": want a local port number`},
		{"8081", "frontend:8080", Spec{}, `want KIND/NAME:PORT`},
		{"8081", "job/frontend:8080", Spec{}, `kind "job" is not one of`},
		{"8081", "deployment/frontend:70000", Spec{}, `remote port 70000 is out of range`},
	} {
		got, err := ParseSpec(tc.local, tc.remote)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ParseSpec(%q, %q) = %v, %v; want error %q", tc.local, tc.remote, got, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseSpec(%q, %q) = %+v, %v; want %+v", tc.local, tc.remote, got, err, tc.want)
		}
	}
}
