//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/go-cmp/cmp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	"github.com/slipway-dev/slipway/internal/dev"
	"github.com/slipway-dev/slipway/internal/devui"
)

// uiPort is the dev loop's UI port in these tests: it follows the port offset.
func uiPort() int { return 18450 + e2ePortOffset() }

// artifactsDir is where the UI tests save their screenshots
// (SLIPWAY_E2E_ARTIFACTS, else a folder of this run's instance).
func artifactsDir(t *testing.T) string {
	dir := os.Getenv("SLIPWAY_E2E_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "slipway-"+e2eID(), "artifacts")
	}
	dir = filepath.Join(dir, "ui")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// chromiumPath finds Debian's chromium, installing the package when it is
// missing and we can (root, apt-get), as the cluster does with docker-registry.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	apt, err := exec.LookPath("apt-get")
	if err != nil || os.Geteuid() != 0 {
		t.Fatal("chromium is not installed (install it with: apt-get install -y chromium)")
	}
	t.Log("installing chromium with apt-get")
	for _, args := range [][]string{{"install", "-y", "chromium"}, {"update"}, {"install", "-y", "chromium"}} {
		cmd := exec.Command(apt, args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		if out, err := cmd.CombinedOutput(); err != nil && args[0] != "install" {
			t.Fatalf("apt-get %s: %v\n%s", args[0], err, tailLines(string(out), 20))
		}
		if p, err := exec.LookPath("chromium"); err == nil {
			return p
		}
	}
	t.Fatal("apt-get install -y chromium did not install chromium")
	return ""
}

// browser is a headless Chromium tab.
type browser struct {
	t   *testing.T
	ctx context.Context
	dir string
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromiumPath(t)), chromedp.NoSandbox,
		chromedp.WindowSize(1500, 900), chromedp.Flag("disable-dev-shm-usage", true))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	return &browser{t: t, ctx: ctx, dir: artifactsDir(t)}
}

func (b *browser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, steps...); err != nil {
		b.shot("failed-" + regexp.MustCompile(`\W+`).ReplaceAllString(b.t.Name(), "-"))
		b.t.Fatalf("%s: %v", what, err)
	}
}

// waitFor polls a JavaScript expression until it is truthy.
func (b *browser) waitFor(expr string, timeout time.Duration) {
	b.t.Helper()
	b.do("waiting for "+expr, chromedp.Action[chromedp.Void](func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		_, err := chromedp.Poll[any](expr, chromedp.WithPollingTimeout(timeout))(ctx, t)
		return chromedp.Void{}, err
	}))
}

func eval[T any](b *browser, expr string) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.t.Fatalf("evaluating %s: %v", expr, err)
	}
	return v
}

// click clicks the element a CSS selector finds.
func (b *browser) click(selector string) {
	b.t.Helper()
	b.waitFor(fmt.Sprintf(`document.querySelector(%q)`, selector), time.Minute)
	eval[any](b, fmt.Sprintf(`document.querySelector(%q).click()`, selector))
}

func (b *browser) shot(name string) {
	b.t.Helper()
	buf, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100)) // 100: PNG
	if err != nil {
		b.t.Errorf("screenshot %s: %v", name, err)
		return
	}
	path := filepath.Join(b.dir, name+".png")
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		b.t.Error(err)
	}
	b.t.Logf("screenshot: %s", path)
}

func row(target string) string { return fmt.Sprintf(`tr.res[data-target=%q]`, target) }

// slipwayBinary builds the slipway command for the API tests.
func slipwayBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "slipway")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/slipway")
	cmd.Dir = repoRoot(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func runSlipway(t *testing.T, bin string, args ...string) (string, string, error) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Env = append(os.Environ(), "BUILD_WORKSPACE_DIRECTORY=")
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}

const (
	catalog = "//examples/shop/catalog:deploy"
	orders  = "//examples/shop/orders:deploy"
)

// uiWorkspace is the shop with a custom button on its dev rule.
func uiWorkspace(t *testing.T) *workspace {
	w := newWorkspace(t, "examples/shop")
	w.copyFromRepo("examples/shop", "examples/shop")
	w.edit("examples/shop/BUILD.bazel", shopDevTargets,
		shopDevTargets+`
    buttons = {"hello": "//examples/shop/tools:hello"},`)
	w.write("examples/shop/tools/BUILD.bazel", "sh_binary(\n    name = \"hello\",\n    srcs = [\"hello.sh\"],\n)\n")
	w.write("examples/shop/tools/hello.sh", "#!/bin/sh\necho \"hello from the shop's button\"\n")
	if err := os.Chmod(w.path("examples/shop/tools/hello.sh"), 0o755); err != nil {
		t.Fatal(err)
	}
	return w
}

