//go:build e2e

package e2e

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"

	"github.com/slipway-dev/slipway/internal/dev"
)

// devLoop is `bazel run //examples/shop:dev -- --json` running in a workspace.
type devLoop struct {
	t      *testing.T
	cmd    *exec.Cmd
	cycles chan dev.Cycle
	ready  chan struct{}
	done   chan error
	stderr *syncBuffer
	// problems are the loop's {"type":"problem"} events (errors outside cycles), one per line.
	problems *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func startDev(t *testing.T, w *workspace, env []string, args ...string) *devLoop {
	t.Helper()
	return startDevTarget(t, w, "//examples/shop:dev", env, args...)
}

// startDevTarget runs a dev target of the workspace with --json against the
// shared cluster.
func startDevTarget(t *testing.T, w *workspace, target string, env []string, args ...string) *devLoop {
	t.Helper()
	c := sharedCluster(t)
	cmd := w.bazelCommand(context.Background(), append([]string{"run", "--ui_event_filters=-info,-stdout,-stderr", "--noshow_progress",
		target, "--", "--json", "--kubeconfig=" + c.Kubeconfig, "--context=" + c.Context}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	d := &devLoop{t: t, cmd: cmd, cycles: make(chan dev.Cycle, 100), ready: make(chan struct{}), done: make(chan error, 1), stderr: &syncBuffer{}, problems: &syncBuffer{}}
	cmd.Stderr = d.stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<24)
		readyOnce := sync.Once{}
		for sc.Scan() {
			var kind struct{ Type string }
			if json.Unmarshal(sc.Bytes(), &kind) != nil {
				continue
			}
			switch kind.Type {
			case "cycle":
				var c dev.Cycle
				if json.Unmarshal(sc.Bytes(), &c) == nil {
					d.cycles <- c
				}
			case "ready":
				readyOnce.Do(func() { close(d.ready) })
			case "problem":
				var p struct{ Error string }
				if json.Unmarshal(sc.Bytes(), &p) == nil {
					fmt.Fprintln(d.problems, p.Error)
				}
			}
		}
		d.done <- cmd.Wait()
	}()
	t.Cleanup(d.stop)
	return d
}

// stop sends Ctrl-C, the only way out of the loop, and checks it exits cleanly.
func (d *devLoop) stop() {
	if d.cmd.Process == nil {
		return
	}
	_ = d.cmd.Process.Signal(os.Interrupt)
	select {
	case err := <-d.done:
		if err != nil {
			d.t.Errorf("the dev loop exited with %v after Ctrl-C\n%s", err, tailLines(d.stderr.String(), 20))
		}
	case <-time.After(60 * time.Second):
		_ = d.cmd.Process.Kill()
		d.t.Errorf("the dev loop did not stop within 60s of Ctrl-C")
	}
	d.cmd.Process = nil
}

func (d *devLoop) waitReady(timeout time.Duration) {
	d.t.Helper()
	select {
	case <-d.ready:
	case err := <-d.done:
		d.t.Fatalf("the dev loop exited (%v) before it was ready:\n%s", err, tailLines(d.stderr.String(), 40))
	case <-time.After(timeout):
		d.t.Fatalf("the dev loop was not ready within %s:\n%s", timeout, tailLines(d.stderr.String(), 40))
	}
	// The cycles of the first deploy are done with.
	for len(d.cycles) > 0 {
		<-d.cycles
	}
}

// next returns the next cycle that did something (no-ops and canceled cycles skipped).
func (d *devLoop) next() dev.Cycle {
	d.t.Helper()
	deadline := time.After(5 * time.Minute)
	for {
		select {
		case c := <-d.cycles:
			if c.Outcome == dev.NoOp || c.Outcome == dev.Canceled {
				continue
			}
			return c
		case err := <-d.done:
			d.t.Fatalf("the dev loop exited (%v):\n%s", err, tailLines(d.stderr.String(), 40))
		case <-deadline:
			d.t.Fatalf("no cycle within 5 minutes:\n%s", tailLines(d.stderr.String(), 40))
		}
	}
}

// snapshot fingerprints every Deployment, Service, ConfigMap, Secret and
// CronJob in the namespace, by kind/name. The fingerprint covers everything a
// client can write except status: controllers keep writing status on their own
// (the CronJob controller whenever the schedule fires, the Deployment
// controller as pods move), so a bare resourceVersion would blame us for them.
func snapshot(t *testing.T, cs kubernetes.Interface, ns string) map[string]string {
	t.Helper()
	ctx := context.Background()
	out := map[string]string{}
	add := func(kind, name string, obj runtime.Object) {
		out[kind+"/"+name] = fingerprint(t, obj)
	}
	deps, err := cs.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range deps.Items {
		add("Deployment", deps.Items[i].Name, &deps.Items[i])
	}
	svcs, err := cs.CoreV1().Services(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range svcs.Items {
		add("Service", svcs.Items[i].Name, &svcs.Items[i])
	}
	cms, err := cs.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i, o := range cms.Items {
		if !strings.HasPrefix(o.Name, "slipway-inventory-") && o.Name != "kube-root-ca.crt" {
			add("ConfigMap", o.Name, &cms.Items[i])
		}
	}
	secrets, err := cs.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range secrets.Items {
		add("Secret", secrets.Items[i].Name, &secrets.Items[i])
	}
	jobs, err := cs.BatchV1().CronJobs(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range jobs.Items {
		add("CronJob", jobs.Items[i].Name, &jobs.Items[i])
	}
	return out
}

// fingerprint hashes an object without its status, its resourceVersion and the
// managedFields entries of status writers.
func fingerprint(t *testing.T, obj runtime.Object) string {
	t.Helper()
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		t.Fatal(err)
	}
	delete(u, "status")
	o := unstructured.Unstructured{Object: u}
	o.SetResourceVersion("")
	var kept []metav1.ManagedFieldsEntry
	for _, m := range o.GetManagedFields() {
		if m.Subresource != "status" {
			kept = append(kept, m)
		}
	}
	o.SetManagedFields(kept)
	b, err := json.Marshal(o.Object)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// changedObjects lists the objects whose fingerprint differs, or that came or went.
func changedObjects(before, after map[string]string) []string {
	var out []string
	for k, v := range after {
		if before[k] != v {
			out = append(out, k)
		}
	}
	for k := range before {
		if _, ok := after[k]; !ok {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

func deployedImage(t *testing.T, cs kubernetes.Interface, ns, kind, name string) string {
	t.Helper()
	ctx := context.Background()
	switch kind {
	case "CronJob":
		cj, err := cs.BatchV1().CronJobs(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0].Image
	}
	d, err := cs.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return d.Spec.Template.Spec.Containers[0].Image
}

// runImage pulls an image, unpacks it, runs its entrypoint on this host (the
// services are static Go binaries) and returns what its /healthz answers.
func runImage(t *testing.T, ref string, args ...string) string {
	t.Helper()
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(r)
	if err != nil {
		t.Fatalf("pulling %s: %v", ref, err)
	}
	root := t.TempDir()
	tr := tar.NewReader(mutate.Extract(img))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(root, filepath.Clean("/"+h.Name))
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, os.FileMode(h.Mode))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.Copy(f, tr); err != nil {
				t.Fatal(err)
			}
			f.Close()
		}
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	entry := append(append([]string{}, cf.Config.Entrypoint...), cf.Config.Cmd...)
	if len(entry) == 0 {
		t.Fatalf("%s has no entrypoint", ref)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(filepath.Join(root, entry[0]), append(entry[1:], args...)...)
	cmd.Env = append(append([]string{}, cf.Config.Env...), fmt.Sprintf("PORT=%d", port))
	cmd.Dir = root
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("running %s from %s: %v", entry[0], ref, err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/healthz", port))
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			return string(body)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never answered /healthz: %v\n%s", ref, err, logs.String())
		}
		time.Sleep(50 * time.Millisecond) // polling a process we started, with a deadline
	}
}

const extraBuild = `load("@rules_go//go:def.bzl", "go_binary")
load("@slipway//rules:defs.bzl", "image", "manifests")

go_binary(
    name = "extra",
    srcs = glob(["*.go"]),
%s)

image(
    name = "image",
    binary = ":extra",
)

manifests(
    name = "deploy",
    srcs = ["deploy.yaml"],
    images = {"extra": ":image"},
    namespace = "shop-{user}",
)
`

const extraYAML = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: extra
spec:
  replicas: 1
  selector:
    matchLabels: {app: extra}
  template:
    metadata:
      labels: {app: extra}
    spec:
      containers:
        - name: extra
          image: extra
`

func TestShopDevLoop(t *testing.T) {
	cl := sharedCluster(t)
	cs := clientset(t, cl)
	ctx := context.Background()
	w := newWorkspace(t, "examples/shop")
	w.copyFromRepo("examples/shop", "examples/shop")
	user := fmt.Sprintf("e2e%d", time.Now().UnixNano()%1_000_000)
	ns := "shop-" + user
	defer cs.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{})

	d := startDev(t, w, []string{"USER=" + user})
	start := time.Now()
	d.waitReady(20 * time.Minute)
	t.Logf("first full deploy ready in %s", time.Since(start).Round(time.Second))

	services := map[string]string{"frontend": "Deployment", "catalog": "Deployment", "orders": "Deployment", "worker": "CronJob"}

	t.Run("first full deploy is ready", func(t *testing.T) {
		for svc, kind := range services {
			img := deployedImage(t, cs, ns, kind, svc)
			if !strings.HasPrefix(img, cl.RegistryHost+"/examples/shop/"+svc+"@sha256:") {
				t.Errorf("%s %s runs %s, want its image by digest", kind, svc, img)
			}
		}
		fe, err := cs.AppsV1().Deployments(ns).Get(ctx, "frontend", metav1.GetOptions{})
		if err != nil || fe.Status.ReadyReplicas != 2 {
			t.Errorf("frontend: %v, %d ready replicas, want 2", err, fe.Status.ReadyReplicas)
		}
	})

	t.Run("the services answer on the real node", func(t *testing.T) {
		for _, svc := range []string{"frontend", "catalog", "orders"} {
			if got, err := serviceGet(ctx, cs, ns, svc, "/healthz"); err != nil || got != fmt.Sprintf("ok %s %s-v1\n", svc, svc) {
				t.Errorf("%s /healthz through the API server: %q (%v), want its version", svc, got, err)
			}
		}
		// The worker is a CronJob: no pod to ask until it is scheduled; its image runs here.
		if got, want := runImage(t, deployedImage(t, cs, ns, "CronJob", "worker"), "--serve-health"), "ok worker worker-v1\n"; got != want {
			t.Errorf("worker image answers %q, want %q", got, want)
		}
	})

	t.Run("frontend calls orders, which calls catalog, by Service name", func(t *testing.T) {
		buyThroughFrontend(t, cl, cs, ns)
	})

	t.Run("editing one service changes only it", func(t *testing.T) {
		before := snapshot(t, cs, ns)
		podsBefore := podUIDs(t, cs, ns)
		w.edit("examples/shop/catalog/main.go", `"catalog-v1"`, `"catalog-v2"`)
		c := d.next()
		if c.Outcome != dev.OK || strings.Join(c.Affected, ",") != "//examples/shop/catalog:deploy" {
			t.Fatalf("cycle: %s, affected %v, errors %v", c.Outcome, c.Affected, c.Errors)
		}
		if got := changedObjects(before, snapshot(t, cs, ns)); strings.Join(got, ",") != "Deployment/catalog" {
			t.Errorf("objects changed: %v, want only Deployment/catalog", got)
		}
		ref := deployedImage(t, cs, ns, "Deployment", "catalog")
		took := waitServiceAnswer(t, cs, ns, "catalog", "/healthz", "ok catalog catalog-v2\n", time.Minute)
		t.Logf("the new catalog version answered %s after the cycle", took.Round(10*time.Millisecond))
		if got := changedPods(podsBefore, podUIDs(t, cs, ns), "catalog"); len(got) != 0 {
			t.Errorf("pods of other services were replaced: %v", got)
		}
		// The registry received the new binary layer and the config, nothing more.
		r, _ := name.ParseReference(ref)
		img, err := remote.Image(r)
		if err != nil {
			t.Fatal(err)
		}
		layers, _ := img.Layers()
		appLayer, _ := layers[len(layers)-1].Size()
		if len(c.Images) != 1 || float64(c.Images[0].BytesUploaded) > 1.05*float64(appLayer) {
			t.Errorf("pushed %+v; want the catalog image only, at most 1.05 x its %d-byte app layer", c.Images, appLayer)
		}
		t.Logf("cycle: %d ms %v, pushed %d bytes (app layer %d)", c.TotalMillis, c.PhaseMillis, c.Images[0].BytesUploaded, appLayer)
	})

	t.Run("editing a shared library changes exactly its importers", func(t *testing.T) {
		before := snapshot(t, cs, ns)
		w.edit("examples/shop/lib/money/money.go", `"%s$%d.%02d"`, `"%sUSD %d.%02d"`)
		c := d.next()
		if c.Outcome != dev.OK || strings.Join(c.Affected, ",") != "//examples/shop/catalog:deploy,//examples/shop/orders:deploy" {
			t.Fatalf("cycle: %s, affected %v, errors %v", c.Outcome, c.Affected, c.Errors)
		}
		if got := changedObjects(before, snapshot(t, cs, ns)); strings.Join(got, ",") != "Deployment/catalog,Deployment/orders" {
			t.Errorf("objects changed: %v, want the catalog and orders Deployments", got)
		}
	})

	t.Run("a compile error is reported and the cluster is unchanged", func(t *testing.T) {
		before := snapshot(t, cs, ns)
		good := w.read("examples/shop/orders/main.go")
		w.write("examples/shop/orders/main.go", good+"\nfunc broken() int { return \"not an int\" }\n")
		c := d.next()
		if c.Outcome != dev.BuildFailed || len(c.Errors) == 0 || !strings.Contains(strings.Join(c.Errors, "\n"), "orders/main.go") {
			t.Fatalf("cycle: %s, errors %v; want build-failed naming orders/main.go", c.Outcome, c.Errors)
		}
		if got := changedObjects(before, snapshot(t, cs, ns)); len(got) != 0 {
			t.Errorf("a failed build changed %v", got)
		}
		oldImage := deployedImage(t, cs, ns, "Deployment", "orders")
		w.write("examples/shop/orders/main.go", strings.Replace(good, `"orders-v1"`, `"orders-v2"`, 1))
		if c := d.next(); c.Outcome != dev.OK {
			t.Fatalf("after the fix: %s %v", c.Outcome, c.Errors)
		}
		if newImage := deployedImage(t, cs, ns, "Deployment", "orders"); newImage == oldImage {
			t.Errorf("the fix deployed no new orders image")
		}
	})

	t.Run("a BUILD change adding a new service deploys it", func(t *testing.T) {
		w.write("examples/shop/extra/main.go", goMain("extra-v1"))
		w.write("examples/shop/extra/deploy.yaml", extraYAML+"---\n"+configMap("extra-config", "1"))
		w.write("examples/shop/extra/BUILD.bazel", fmt.Sprintf(extraBuild, ""))
		c := d.next()
		if c.Outcome != dev.OK {
			t.Fatalf("cycle: %s %v", c.Outcome, c.Errors)
		}
		if _, err := cs.AppsV1().Deployments(ns).Get(ctx, "extra", metav1.GetOptions{}); err != nil {
			t.Errorf("the new service is not deployed: %v", err)
		}
	})

	t.Run("a new Go file matched by a glob is built", func(t *testing.T) {
		before := deployedImage(t, cs, ns, "Deployment", "extra")
		w.write("examples/shop/extra/more.go", "package main\n\nfunc init() { println(\"more\") }\n")
		c := d.next()
		if c.Outcome != dev.OK || strings.Join(c.Affected, ",") != "//examples/shop/extra:deploy" {
			t.Fatalf("cycle: %s, affected %v, %v", c.Outcome, c.Affected, c.Errors)
		}
		if after := deployedImage(t, cs, ns, "Deployment", "extra"); after == before {
			t.Errorf("the image did not change with the new file")
		}
	})

	t.Run("a BUILD change adding a dependency is followed", func(t *testing.T) {
		w.write("examples/shop/extra/money.go", "package main\n\nimport \"github.com/slipway-dev/slipway/examples/shop/lib/money\"\n\nfunc init() { println(money.Cents(150).String()) }\n")
		w.write("examples/shop/extra/BUILD.bazel", fmt.Sprintf(extraBuild, `    deps = ["//examples/shop/lib/money"],
`))
		if c := d.next(); c.Outcome != dev.OK {
			t.Fatalf("cycle: %s %v", c.Outcome, c.Errors)
		}
		w.edit("examples/shop/lib/money/money.go", `"%sUSD %d.%02d"`, `"%sEUR %d.%02d"`)
		c := d.next()
		want := "//examples/shop/catalog:deploy,//examples/shop/extra:deploy,//examples/shop/orders:deploy"
		if c.Outcome != dev.OK || strings.Join(c.Affected, ",") != want {
			t.Errorf("after editing lib/money: %s, affected %v, want %s", c.Outcome, c.Affected, want)
		}
	})

	t.Run("an object removed from the YAML is pruned", func(t *testing.T) {
		w.write("examples/shop/extra/deploy.yaml", extraYAML)
		if c := d.next(); c.Outcome != dev.OK {
			t.Fatalf("cycle: %s %v", c.Outcome, c.Errors)
		}
		if _, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, "extra-config", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("extra-config still exists (%v)", err)
		}
	})

	t.Run("a deleted service is removed", func(t *testing.T) {
		if err := os.RemoveAll(w.path("examples/shop/extra")); err != nil {
			t.Fatal(err)
		}
		if c := d.next(); c.Outcome != dev.OK {
			t.Fatalf("cycle: %s %v", c.Outcome, c.Errors)
		}
		if _, err := cs.AppsV1().Deployments(ns).Get(ctx, "extra", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("Deployment extra still exists (%v)", err)
		}
	})

	t.Run("a second developer's namespace is independent", func(t *testing.T) {
		bob := user + "bob"
		bobNS := "shop-" + bob
		defer cs.CoreV1().Namespaces().Delete(ctx, bobNS, metav1.DeleteOptions{})
		mine := snapshot(t, cs, ns)
		run := func(target string) {
			t.Helper()
			cmd := w.bazelCommand(ctx, "run", target, "--", "--kubeconfig="+cl.Kubeconfig, "--context="+cl.Context)
			cmd.Env = append(os.Environ(), "USER="+bob)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%s as %s: %v\n%s", target, bob, err, tailLines(string(out), 20))
			}
		}
		run("//examples/shop/catalog:deploy.apply")
		if _, err := cs.AppsV1().Deployments(bobNS).Get(ctx, "catalog", metav1.GetOptions{}); err != nil {
			t.Errorf("bob's catalog: %v", err)
		}
		run("//examples/shop/catalog:deploy.delete")
		if _, err := cs.AppsV1().Deployments(bobNS).Get(ctx, "catalog", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("bob's catalog still there after his delete (%v)", err)
		}
		if got := changedObjects(mine, snapshot(t, cs, ns)); len(got) != 0 {
			t.Errorf("bob's apply and delete changed my namespace: %v", got)
		}
	})

	t.Run(".delete removes exactly the inventory", func(t *testing.T) {
		before := snapshot(t, cs, ns)
		cmd := w.bazelCommand(ctx, "run", "//examples/shop/frontend:deploy.delete", "--", "--kubeconfig="+cl.Kubeconfig, "--context="+cl.Context)
		cmd.Env = append(os.Environ(), "USER="+user)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("delete: %v\n%s", err, tailLines(string(out), 20))
		}
		want := "ConfigMap/frontend-config,Deployment/frontend,Service/frontend"
		if got := changedObjects(before, snapshot(t, cs, ns)); strings.Join(got, ",") != want {
			t.Errorf("objects gone: %v, want %s", got, want)
		}
	})
}

// The dev loop refuses a context that is not allowed before sending it anything.
func TestDevRefusesForbiddenContext(t *testing.T) {
	w := newWorkspace(t, "examples/shop")
	w.copyFromRepo("examples/shop", "examples/shop")
	prod, connections := forbiddenKubeconfig(t)
	start := time.Now()
	cmd := w.bazelCommand(context.Background(), "run", "//examples/shop:dev", "--", "--kubeconfig="+prod, "--context=prod")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), `refusing to write to kubeconfig context "prod"`) {
		t.Errorf("dev against prod: %v\n%s", err, tailLines(string(out), 10))
	}
	if n := connections(); n != 0 {
		t.Errorf("%d connections reached the forbidden cluster", n)
	}
	t.Logf("refused in %s", time.Since(start).Round(time.Millisecond))
}
