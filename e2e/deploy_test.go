//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/slipway-dev/slipway/internal/deploy"
	"github.com/slipway-dev/slipway/internal/kube"
)

const deploytestBuild = `load("@rules_go//go:def.bzl", "go_binary")
load("@slipway//rules:defs.bzl", "image", "manifests")

go_binary(
    name = "a",
    srcs = ["a.go"],
)

go_binary(
    name = "b",
    srcs = ["b.go"],
)

image(
    name = "image_a",
    binary = ":a",
)

image(
    name = "image_b",
    binary = ":b",
)

manifests(
    name = "deploy",
    srcs = ["deploy.yaml"],
    images = {
        "a": ":image_a",
        "b": ":image_b",
    },
    labels = {"app.kubernetes.io/part-of": "deploytest"},
    namespace = "deploytest",
)

manifests(
    name = "unknown_kind",
    srcs = ["unknown.yaml"],
)

manifests(
    name = "bad_yaml",
    srcs = ["bad.yaml"],
)
`

func deployment(name string, replicas int) string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: %[1]s
spec:
  replicas: %[2]d
  selector:
    matchLabels: {app: %[1]s}
  template:
    metadata:
      labels: {app: %[1]s}
    spec:
      containers:
        - name: %[1]s
          image: %[1]s
