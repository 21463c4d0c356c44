//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/slipway-dev/slipway/internal/cluster"
	"github.com/slipway-dev/slipway/internal/dev"
)

// A service that answers with its version and its pod's name.
const pfMain = `package main

import (
	"fmt"
	"net/http"
	"os"
)

const version = "v1"

func main() {
	host, _ := os.Hostname()
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintf(w, "pf %s %s", version, host) })
	http.ListenAndServe(":8080", nil)
}
`

const pfDeploy = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: pf
spec:
  replicas: 1
  selector:
    matchLabels: {app: pf}
  template:
    metadata:
      labels: {app: pf}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: pf
        image: pf
        ports:
        - {name: http, containerPort: 8080}
        readinessProbe:
          httpGet: {path: /, port: http}
          periodSeconds: 1
`

// pfBuild declares the forwards: the deployment by port name, and a second
// local port that the test holds itself (a taken port).
func pfBuild(port, taken int) string {
	return fmt.Sprintf(`load("@rules_go//go:def.bzl", "go_binary")
load("@slipway//rules:defs.bzl", "dev", "image", "manifests")

go_binary(name = "pf", srcs = ["main.go"])

image(name = "image", binary = ":pf")

manifests(
    name = "deploy",
    srcs = ["deploy.yaml"],
    images = {"pf": ":image"},
    namespace = "pf-{user}",
    port_forwards = {"%d": "deployment/pf:http", "%d": "svc/pf-missing:80"},
)

dev(name = "dev", targets = [":deploy"])
`, port, taken)
}

func TestPortForwardsSurviveRolloutsKillsAndRestarts(t *testing.T) {
	cl := sharedCluster(t)
	cs := clientset(t, cl)
	ctx := context.Background()
	w := newWorkspace(t, "pf")
	port := freeLocalPort(t)
	squatter, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer squatter.Close()
	taken := squatter.Addr().(*net.TCPAddr).Port
	w.write("pf/main.go", pfMain)
	w.write("pf/deploy.yaml", pfDeploy)
	w.write("pf/BUILD.bazel", pfBuild(port, taken))
	user := fmt.Sprintf("e2e%d", time.Now().UnixNano()%1_000_000)
	ns := "pf-" + user
	defer cs.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{})

	d := startDevTarget(t, w, "//pf:dev", []string{"USER=" + user})
	d.waitReady(15 * time.Minute)
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)

	t.Run("the forward answers and a taken port is named", func(t *testing.T) {
		got, err := get(url)
		if err != nil || !strings.HasPrefix(got, "pf v1 pf-") {
			t.Fatalf("GET %s = %q, %v; want pf v1 from a pod", url, got, err)
		}
		if want := fmt.Sprintf("local port %d is not free", taken); !strings.Contains(d.problems.String(), want) {
			t.Errorf("the loop's problems do not name the taken port (%q):\n%s", want, d.problems.String())
		}
	})

	t.Run("after a rollout the next connection reaches the new version", func(t *testing.T) {
		w.edit("pf/main.go", `version = "v1"`, `version = "v2"`)
		c := d.next()
		if c.Outcome != dev.OK {
			t.Fatalf("cycle %s: %v", c.Outcome, c.Errors)
		}
		// The cycle ends once the rollout is ready: the very next request is v2.
		got, err := get(url)
		if err != nil || !strings.HasPrefix(got, "pf v2 ") {
			t.Errorf("first GET after the rollout = %q, %v; want v2", got, err)
		}
	})

	t.Run("after the pod is killed it reconnects to the replacement", func(t *testing.T) {
		before, _ := get(url)
		old := strings.TrimPrefix(before, "pf v2 ")
		if err := cs.CoreV1().Pods(ns).Delete(ctx, old, metav1.DeleteOptions{GracePeriodSeconds: new(int64)}); err != nil {
			t.Fatal(err)
		}
		next := waitReadyPod(t, cs, ns, old, 3*time.Minute)
		got, lag := pollUntil(url, "pf v2 "+next, 30*time.Second)
		if got != "pf v2 "+next {
			t.Fatalf("after killing %s: GET = %q, want the replacement %s", old, got, next)
		}
		t.Logf("killed pod: the forward answered from %s %s after the test saw it ready (goal: 1s)", next, lag.Round(time.Millisecond))
		if lag > 5*time.Second {
			t.Errorf("the forward took %s after a ready pod existed", lag)
		}
	})

	t.Run("after the API server restarts it reconnects", func(t *testing.T) {
		restartAPIServer(t, ctx)
		start := time.Now()
		got, _ := pollUntil(url, "pf v2 ", 60*time.Second)
		if !strings.HasPrefix(got, "pf v2 ") {
			t.Fatalf("after the API server restart: GET = %q", got)
		}
		t.Logf("API server restart: the forward answered %s after the API server was back", time.Since(start).Round(time.Millisecond))
	})
}

// get makes one request with a short timeout.
func get(url string) (string, error) {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// pollUntil requests url until the answer starts with want, and says how long
// that took. Each request is a new connection: that is what the forward serves.
func pollUntil(url, want string, timeout time.Duration) (string, time.Duration) {
	start := time.Now()
	var got string
	for time.Since(start) < timeout {
		got, _ = get(url)
		if strings.HasPrefix(got, want) {
			return got, time.Since(start)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return got, time.Since(start)
}

// waitReadyPod waits for a ready pod other than old, through a watch.
func waitReadyPod(t *testing.T, cs kubernetes.Interface, ns, old string, timeout time.Duration) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	wi, err := cs.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{LabelSelector: "app=pf"})
	if err != nil {
		t.Fatal(err)
	}
	defer wi.Stop()
	for ev := range wi.ResultChan() {
		p, ok := ev.Object.(*corev1.Pod)
		if !ok || p.Name == old || p.DeletionTimestamp != nil {
			continue
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				return p.Name
			}
		}
	}
	t.Fatalf("no ready pod replaced %s within %s", old, timeout)
	return ""
}

// restartAPIServer stops the shared instance's API server (a process this suite
// started: pid and binary checked) and brings it back with up.
func restartAPIServer(t *testing.T, ctx context.Context) {
	t.Helper()
	st, err := cluster.Status(ctx, sharedConfig())
	if err != nil {
		t.Fatal(err)
	}
	api := st.Components[indexOf(t, st.Components, cluster.APIServer)]
	if alive, _ := sameProcessBinary(api.PID, api.Binary); !alive {
		t.Fatalf("the API server (pid %d) is not the process the instance started", api.PID)
	}
	// Whatever happens below, the suite's other tests need the API server back.
	defer func() {
		if _, err := cluster.Up(ctx, sharedConfig()); err != nil {
			t.Fatalf("bringing the API server back: %v", err)
		}
	}()
	// SIGKILL: a crash, and no graceful drain of the open port-forward streams
	// (after SIGTERM it serves them on for a minute or more).
	if err := syscall.Kill(api.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// Up takes a live process from the pid file for the component itself: wait
	// until the old API server has exited.
	if err := poll(ctx, 10*time.Second, func() (bool, error) {
		alive, _ := sameProcessBinary(api.PID, api.Binary)
		return !alive, nil
	}); err != nil {
		t.Fatalf("the API server (pid %d) still runs 10s after SIGKILL: %v", api.PID, err)
	}
}

// freeLocalPort returns a loopback port nothing listens on now.
func freeLocalPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
