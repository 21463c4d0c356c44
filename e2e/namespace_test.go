//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/slipway-dev/slipway/internal/deploy"
	"github.com/slipway-dev/slipway/internal/kube"
)

const nsshareBuild = `load("@slipway//rules:defs.bzl", "manifests")

manifests(
    name = "one",
    srcs = ["one.yaml"],
    namespace = "nsshare-{user}",
)

manifests(
    name = "two",
    srcs = ["two.yaml"],
    namespace = "nsshare-{user}",
)
`

// A namespace created implicitly (namespace = "...-{user}") belongs to no single
// target (issue 15 item 1): deleting one target leaves the other's objects and
// objects made by hand, and the namespace goes only when asked and empty.
func TestDeploySharedNamespaceSurvivesDelete(t *testing.T) {
	cl := sharedCluster(t)
	cs := clientset(t, cl)
	ctx := context.Background()
	user := fmt.Sprintf("nss%d", time.Now().UnixNano()%1_000_000)
	t.Setenv("USER", user) // bazel run passes it on: {user}
	ns := "nsshare-" + user
	defer cs.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{})
	w := newWorkspace(t, "nsshare")
	w.write("nsshare/BUILD.bazel", nsshareBuild)
	w.write("nsshare/one.yaml", configMap("one", "1"))
	w.write("nsshare/two.yaml", configMap("two", "2"))

	for _, target := range []string{"one", "two"} {
		if _, stderr, err := deployRun(w, "//nsshare:"+target+".apply", "--timeout=0"); err != nil {
			t.Fatalf("apply %s: %v\n%s", target, err, tailLines(stderr, 20))
		}
	}
	nsObj, err := cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("namespace %s: %v", ns, err)
	}
	if id := nsObj.Labels[kube.InventoryLabel]; id != "" {
		t.Errorf("namespace %s carries inventory %s: an implicit namespace belongs to no single target", ns, id)
	}
	byHand := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "by-hand", Namespace: ns}, Data: map[string]string{"k": "v"}}
	if _, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, byHand, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	out, stderr, err := deployRun(w, "//nsshare:one.delete", "--json")
	if err != nil {
		t.Fatalf("delete one: %v\n%s", err, tailLines(stderr, 20))
	}
	var r deploy.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("delete printed %q: %v", out, err)
	}
	if got := fmt.Sprint(actions(&r)); got != "map[ConfigMap/one:deleted]" {
		t.Errorf("delete one did %s, want only ConfigMap one deleted", got)
	}
	if _, err := cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); err != nil {
		t.Fatalf("namespace %s is gone after deleting one target: %v", ns, err)
	}
	for _, name := range []string{"two", "by-hand", "slipway-inventory-" + kube.InventoryID("//nsshare:two", ns)} {
		if _, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{}); err != nil {
			t.Errorf("ConfigMap %s (not target one's) is gone: %v", name, err)
		}
	}

	// Asked explicitly, the namespace still stays while it holds the hand-made object.
	_, stderr, err = deployRun(w, "//nsshare:two.delete", "--delete-namespace")
	if err != nil {
		t.Fatalf("delete two: %v\n%s", err, tailLines(stderr, 20))
	}
	if _, err := cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); err != nil {
		t.Fatalf("namespace %s deleted while it holds ConfigMap by-hand: %v", ns, err)
	}
	if _, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, "by-hand", metav1.GetOptions{}); err != nil {
		t.Errorf("ConfigMap by-hand is gone: %v", err)
	}
	if !strings.Contains(stderr+out, "ConfigMap "+ns+"/by-hand") {
		t.Errorf("delete --delete-namespace does not say what keeps the namespace:\n%s", tailLines(stderr, 10))
	}

	// Empty, and asked: it goes.
	if err := cs.CoreV1().ConfigMaps(ns).Delete(ctx, "by-hand", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, stderr, err := deployRun(w, "//nsshare:two.delete", "--delete-namespace"); err != nil {
		t.Fatalf("delete two again: %v\n%s", err, tailLines(stderr, 20))
	}
	if got, err := cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); !apierrors.IsNotFound(err) && got.DeletionTimestamp == nil {
		t.Errorf("namespace %s still there after delete --delete-namespace of an empty namespace (%v)", ns, err)
	}
}