`, name, replicas)
}

func configMap(name, value string) string {
	return fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\ndata:\n  value: %q\n", name, value)
}

func docs(parts ...string) string { return strings.Join(parts, "---\n") }

// deployRun runs a manifests run target against the shared cluster.
func deployRun(w *workspace, target string, args ...string) (string, string, error) {
	c := sharedCluster(w.t)
	all := append([]string{"run", "--ui_event_filters=-info,-stdout,-stderr", "--noshow_progress", target, "--",
		"--kubeconfig=" + c.Kubeconfig, "--context=" + c.Context}, args...)
	return w.bazel(all...)
}

func applyJSON(t *testing.T, w *workspace, args ...string) *deploy.Report {
	t.Helper()
	out, stderr, err := deployRun(w, "//deploytest:deploy.apply", append([]string{"--json", "--timeout=60s"}, args...)...)
	if err != nil {
		t.Fatalf("apply: %v\n%s\n%s", err, out, tailLines(stderr, 20))
	}
	var r deploy.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("apply printed %q: %v", out, err)
	}
	return &r
}

func actions(r *deploy.Report) map[string]string {
	out := map[string]string{}
	for _, c := range append(append([]kube.Change{}, r.Changes...), r.Pruned...) {
		out[c.Ref.Kind+"/"+c.Ref.Name] = string(c.Action)
	}
	return out
}

// resourceVersions returns the resourceVersion of each named object (kind/name).
func resourceVersions(t *testing.T, cs kubernetes.Interface, ns string, objects ...string) map[string]string {
	t.Helper()
	out := map[string]string{}
	ctx := context.Background()
	for _, o := range objects {
		kind, name, _ := strings.Cut(o, "/")
		var m metav1.Object
		var err error
		switch kind {
		case "Deployment":
			m, err = cs.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		case "ConfigMap":
			m, err = cs.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
		case "Secret":
			m, err = cs.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
		case "Service":
			m, err = cs.CoreV1().Services(ns).Get(ctx, name, metav1.GetOptions{})
		default:
			t.Fatalf("resourceVersions: kind %s not handled", kind)
		}
		if err != nil {
			t.Fatalf("%s: %v", o, err)
		}
		out[o] = m.GetResourceVersion()
	}
	return out
}

func TestDeployApplyDiffPruneDelete(t *testing.T) {
	cl := sharedCluster(t)
	cs := clientset(t, cl)
	ctx := context.Background()
	w := newWorkspace(t, "deploytest")
	w.write("deploytest/BUILD.bazel", deploytestBuild)
	w.write("deploytest/a.go", goMain("a-v1"))
	w.write("deploytest/b.go", goMain("b-v1"))
	w.write("deploytest/deploy.yaml", docs(deployment("a", 1), deployment("b", 1), configMap("cfg", "1"), configMap("cfg2", "1")))
	w.write("deploytest/unknown.yaml", "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n")
	w.write("deploytest/bad.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n data: oops\n")

	// A namespace of this run's own, created beforehand: not ours to delete.
	ns := fmt.Sprintf("deploytest-%d", time.Now().UnixNano())
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	defer cs.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{})
	nsFlag := "--namespace=" + ns
	all := []string{"Deployment/a", "Deployment/b", "ConfigMap/cfg", "ConfigMap/cfg2"}

	t.Run("apply creates the objects", func(t *testing.T) {
		r := applyJSON(t, w, nsFlag)
		want := map[string]string{"Deployment/a": "created", "Deployment/b": "created", "ConfigMap/cfg": "created", "ConfigMap/cfg2": "created"}
		if fmt.Sprint(actions(r)) != fmt.Sprint(want) {
			t.Errorf("actions %v, want %v", actions(r), want)
		}
		resourceVersions(t, cs, ns, all...) // all exist
		d, _ := cs.AppsV1().Deployments(ns).Get(ctx, "a", metav1.GetOptions{})
		if img := d.Spec.Template.Spec.Containers[0].Image; !strings.HasPrefix(img, cl.RegistryHost+"/deploytest/image_a@sha256:") {
			t.Errorf("Deployment a runs %s, want the image by digest from %s", img, cl.RegistryHost)
		}
		if d.Labels[kube.InventoryLabel] == "" || d.Labels["app.kubernetes.io/part-of"] != "deploytest" {
			t.Errorf("Deployment a labels %v lack the inventory or common label", d.Labels)
		}
	})

	t.Run("applying again writes nothing", func(t *testing.T) {
		before := resourceVersions(t, cs, ns, all...)
		r := applyJSON(t, w, nsFlag)
		if r.Requests.Writes != 0 {
			t.Errorf("a no-op apply made %d writes (%+v)", r.Requests.Writes, r.Requests)
		}
		if after := resourceVersions(t, cs, ns, all...); fmt.Sprint(before) != fmt.Sprint(after) {
			t.Errorf("resourceVersions changed: %v -> %v", before, after)
		}
		t.Logf("no-op apply: %+v", r.Requests)
		if out, _, err := deployRun(w, "//deploytest:deploy.diff", nsFlag); err != nil || out != "" {
			t.Errorf("diff right after apply: %v, printed %q; want nothing", err, out)
		}
	})

	t.Run("changing one image changes only the objects that use it", func(t *testing.T) {
		w.edit("deploytest/a.go", `"a-v1"`, `"a-v2"`)
		before := resourceVersions(t, cs, ns, all...)
		r := applyJSON(t, w, nsFlag)
		want := map[string]string{"Deployment/a": "configured", "Deployment/b": "unchanged", "ConfigMap/cfg": "unchanged", "ConfigMap/cfg2": "unchanged"}
		if fmt.Sprint(actions(r)) != fmt.Sprint(want) {
			t.Errorf("actions %v, want %v", actions(r), want)
		}
		after := resourceVersions(t, cs, ns, all...)
		for _, o := range all[1:] {
			if before[o] != after[o] {
				t.Errorf("%s changed (resourceVersion %s -> %s)", o, before[o], after[o])
			}
		}
		if r.Requests.Writes != 1 {
			t.Errorf("%d writes, want 1 (the Deployment)", r.Requests.Writes)
		}
		t.Logf("one-image apply: %+v", r.Requests)
	})

	t.Run("diff shows a pending change", func(t *testing.T) {
		w.write("deploytest/deploy.yaml", docs(deployment("a", 1), deployment("b", 1), configMap("cfg", "2"), configMap("cfg2", "1")))
		out, _, err := deployRun(w, "//deploytest:deploy.diff", nsFlag)
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 1 || !strings.Contains(out, "+++ desired/ConfigMap "+ns+"/cfg") || !strings.Contains(out, `+  value: "2"`) {
			t.Errorf("diff: %v (want exit code 1: there are differences)\n%s", err, out)
		}
		applyJSON(t, w, nsFlag)
	})

	t.Run("an object removed from the YAML is pruned; foreign objects are not", func(t *testing.T) {
		foreign := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "foreign", Namespace: ns,
			Labels: map[string]string{"app.kubernetes.io/part-of": "deploytest"}}}
		if _, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, foreign, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		// cfg2 is replaced by someone else's object of the same name, without our mark.
		if err := cs.CoreV1().ConfigMaps(ns).Delete(ctx, "cfg2", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		theirs := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cfg2", Namespace: ns,
			Labels: map[string]string{"app.kubernetes.io/part-of": "deploytest"}}, Data: map[string]string{"value": "theirs"}}
		if _, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, theirs, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		w.write("deploytest/deploy.yaml", docs(deployment("a", 1), deployment("b", 1)))
		r := applyJSON(t, w, nsFlag)
		if got := actions(r); got["ConfigMap/cfg"] != "deleted" || got["ConfigMap/cfg2"] != "skipped" {
			t.Errorf("actions %v: want cfg deleted, cfg2 (no longer ours) skipped", got)
		}
		if _, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, "cfg", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("cfg still exists (%v)", err)
		}
		for _, name := range []string{"foreign", "cfg2"} {
			if _, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{}); err != nil {
				t.Errorf("ConfigMap %s (not ours) was deleted: %v", name, err)
			}
		}
	})

	t.Run("a conflicting field manager is reported, not overwritten", func(t *testing.T) {
		patch := []byte(`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"b"},"spec":{"replicas":3}}`)
		if _, err := cs.AppsV1().Deployments(ns).Patch(ctx, "b", types.ApplyPatchType, patch,
			metav1.PatchOptions{FieldManager: "intruder", Force: ptr(true)}); err != nil {
			t.Fatal(err)
		}
		w.write("deploytest/deploy.yaml", docs(deployment("a", 1), deployment("b", 2)))
		_, stderr, err := deployRun(w, "//deploytest:deploy.apply", nsFlag, "--timeout=0")
		if err == nil || !strings.Contains(stderr, "Deployment "+ns+"/b: conflict") || !strings.Contains(stderr, "intruder") || !strings.Contains(stderr, ".spec.replicas") {
			t.Errorf("apply over a conflict: %v\n%s", err, tailLines(stderr, 10))
		}
		if d, _ := cs.AppsV1().Deployments(ns).Get(ctx, "b", metav1.GetOptions{}); *d.Spec.Replicas != 3 {
			t.Errorf("replicas = %d after a refused apply, want the intruder's 3", *d.Spec.Replicas)
		}
		applyJSON(t, w, nsFlag, "--force-conflicts")
		if d, _ := cs.AppsV1().Deployments(ns).Get(ctx, "b", metav1.GetOptions{}); *d.Spec.Replicas != 2 {
			t.Errorf("replicas = %d after --force-conflicts, want 2", *d.Spec.Replicas)
		}
	})

	t.Run("bad YAML fails the build with file and line", func(t *testing.T) {
		_, stderr, err := w.bazel("build", "//deploytest:bad_yaml")
		if err == nil || !strings.Contains(stderr, "deploytest/bad.yaml:5:2: ") {
			t.Errorf("build of bad YAML: %v\n%s", err, tailLines(stderr, 10))
		}
	})

	t.Run("an unknown kind is a named error and nothing is applied", func(t *testing.T) {
		fresh := ns + "-unknown"
		_, stderr, err := deployRun(w, "//deploytest:unknown_kind.apply", "--namespace="+fresh)
		if err == nil || !strings.Contains(stderr, "Widget "+fresh+"/w: the cluster has no resource for kind Widget in example.com/v1") {
			t.Errorf("apply of an unknown kind: %v\n%s", err, tailLines(stderr, 10))
		}
		if _, err := cs.CoreV1().Namespaces().Get(ctx, fresh, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("namespace %s was created (%v): something was applied", fresh, err)
		}
	})

	t.Run("a forbidden context is refused before any request", func(t *testing.T) {
		prodConfig, connections := forbiddenKubeconfig(t)
		for _, cmd := range []string{"apply", "delete"} {
			_, stderr, err := w.bazel("run", "//deploytest:deploy."+cmd, "--", "--kubeconfig="+prodConfig, "--context=prod", nsFlag)
			if err == nil || !strings.Contains(stderr, `refusing to write to kubeconfig context "prod"`) {
				t.Errorf("%s to prod: %v\n%s", cmd, err, tailLines(stderr, 10))
			}
		}
		if n := connections(); n != 0 {
			t.Errorf("%d connections reached the forbidden cluster", n)
		}
	})

	t.Run("delete removes exactly the inventory", func(t *testing.T) {
		out, stderr, err := deployRun(w, "//deploytest:deploy.delete", nsFlag, "--json")
		if err != nil {
			t.Fatalf("delete: %v\n%s", err, tailLines(stderr, 10))
		}
		var r deploy.Report
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatal(err)
		}
		want := map[string]string{"Deployment/a": "deleted", "Deployment/b": "deleted"}
		if fmt.Sprint(actions(&r)) != fmt.Sprint(want) {
			t.Errorf("delete: %v, want %v", actions(&r), want)
		}
		cms, err := cs.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var left []string
		for _, cm := range cms.Items {
			left = append(left, cm.Name)
		}
		if got := strings.Join(left, ","); got != "cfg2,foreign,kube-root-ca.crt" {
			t.Errorf("ConfigMaps left: %s, want cfg2,foreign,kube-root-ca.crt (ours and the inventory gone)", got)
		}
		if _, err := cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); err != nil {
			t.Errorf("the namespace (created before, not ours) was deleted: %v", err)
		}
	})
}

// A namespace apply creates belongs to no target: delete leaves it, and
// delete --delete-namespace removes it once it is empty.
func TestDeployLeavesTheNamespaceItCreates(t *testing.T) {
	cl := sharedCluster(t)
	cs := clientset(t, cl)
	w := newWorkspace(t, "deploytest")
	w.write("deploytest/BUILD.bazel", deploytestBuild)
	w.write("deploytest/a.go", goMain("a-v1"))
	w.write("deploytest/b.go", goMain("b-v1"))
	w.write("deploytest/deploy.yaml", docs(configMap("cfg", "1")))
	w.write("deploytest/unknown.yaml", "")
	w.write("deploytest/bad.yaml", "")
	ns := fmt.Sprintf("deploytest-owned-%d", time.Now().UnixNano())
	applyJSON(t, w, "--namespace="+ns)
	got, err := cs.CoreV1().Namespaces().Get(context.Background(), ns, metav1.GetOptions{})
	if err != nil || got.Labels[kube.InventoryLabel] != "" || got.Labels[kube.ManagedByLabel] != kube.FieldManager {
		t.Fatalf("namespace %s: %v, labels %v; want it created, managed by slipway, in no inventory", ns, err, got.Labels)
	}
	if _, stderr, err := deployRun(w, "//deploytest:deploy.delete", "--namespace="+ns); err != nil {
		t.Fatalf("delete: %v\n%s", err, tailLines(stderr, 10))
	}
	if _, err := cs.CoreV1().Namespaces().Get(context.Background(), ns, metav1.GetOptions{}); err != nil {
		t.Fatalf("namespace %s deleted without --delete-namespace: %v", ns, err)
	}
	out, stderr, err := deployRun(w, "//deploytest:deploy.delete", "--namespace="+ns, "--delete-namespace", "--json")
	if err != nil {
		t.Fatalf("delete --delete-namespace: %v\n%s", err, tailLines(stderr, 10))
	}
	var r deploy.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(actions(&r)); got != "map[Namespace/"+ns+":deleted]" {
		t.Errorf("delete --delete-namespace did %s, want only the namespace deleted", got)
	}
	if got, err := cs.CoreV1().Namespaces().Get(context.Background(), ns, metav1.GetOptions{}); !apierrors.IsNotFound(err) && got.DeletionTimestamp == nil {
		t.Errorf("namespace %s still there after delete --delete-namespace (%v)", ns, err)
	}
}

func ptr[T any](v T) *T { return &v }

func conflictBuild(force bool) string {
	return fmt.Sprintf(`load("@slipway//rules:defs.bzl", "manifests")

