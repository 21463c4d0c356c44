//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/slipway-dev/slipway/internal/dev"
)

// shopDevTargets is the shop's dev target pattern as Gazelle writes it.
const shopDevTargets = `    targets = ["//examples/shop/..."],`

// helmShopWorkspace is the shop, its dev loop narrowed to the two services whose
// objects come from a Helm chart (orders) and a Kustomize overlay (worker).
func helmShopWorkspace(t *testing.T) *workspace {
	w := newWorkspace(t, "examples/shop")
	w.copyFromRepo("examples/shop", "examples/shop")
	w.edit("examples/shop/BUILD.bazel", shopDevTargets,
		`    targets = ["//examples/shop/orders:deploy", "//examples/shop/worker:deploy"],`)
	return w
}

func TestHelmAndKustomizeInTheDevLoop(t *testing.T) {
	cl := sharedCluster(t)
	cs := clientset(t, cl)
	ctx := context.Background()
	w := helmShopWorkspace(t)
	user := fmt.Sprintf("helm%d", time.Now().UnixNano()%1_000_000)
	ns := "shop-" + user
	defer cs.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{})

	d := startDev(t, w, []string{"USER=" + user})
	d.waitReady(20 * time.Minute)

	t.Run("the chart and the overlay deploy and their services answer", func(t *testing.T) {
		for svc, kind := range map[string]string{"orders": "Deployment", "worker": "CronJob"} {
			img := deployedImage(t, cs, ns, kind, svc)
			if !strings.HasPrefix(img, cl.RegistryHost+"/examples/shop/"+svc+"@sha256:") {
				t.Errorf("%s %s runs %s, want its built image by digest", kind, svc, img)
			}
			var args []string
			if svc == "worker" {
				args = []string{"--serve-health"}
			}
			if got, want := runImage(t, img, args...), fmt.Sprintf("ok %s %s-v1\n", svc, svc); got != want {
				t.Errorf("%s image answers %q, want %q", svc, got, want)
			}
		}
		cj, err := cs.BatchV1().CronJobs(ns).Get(ctx, "worker", metav1.GetOptions{})
		if err != nil || cj.Spec.Schedule != "*/5 * * * *" {
			t.Errorf("worker CronJob: %v, schedule %q; want the dev overlay's */5 * * * *", err, cj.Spec.Schedule)
		}
		sec, err := cs.CoreV1().Secrets(ns).Get(ctx, "orders-db", metav1.GetOptions{})
		if err != nil || string(sec.Data["password"]) != "dev-password" {
			t.Errorf("orders-db Secret: %v, want the password from values-dev.yaml", err)
		}
	})

	untouched := []string{"Secret/orders-db", "Service/orders", "ConfigMap/worker-config"}
	t.Run("editing a values file changes only the objects it affects", func(t *testing.T) {
		before, versions := snapshot(t, cs, ns), resourceVersions(t, cs, ns, untouched...)
		w.edit("examples/shop/orders/values-dev.yaml", "dbPassword: dev-password\n", "dbPassword: dev-password\ncatalogURL: http://catalog.shop-"+user+"\n")
		c := d.next()
		if c.Outcome != dev.OK || strings.Join(c.Affected, ",") != "//examples/shop/orders:deploy" {
			t.Fatalf("cycle: %s, affected %v, errors %v", c.Outcome, c.Affected, c.Errors)
		}
		if got := changedObjects(before, snapshot(t, cs, ns)); strings.Join(got, ",") != "ConfigMap/orders-config" {
			t.Errorf("objects changed: %v, want the orders ConfigMap only", got)
		}
		if diff := resourceVersions(t, cs, ns, untouched...); fmt.Sprint(diff) != fmt.Sprint(versions) {
			t.Errorf("resourceVersions %v, want them unchanged: %v", diff, versions)
		}
		cm, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, "orders-config", metav1.GetOptions{})
		if err != nil || cm.Data["CATALOG_URL"] != "http://catalog.shop-"+user {
			t.Errorf("orders-config: %v, CATALOG_URL %q", err, cm.Data["CATALOG_URL"])
		}
	})

	t.Run("editing the overlay's patch changes only the CronJob", func(t *testing.T) {
		before := snapshot(t, cs, ns)
		w.edit("examples/shop/worker/k8s/overlays/dev/schedule.yaml", `"*/5 * * * *"`, `"*/7 * * * *"`)
		c := d.next()
		if c.Outcome != dev.OK || strings.Join(c.Affected, ",") != "//examples/shop/worker:deploy" {
			t.Fatalf("cycle: %s, affected %v, errors %v", c.Outcome, c.Affected, c.Errors)
		}
		if got := changedObjects(before, snapshot(t, cs, ns)); strings.Join(got, ",") != "CronJob/worker" {
			t.Errorf("objects changed: %v, want the worker CronJob only", got)
		}
	})

	t.Run("a template error is named with file and line, the last good deployment stays", func(t *testing.T) {
		before := snapshot(t, cs, ns)
		good := w.read("examples/shop/orders/chart/templates/configmap.yaml")
		w.write("examples/shop/orders/chart/templates/configmap.yaml", strings.Replace(good, "| quote }}", "| nosuchfunc }}", 1))
		c := d.next()
		errs := strings.Join(c.Errors, "\n")
		if c.Outcome != dev.BuildFailed || !strings.Contains(errs, "examples/shop/orders/chart/templates/configmap.yaml:6") || !strings.Contains(errs, `"nosuchfunc" not defined`) {
			t.Fatalf("cycle: %s, errors %q; want build-failed naming configmap.yaml:6 and nosuchfunc", c.Outcome, errs)
		}
		if got := changedObjects(before, snapshot(t, cs, ns)); len(got) != 0 {
			t.Errorf("a failed render changed %v", got)
		}
		w.write("examples/shop/orders/chart/templates/configmap.yaml", good)
		if c := d.next(); c.Outcome != dev.OK {
			t.Errorf("after the fix: %s, errors %v", c.Outcome, c.Errors)
		}
	})
}

func TestAffectedByAValuesFile(t *testing.T) {
	w := newWorkspace(t, "examples/shop")
	w.copyFromRepo("examples/shop", "examples/shop")
	if _, err := os.Stat(w.path(".git")); err != nil {
		w.git("init", "--quiet")
	}
	base := w.commit("shop")
	w.edit("examples/shop/orders/values-dev.yaml", "dbPassword: dev-password", "dbPassword: another-dev-password")
	w.commit("a values file")
	if got, want := summary(shopAffected(t, w, base)), "changed //examples/shop/orders:deploy images=0 objects=1"; got != want {
		t.Errorf("affected:\n got %q\nwant %q", got, want)
	}
}
