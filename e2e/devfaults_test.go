//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/slipway-dev/slipway/internal/dev"
)

// TestDevLoopFaults keeps the dev loop running on the shop while the world
// misbehaves around it (issue 15): a process writing to a file in a package,
// a package folder renamed, objects deleted behind its back, a field taken over
// by another field manager, an invalid object.
func TestDevLoopFaults(t *testing.T) {
	cl := sharedCluster(t)
	cs := clientset(t, cl)
	ctx := context.Background()
	w := newWorkspace(t, "examples/shop")
	w.copyFromRepo("examples/shop", "examples/shop")
	user := fmt.Sprintf("e2ef%d", time.Now().UnixNano()%1_000_000)
	ns := "shop-" + user
	defer cs.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{})

	// A debounce of 1s: the writer below writes every 50ms, so on a loaded machine
	// too its writes would never leave a quiet second if they counted.
	d := startDev(t, w, []string{"USER=" + user}, "--debounce=1s")
	d.waitReady(20 * time.Minute)

	t.Run("a writer to a log in a package does not starve an edit", func(t *testing.T) {
		d := d.in(t)
		stop := make(chan struct{})
		done := make(chan struct{})
		logPath := w.path("examples/shop/catalog/app.log")
		go func() { // appends every 50ms for as long as the subtest runs
			defer close(done)
			f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
			if err != nil {
				t.Error(err)
				return
			}
			defer f.Close()
			tick := time.NewTicker(50 * time.Millisecond)
			defer tick.Stop()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				case <-tick.C:
					fmt.Fprintf(f, "line %d\n", i)
				}
			}
		}()
		defer func() { close(stop); <-done }()
		w.edit("examples/shop/catalog/main.go", `"catalog-v1"`, `"catalog-v2"`)
		c := d.nextWith("examples/shop/catalog/main.go", 5*time.Minute)
		if c.Outcome != dev.OK || strings.Join(c.Affected, ",") != "//examples/shop/catalog:deploy" {
			t.Errorf("cycle %s affected %v %v, want catalog deployed while the writer goes on", c.Outcome, c.Affected, c.Errors)
		}
	})

	t.Run("objects deleted behind the loop's back come back", func(t *testing.T) {
		d := d.in(t)
		svc, err := cs.CoreV1().Services(ns).Get(ctx, "catalog", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if err := cs.CoreV1().Services(ns).Delete(ctx, "catalog", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		c := d.next()
		if c.Outcome != dev.OK || strings.Join(c.Affected, ",") != "//examples/shop/catalog:deploy" {
			t.Fatalf("cycle %s affected %v %v, want catalog redeployed", c.Outcome, c.Affected, c.Errors)
		}
		again, err := cs.CoreV1().Services(ns).Get(ctx, "catalog", metav1.GetOptions{})
		if err != nil || again.UID == svc.UID {
			t.Errorf("the Service is not back as a new object: %v", err)
		}
	})

	t.Run("an invalid object fails its target without retries, and its fix deploys", func(t *testing.T) {
		d := d.in(t)
		good := w.read("examples/shop/catalog/deploy.yaml")
		w.edit("examples/shop/catalog/deploy.yaml", "          readinessProbe:", "          resources:\n            limits: {memory: 128Mb}\n          readinessProbe:")
		c := d.next()
		if c.Outcome != dev.DeployFail || !strings.Contains(strings.Join(c.Errors, "\n"), "Deployment "+ns+"/catalog") {
			t.Fatalf("cycle %s %v, want deploy-failed naming the Deployment", c.Outcome, c.Errors)
		}
		if st := stateOf(c, "//examples/shop/catalog:deploy"); st.State != dev.StateFailed {
			t.Errorf("catalog is %+v, want failed", st)
		}
		w.write("examples/shop/catalog/deploy.yaml", good)
		c = d.next() // not a retry: the fix
		if c.Outcome != dev.OK || !strings.Contains(strings.Join(c.Files, ","), "catalog/deploy.yaml") {
			t.Errorf("after the fix: %s %v %v", c.Outcome, c.Files, c.Errors)
		}
	})

	t.Run("a renamed package folder is followed", func(t *testing.T) {
		d := d.in(t)
		if err := os.Rename(w.path("examples/shop/worker"), w.path("examples/shop/reports")); err != nil {
			t.Fatal(err)
		}
		c := d.next()
		if c.Outcome != dev.OK || !strings.Contains(strings.Join(c.Affected, ","), "//examples/shop/reports:deploy") {
			t.Fatalf("cycle %s affected %v %v, want the renamed package deployed", c.Outcome, c.Affected, c.Errors)
		}
		for i := 0; i < 3; i++ { // later edits in the renamed folder are seen, every time
			w.edit("examples/shop/reports/main.go", fmt.Sprintf(`"worker-v%d"`, i+1), fmt.Sprintf(`"worker-v%d"`, i+2))
			c := d.nextWith("examples/shop/reports/main.go", 5*time.Minute)
			if c.Outcome != dev.OK || strings.Join(c.Affected, ",") != "//examples/shop/reports:deploy" {
				t.Fatalf("edit %d: %s affected %v %v", i, c.Outcome, c.Affected, c.Errors)
			}
		}
	})

	t.Run("a deleted package folder is removed from the cluster", func(t *testing.T) {
		d := d.in(t)
		if err := os.RemoveAll(w.path("examples/shop/reports")); err != nil {
			t.Fatal(err)
		}
		c := d.next()
		if c.Outcome != dev.OK {
			t.Fatalf("cycle %s %v", c.Outcome, c.Errors)
		}
		if _, err := cs.BatchV1().CronJobs(ns).Get(ctx, "worker", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("the worker CronJob is still there (%v)", err)
		}
	})
	t.Run("reverting after a conflict does not report a stale OK", func(t *testing.T) {
		d := d.in(t)
		// Another field manager takes CACHE_MAX_AGE over.
		patch := `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"catalog-config"},"data":{"CACHE_MAX_AGE":"99"}}`
		force := true
		if _, err := cs.CoreV1().ConfigMaps(ns).Patch(ctx, "catalog-config", types.ApplyPatchType, []byte(patch),
			metav1.PatchOptions{FieldManager: "someone-else", Force: &force}); err != nil {
			t.Fatal(err)
		}
		w.edit("examples/shop/catalog/deploy.yaml", `CACHE_MAX_AGE: "30"`, `CACHE_MAX_AGE: "31"`)
		c := d.next()
		if c.Outcome != dev.DeployFail || !strings.Contains(strings.Join(c.Errors, "\n"), "conflict") {
			t.Fatalf("cycle %s %v, want a conflict", c.Outcome, c.Errors)
		}
		w.edit("examples/shop/catalog/deploy.yaml", `CACHE_MAX_AGE: "31"`, `CACHE_MAX_AGE: "30"`) // as last deployed
		c = d.next()
		if c.Outcome == dev.OK {
			live, _ := cs.CoreV1().ConfigMaps(ns).Get(ctx, "catalog-config", metav1.GetOptions{})
			t.Errorf("the revert reported ok while the cluster has CACHE_MAX_AGE=%s", live.Data["CACHE_MAX_AGE"])
		}
	})

	d.stop()

	t.Run("--force-conflicts takes the field over", func(t *testing.T) {
		d := startDev(t, w, []string{"USER=" + user}, "--force-conflicts")
		d.waitReady(10 * time.Minute)
		live, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, "catalog-config", metav1.GetOptions{})
		if err != nil || live.Data["CACHE_MAX_AGE"] != "30" {
			t.Errorf("CACHE_MAX_AGE %q (%v), want 30 after --force-conflicts", live.Data["CACHE_MAX_AGE"], err)
		}
	})
}

// in is the loop as seen from a subtest: failures are reported on t.
func (d *devLoop) in(t *testing.T) *devLoop {
	c := *d
	c.t = t
	return &c
}

// nextWith returns the next cycle whose files include path.
func (d *devLoop) nextWith(path string, timeout time.Duration) dev.Cycle {
	d.t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		c := d.next()
		for _, f := range c.Files {
			if f == path {
				return c
			}
		}
	}
	d.t.Fatalf("no cycle with %s within %s", path, timeout)
	return dev.Cycle{}
}

func stateOf(c dev.Cycle, target string) dev.Deployable {
	for _, d := range c.Deployables {
		if d.Target == target {
			return d
		}
	}
	return dev.Deployable{}
}