manifests(
    name = "conflict",
    srcs = ["conflict.yaml"],
    force_conflicts = %s,
)
`, map[bool]string{true: "True", false: "False"}[force])
}

// After a conflict, reverting the YAML to what was last deployed still conflicts
// (the server's dry-run decides, not a recorded hash); a target's
// force_conflicts attribute takes the field over (issue 15 item 9).
func TestDeployConflictRevertAndForceAttribute(t *testing.T) {
	cl := sharedCluster(t)
	cs := clientset(t, cl)
	ctx := context.Background()
	w := newWorkspace(t, "conflict")
	ns := fmt.Sprintf("conflict-%d", time.Now().UnixNano()%1_000_000)
	defer cs.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{})
	nsFlag := "--namespace=" + ns
	w.write("conflict/BUILD.bazel", conflictBuild(false))
	w.write("conflict/conflict.yaml", configMap("c", "1"))
	if _, stderr, err := deployRun(w, "//conflict:conflict.apply", nsFlag); err != nil {
		t.Fatalf("apply: %v\n%s", err, tailLines(stderr, 20))
	}
	patch := []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"data":{"value":"99"}}`)
	if _, err := cs.CoreV1().ConfigMaps(ns).Patch(ctx, "c", types.ApplyPatchType, patch, metav1.PatchOptions{FieldManager: "intruder", Force: ptr(true)}); err != nil {
		t.Fatal(err)
	}
	for _, value := range []string{"2", "1"} { // a change, then the revert to what was deployed
		w.write("conflict/conflict.yaml", configMap("c", value))
		_, stderr, err := deployRun(w, "//conflict:conflict.apply", nsFlag)
		if err == nil || !strings.Contains(stderr, "ConfigMap "+ns+"/c: conflict") || !strings.Contains(stderr, "intruder") {
			t.Errorf("apply of value %s over the intruder's: %v, want a conflict\n%s", value, err, tailLines(stderr, 10))
		}
	}
	if c, _ := cs.CoreV1().ConfigMaps(ns).Get(ctx, "c", metav1.GetOptions{}); c.Data["value"] != "99" {
		t.Errorf("value %q after refused applies, want the intruder's 99", c.Data["value"])
	}
	w.write("conflict/BUILD.bazel", conflictBuild(true))
	if _, stderr, err := deployRun(w, "//conflict:conflict.apply", nsFlag); err != nil {
		t.Fatalf("apply with force_conflicts: %v\n%s", err, tailLines(stderr, 20))
	}
	if c, _ := cs.CoreV1().ConfigMaps(ns).Get(ctx, "c", metav1.GetOptions{}); c.Data["value"] != "1" {
		t.Errorf("value %q after force_conflicts, want 1", c.Data["value"])
	}
}
