//go:build e2e

package e2e

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// An invalid quantity is a permanent failure of its target alone (issue 15
// item 8): ci names it, deploys the other targets, and counts the failed
// target's objects as failed.
func TestCIInvalidQuantityFailsItsTargetOnly(t *testing.T) {
	cl := sharedCluster(t)
	cs := clientset(t, cl)
	ctx := context.Background()
	w := newWorkspace(t, "examples/shop")
	w.copyFromRepo("examples/shop", "examples/shop")
	user := fmt.Sprintf("inv%d", time.Now().UnixNano()%1_000_000)
	ns := "shop-" + user
	defer cs.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{})
	w.edit("examples/shop/catalog/deploy.yaml", "          readinessProbe:", "          resources:\n            limits: {memory: 128Mb}\n          readinessProbe:")

	start := time.Now()
	r, stderr, err := shopCI(t, w, user)
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("ci with an invalid quantity: %v, want exit status 1\n%s", err, tailLines(stderr, 20))
	}
	if len(r.Failures) != 1 {
		t.Fatalf("failures %q, want one: the catalog's", r.Failures)
	}
	f := r.Failures[0]
	if !strings.HasPrefix(f, "//examples/shop/catalog:deploy: ") || strings.Count(f, "//examples/shop/catalog:deploy") != 1 ||
		!strings.Contains(f, "Deployment "+ns+"/catalog") || !strings.Contains(f, "quantities must match") {
		// The API server's conversion error names the rule, not the value.
		t.Errorf("failure %q: want the target named once, the Deployment and the quantity rule", f)
	}
	if time.Since(start) > 5*time.Minute {
		t.Errorf("ci took %s: a permanent error must not be retried", time.Since(start))
	}
	catalog := 0
	for _, ref := range r.NotDeployed {
		if ref.Kind == "Deployment" && ref.Name == "catalog" {
			catalog++
		}
	}
	if catalog != 1 || len(r.NotDeployed) == 0 {
		t.Errorf("not deployed %v, want the catalog's objects", r.NotDeployed)
	}
	if len(r.Readiness) == 0 {
		t.Error("no readiness for the other targets: they were not waited for")
	}
	for _, rd := range r.Readiness {
		if !rd.Ready() {
			t.Errorf("%s not ready", rd.Ref)
		}
	}
	if _, err := cs.AppsV1().Deployments(ns).Get(ctx, "orders", metav1.GetOptions{}); err != nil {
		t.Errorf("the orders Deployment (another target) was not deployed: %v", err)
	}
}
