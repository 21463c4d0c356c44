//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/slipway-dev/slipway/internal/ci"
	"github.com/slipway-dev/slipway/internal/cli"
)

// shopCI runs //examples/shop:dev.ci as user (so in namespace shop-<user>).
func shopCI(t *testing.T, w *workspace, user string, args ...string) (*cli.CIReport, string, error) {
	t.Helper()
	cl := sharedCluster(t)
	cmd := w.bazelCommand(context.Background(), append([]string{"run", "--ui_event_filters=-info,-stdout,-stderr", "--noshow_progress",
		"//examples/shop:dev.ci", "--", "--json", "--timeout=60s", "--kubeconfig=" + cl.Kubeconfig, "--context=" + cl.Context}, args...)...)
	cmd.Env = append(os.Environ(), "USER="+user)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var r cli.CIReport
	if jerr := json.Unmarshal([]byte(stdout.String()), &r); jerr != nil {
		t.Fatalf("ci printed %q (%v):\n%s", stdout.String(), err, tailLines(stderr.String(), 30))
	}
	return &r, stderr.String(), err
}

func objectActions(r *cli.CIReport) map[string]string {
	out := map[string]string{}
	for _, t := range r.Targets {
		for _, c := range append(t.Changes, t.Pruned...) {
			out[c.Ref.Kind+"/"+c.Ref.Name] = string(c.Action)
		}
	}
	return out
}

func TestCIDeploysWhatChangedAndFailsOnCrashes(t *testing.T) {
	cl := sharedCluster(t)
	cs := clientset(t, cl)
	w := newWorkspace(t, "examples/shop")
	w.copyFromRepo("examples/shop", "examples/shop")
	user := fmt.Sprintf("ci%d", time.Now().UnixNano()%1_000_000)
	ns := "shop-" + user
	defer cs.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{})

	t.Run("the first run applies everything and waits until ready", func(t *testing.T) {
		r, stderr, err := shopCI(t, w, user)
		if err != nil {
			t.Fatalf("ci: %v\n%s", err, tailLines(stderr, 20))
		}
		got := objectActions(r)
		if len(got) != 12 {
			t.Errorf("%d objects, want the shop's 12: %v", len(got), got)
		}
		for o, a := range got {
			if a != "created" {
				t.Errorf("%s %s, want created", o, a)
			}
		}
		if len(r.Readiness) != 12 || len(r.Failures) != 0 {
			t.Errorf("readiness of %d objects, failures %v", len(r.Readiness), r.Failures)
		}
	})

	t.Run("the second run applies and pushes nothing", func(t *testing.T) {
		r, stderr, err := shopCI(t, w, user)
		if err != nil {
			t.Fatalf("ci: %v\n%s", err, tailLines(stderr, 20))
		}
		if r.Requests.Writes != 0 || r.Pushed.BlobsUploaded != 0 || r.Pushed.ManifestsPut != 0 || r.Pushed.BytesUploaded != 0 {
			t.Errorf("second run: %+v writes, pushed %+v; want nothing", r.Requests, r.Pushed)
		}
		t.Logf("second run: %+v; registry requests %d", r.Requests, r.Pushed.Requests)
	})

	t.Run("--dry-run says what would change and writes nothing", func(t *testing.T) {
		w.edit("examples/shop/catalog/main.go", `"catalog-v1"`, fmt.Sprintf(`"catalog-%s"`, user))
		before := snapshot(t, cs, ns)
		r, stderr, err := shopCI(t, w, user, "--dry-run")
		if err != nil {
			t.Fatalf("ci --dry-run: %v\n%s", err, tailLines(stderr, 20))
		}
		if len(r.WouldPush) != 1 || !strings.Contains(r.WouldPush[0], "/examples/shop/catalog@sha256:") {
			t.Errorf("would push %v, want the catalog image", r.WouldPush)
		}
		changed := map[string]string{}
		for o, a := range objectActions(r) {
			if a != "unchanged" {
				changed[o] = a
			}
		}
		if fmt.Sprint(changed) != "map[Deployment/catalog:configured]" {
			t.Errorf("would change %v, want the catalog Deployment only", changed)
		}
		if r.Requests.Writes != 0 {
			t.Errorf("a dry run made %d writes", r.Requests.Writes)
		}
		if got := changedObjects(before, snapshot(t, cs, ns)); len(got) != 0 {
			t.Errorf("a dry run changed %v", got)
		}
	})

	t.Run("a crashing service makes it fail with the reason", func(t *testing.T) {
		// A real crash on the real node: orders exits with status 3 as it starts.
		w.edit("examples/shop/orders/main.go", "\tdefer stop()\n\tcatalogURL", "\tdefer stop()\n\tif os.Getenv(\"ORDERS_E2E_NO_CRASH\") == \"\" {\n\t\tlog.Print(\"orders: e2e crash on purpose, exit 3\")\n\t\tos.Exit(3)\n\t}\n\tcatalogURL")
		r, _, err := shopCI(t, w, user)
		var exit *exec.ExitError
		if err == nil || !errors.As(err, &exit) || exit.ExitCode() != 1 {
			t.Fatalf("ci with a crashing service: %v, want exit status 1", err)
		}
		failures := strings.Join(r.Failures, "\n")
		if !strings.Contains(failures, "Deployment "+ns+"/orders not ready") || !strings.Contains(failures, "CrashLoopBackOff") ||
			!strings.Contains(failures, "(last exit code 3") || !strings.Contains(failures, "orders: e2e crash on purpose, exit 3") {
			t.Errorf("failures %q: want the orders Deployment named, with CrashLoopBackOff, exit code 3 and the container's last log line", failures)
		}
	})
}