func TestDevUI(t *testing.T) {
	cs := clientset(t, sharedCluster(t))
	ctx := context.Background()
	w := uiWorkspace(t)
	user := fmt.Sprintf("e2eui%d", time.Now().UnixNano()%1_000_000)
	ns := "shop-" + user
	defer cs.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{})

	d := startDev(t, w, []string{"USER=" + user}, fmt.Sprintf("--ui-port=%d", uiPort()))
	d.waitReady(20 * time.Minute)
	url := fmt.Sprintf("http://127.0.0.1:%d/", uiPort())
	if !strings.Contains(d.stderr.String(), "slipway dev: UI at "+url) {
		t.Errorf("the loop did not print its UI address %s:\n%s", url, tailLines(d.stderr.String(), 20))
	}
	b := newBrowser(t)

	t.Run("the list shows the shop's deployables", func(t *testing.T) {
		b.t = t
		start := time.Now()
		b.do("opening the UI", chromedp.Navigate(url))
		b.waitFor(`document.querySelectorAll('tr.res').length === 4`, time.Minute)
		t.Logf("list rendered %s after navigation", time.Since(start).Round(time.Millisecond))
		got := eval[[]string](b, `[...document.querySelectorAll('tr.res')].map(r => r.dataset.target + ' ' + r.querySelector('.state').textContent)`)
		want := []string{"//examples/shop/catalog:deploy ready", "//examples/shop/frontend:deploy ready", "//examples/shop/orders:deploy ready", "//examples/shop/worker:deploy ready"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("rows (-want +got):\n%s", diff)
		}
		b.shot("1-list")
	})

	t.Run("an edit shows a new cycle", func(t *testing.T) {
		b.t = t
		w.edit("examples/shop/catalog/main.go", `"catalog-v1"`, `"catalog-v2"`)
		c := d.next()
		if c.Outcome != dev.OK {
			t.Fatalf("cycle %d: %s %v", c.N, c.Outcome, c.Errors)
		}
		b.waitFor(fmt.Sprintf(`document.querySelector('#cycles li[data-n="%d"][data-outcome="ok"]')`, c.N), 30*time.Second)
		if got := eval[string](b, fmt.Sprintf(`document.querySelector('#cycles li[data-n="%d"]').textContent`, c.N)); !strings.Contains(got, catalog) {
			t.Errorf("cycle %d shows %q, want the catalog in it", c.N, got)
		}
		b.shot("2-cycle")
	})

	t.Run("the applied YAML matches the cluster's object", func(t *testing.T) {
		b.t = t
		b.click(row(catalog) + " td.target")
		b.click("#tab-yaml")
		sel := fmt.Sprintf(`#view-yaml .object[data-ref="Deployment/%s/catalog"] pre.yaml`, ns)
		b.waitFor(fmt.Sprintf(`document.querySelector(%q)`, sel), 30*time.Second)
		var shown map[string]any
		if err := yaml.Unmarshal([]byte(eval[string](b, fmt.Sprintf(`document.querySelector(%q).textContent`, sel))), &shown); err != nil {
			t.Fatal(err)
		}
		live, err := cs.AppsV1().Deployments(ns).Get(ctx, "catalog", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(live)
		if err != nil {
			t.Fatal(err)
		}
		js, _ := json.Marshal(u)
		var cluster map[string]any
		_ = json.Unmarshal(js, &cluster)
		if diff := cmp.Diff(cluster["spec"], shown["spec"]); diff != "" {
			t.Errorf("applied spec differs from the cluster's (-cluster +shown):\n%s", diff)
		}
		meta := func(m map[string]any) any {
			md := m["metadata"].(map[string]any)
			return []any{md["name"], md["namespace"], md["labels"]}
		}
		if diff := cmp.Diff(meta(cluster), meta(shown)); diff != "" {
			t.Errorf("metadata differs (-cluster +shown):\n%s", diff)
		}
		b.shot("3-applied-yaml")
	})

	t.Run("a compile error shows in its pane with file:line", func(t *testing.T) {
		b.t = t
		good := w.read("examples/shop/orders/main.go")
		w.write("examples/shop/orders/main.go", good+"\nfunc broken() int { return \"not an int\" }\n")
		if c := d.next(); c.Outcome != dev.BuildFailed {
			t.Fatalf("cycle %d: %s, want build-failed", c.N, c.Outcome)
		}
		b.click(row(orders) + " td.target")
		b.click("#tab-log")
		b.waitFor(`[...document.querySelectorAll('#log .fileline')].some(e => e.textContent.includes('orders/main.go:'))`, 30*time.Second)
		fl := eval[string](b, `[...document.querySelectorAll('#log .fileline')].find(e => e.textContent.includes('orders/main.go:')).textContent`)
		if !regexp.MustCompile(`orders/main\.go:\d+(:\d+)?$`).MatchString(fl) {
			t.Errorf("file:line shown as %q", fl)
		}
		if got := eval[string](b, fmt.Sprintf(`document.querySelector('%s .state').textContent`, row(orders))); got != "failed" {
			t.Errorf("orders shows %q, want failed", got)
		}
		b.shot("4-compile-error")
		w.write("examples/shop/orders/main.go", good)
		if c := d.next(); c.Outcome != dev.OK {
			t.Fatalf("after the fix, cycle %d: %s %v", c.N, c.Outcome, c.Errors)
		}
	})

	t.Run("disable deletes the Deployment and enable restores it", func(t *testing.T) {
		b.t = t
		b.click(row(orders) + " button.toggle")
		d.next()
		if err := poll(ctx, time.Minute, func() (bool, error) {
			_, err := cs.AppsV1().Deployments(ns).Get(ctx, "orders", metav1.GetOptions{})
			return apierrors.IsNotFound(err), err
		}); err != nil {
			t.Fatalf("the orders Deployment is still there after disable: %v", err)
		}
		b.waitFor(fmt.Sprintf(`document.querySelector('%s .state').textContent === 'disabled'`, row(orders)), 30*time.Second)
		b.shot("5-disabled")
		b.click(row(orders) + " button.toggle")
		if c := d.next(); c.Outcome != dev.OK {
			t.Fatalf("enable: cycle %d: %s %v", c.N, c.Outcome, c.Errors)
		}
		if _, err := cs.AppsV1().Deployments(ns).Get(ctx, "orders", metav1.GetOptions{}); err != nil {
			t.Fatalf("the orders Deployment after enable: %v", err)
		}
		b.waitFor(fmt.Sprintf(`document.querySelector('%s .state').textContent === 'ready'`, row(orders)), 30*time.Second)
	})

	t.Run("a custom button runs its target and shows its output", func(t *testing.T) {
		b.t = t
		b.click(`#buttons button[data-button="hello"]`)
		b.waitFor(`document.querySelector('#buttons span[data-button="hello"]').dataset.exit !== ''`, 5*time.Minute)
		if got := eval[string](b, `document.querySelector('#buttons span[data-button="hello"]').dataset.exit`); got != "0" {
			t.Errorf("the button exited %s", got)
		}
		b.waitFor(`document.querySelector('#log').textContent.includes("hello from the shop's button")`, 10*time.Second)
		b.shot("6-button")
	})

	t.Run("slipway get and wait ask the running loop", func(t *testing.T) {
		testLoopAPI(t, w, d)
	})
}

