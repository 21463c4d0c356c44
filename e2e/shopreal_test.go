//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/slipway-dev/slipway/internal/cluster"
)

// serviceGet GETs path from a Service's port 80 through the API server's service
// proxy: the request reaches a pod on the real node over the pod network.
func serviceGet(ctx context.Context, cs kubernetes.Interface, ns, svc, path string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	b, err := cs.CoreV1().Services(ns).ProxyGet("http", svc, "80", path, nil).DoRaw(ctx)
	return string(b), err
}

// waitServiceAnswer polls a Service's path until it answers want, or fails the test
// after timeout; it returns how long that took.
func waitServiceAnswer(t *testing.T, cs kubernetes.Interface, ns, svc, path, want string, timeout time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	var last string
	err := poll(context.Background(), timeout, func() (bool, error) {
		got, err := serviceGet(context.Background(), cs, ns, svc, path)
		last = got
		return err == nil && got == want, err
	})
	if err != nil {
		t.Fatalf("%s/%s %s: %v; last answer %q, want %q", ns, svc, path, err, last, want)
	}
	return time.Since(start)
}

// buyThroughFrontend places an order on the frontend (POST /buy), which calls
// orders by its Service name, which prices it with catalog by its Service name
// (cluster DNS and kube-proxy), and checks that orders stored it.
func buyThroughFrontend(t *testing.T, cl *cluster.Cluster, cs kubernetes.Interface, ns string) {
	t.Helper()
	ctx := context.Background()
	products, err := serviceGet(ctx, cs, ns, "catalog", "/products")
	if err != nil {
		t.Fatalf("catalog /products: %v", err)
	}
	var ps []struct{ ID string }
	if err := json.Unmarshal([]byte(products), &ps); err != nil || len(ps) == 0 {
		t.Fatalf("catalog /products answered %q (%v)", products, err)
	}
	rc, err := cl.RESTConfig()
	if err != nil {
		t.Fatal(err)
	}
	hc, err := rest.HTTPClientFor(rc)
	if err != nil {
		t.Fatal(err)
	}
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	hc.Timeout = 20 * time.Second
	u := fmt.Sprintf("%s/api/v1/namespaces/%s/services/frontend:80/proxy/buy", cl.Server, ns)
	resp, err := hc.PostForm(u, url.Values{"product": {ps[0].ID}})
	if err != nil {
		t.Fatalf("POST frontend /buy: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || !strings.Contains(resp.Header.Get("Location"), "ordered=") {
		t.Fatalf("POST frontend /buy: %s %q, Location %q; want 303 to the placed order", resp.Status, body, resp.Header.Get("Location"))
	}
	orders, err := serviceGet(ctx, cs, ns, "orders", "/orders")
	if err != nil || !strings.Contains(orders, ps[0].ID) {
		t.Errorf("orders /orders: %q (%v), want the order of %s", orders, err, ps[0].ID)
	}
}

// podUIDs maps each pod (but Jobs') of the namespace (by its app label and name) to its UID.
func podUIDs(t *testing.T, cs kubernetes.Interface, ns string) map[string]string {
	t.Helper()
	pods, err := cs.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, p := range pods.Items {
		if _, job := p.Labels["batch.kubernetes.io/job-name"]; p.DeletionTimestamp == nil && !job { // Jobs' pods come and go
			out[p.Labels["app"]+"/"+p.Name] = string(p.UID)
		}
	}
	return out
}

// changedPods lists the pods of the apps other than skip whose UID changed or vanished.
func changedPods(before, after map[string]string, skip string) []string {
	var out []string
	for k, uid := range before {
		if strings.HasPrefix(k, skip+"/") {
			continue
		}
		if after[k] != uid {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}