// git runs git in the workspace.
func (w *workspace) git(args ...string) string {
	w.t.Helper()
	cmd := exec.Command("git", append([]string{"-C", w.dir, "-c", "user.name=e2e", "-c", "user.email=e2e@slipway.invalid"}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		w.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

func (w *workspace) commit(msg string) string {
	w.t.Helper()
	w.git("add", "-A")
	w.git("commit", "--quiet", "--allow-empty", "-m", msg)
	return w.git("rev-parse", "HEAD")
}

// affected runs //examples/shop:dev.affected against base (head: the workspace).
func shopAffected(t *testing.T, w *workspace, base string) []ci.Change {
	t.Helper()
	start := time.Now()
	out := w.mustBazel("run", "--ui_event_filters=-info,-stdout,-stderr", "--noshow_progress", "//examples/shop:dev.affected", "--", "--json", "--base="+base)
	var changes []ci.Change
	if err := json.Unmarshal([]byte(out), &changes); err != nil {
		t.Fatalf("affected printed %q: %v", out, err)
	}
	t.Logf("affected --base %s: %s", base[:12], time.Since(start).Round(time.Millisecond))
	return changes
}

func summary(changes []ci.Change) string {
	var parts []string
	for _, c := range changes {
		parts = append(parts, fmt.Sprintf("%s %s images=%d objects=%d", c.Status, c.Target, len(c.Images), len(c.Objects)))
	}
	return strings.Join(parts, "; ")
}

func TestAffectedBetweenCommits(t *testing.T) {
	w := newWorkspace(t, "examples/shop")
	w.copyFromRepo("examples/shop", "examples/shop")
	w.write("examples/shop/labels.bzl", "\"\"\"Labels the catalog's objects carry.\"\"\"\n\nCATALOG_LABELS = {\"team\": \"catalog\"}\n")
	w.edit("examples/shop/catalog/BUILD.bazel", `load("@slipway//rules:defs.bzl", "image", "manifests")`,
		"load(\"@slipway//rules:defs.bzl\", \"image\", \"manifests\")\nload(\"//examples/shop:labels.bzl\", \"CATALOG_LABELS\")")
	w.edit("examples/shop/catalog/BUILD.bazel", `labels = {"app.kubernetes.io/part-of": "shop"},`, `labels = {"app.kubernetes.io/part-of": "shop"} | CATALOG_LABELS,`)
	if _, err := os.Stat(w.path(".git")); err != nil {
		w.git("init", "--quiet")
	}
	base := w.commit("shop")

	tests := []struct {
		name   string
		change func()
		want   string
	}{
		{"a commit touching one service", func() {
			w.edit("examples/shop/catalog/main.go", `"catalog-v1"`, `"catalog-v2"`)
		}, "changed //examples/shop/catalog:deploy images=1 objects=1"},
		{"a shared library", func() {
			w.edit("examples/shop/lib/money/money.go", `"%s$%d.%02d"`, `"%sUSD %d.%02d"`)
		}, "changed //examples/shop/catalog:deploy images=1 objects=1; changed //examples/shop/orders:deploy images=1 objects=1"},
		{"a Go comment that moves no line", func() {
			w.edit("examples/shop/orders/main.go", "// version is what /healthz reports", "// version is the string /healthz reports")
		}, ""},
		{"a MODULE.bazel change no target depends on", func() {
			w.edit("MODULE.bazel", `bazel_dep(name = "rules_go", version = "0.59.0")`, "bazel_dep(name = \"rules_go\", version = \"0.59.0\")\nbazel_dep(name = \"platforms\", version = \"0.0.10\")")
		}, ""},
		{"a .bzl file, to the targets that load it", func() {
			w.edit("examples/shop/labels.bzl", `"team": "catalog"`, `"team": "catalog-and-search"`)
		}, "changed //examples/shop/catalog:deploy images=0 objects=3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.change()
			head := w.commit(tt.name)
			if got := summary(shopAffected(t, w, base)); got != tt.want {
				t.Errorf("affected:\n got %q\nwant %q", got, tt.want)
			}
			base = head
		})
	}
}