// testLoopAPI checks slipway get, wait and dev against the loop running in w.
func testLoopAPI(t *testing.T, w *workspace, d *devLoop) {
	bin := slipwayBinary(t)
	out, stderr, err := runSlipway(t, bin, "wait", "--for=ready", "--timeout=3m", "--workspace="+w.dir)
	if err != nil || strings.TrimSpace(out) != "ready" {
		t.Fatalf("slipway wait: %v %q %s", err, out, stderr)
	}
	out, stderr, err = runSlipway(t, bin, "get", "deployables", "-o", "json", "--workspace="+w.dir)
	if err != nil {
		t.Fatalf("slipway get: %v %s", err, stderr)
	}
	var rs []devui.Resource
	if err := json.Unmarshal([]byte(out), &rs); err != nil {
		t.Fatalf("slipway get -o json: %v\n%s", err, out)
	}
	var got []string
	for _, r := range rs {
		got = append(got, r.Target+" "+r.State)
	}
	want := []string{"//examples/shop/catalog:deploy ready", "//examples/shop/frontend:deploy ready", "//examples/shop/orders:deploy ready", "//examples/shop/worker:deploy ready"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("slipway get (-want +got):\n%s", diff)
	}
	out, _, err = runSlipway(t, bin, "get", "cycles", "-o", "json", "--workspace="+w.dir)
	var cycles []devui.CycleSummary
	if err != nil || json.Unmarshal([]byte(out), &cycles) != nil || len(cycles) < 5 {
		t.Errorf("slipway get cycles: %v, %d cycles", err, len(cycles))
	}
	_, stderr, err = runSlipway(t, bin, "dev", "--workspace="+w.dir, "--target=//examples/shop/...")
	if err == nil || !strings.Contains(stderr, "runs in workspace "+w.dir+" already") || !strings.Contains(stderr, fmt.Sprintf("UI at http://127.0.0.1:%d/", uiPort())) {
		t.Errorf("a second loop: %v\n%s", err, stderr)
	}
	_, stderr, err = runSlipway(t, bin, "get", "--workspace="+t.TempDir())
	if err == nil || !strings.Contains(stderr, "no slipway dev loop runs in workspace") {
		t.Errorf("get with no loop: %v %s", err, stderr)
	}
}
