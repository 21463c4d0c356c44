//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/slipway-dev/slipway/internal/dev"
	"github.com/slipway-dev/slipway/internal/liveupdate"
)

// catalogPod is the running catalog pod: its UID, its container's restart
// count, and its first container's command.
func catalogPod(t *testing.T, cs kubernetes.Interface, ns string) corev1.Pod {
	t.Helper()
	var pod corev1.Pod
	err := poll(context.Background(), 2*time.Minute, func() (bool, error) {
		pods, err := cs.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "app=catalog"})
		if err != nil {
			return false, err
		}
		var running []corev1.Pod
		for _, p := range pods.Items {
			if p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning {
				running = append(running, p)
			}
		}
		if len(running) == 1 {
			pod = running[0]
		}
		return len(running) == 1, nil
	})
	if err != nil {
		t.Fatalf("one running catalog pod: %v", err)
	}
	return pod
}

func restartCount(p corev1.Pod) int32 {
	for _, st := range p.Status.ContainerStatuses {
		if st.Name == "catalog" {
			return st.RestartCount
		}
	}
	return -1
}

// deployOf is the cycle's deploy report of target.
func deployOf(t *testing.T, c dev.Cycle, target string) dev.DeployReport {
	t.Helper()
	for _, d := range c.Deploys {
		if d.Target == target {
			return d
		}
	}
	t.Fatalf("cycle %d deployed no %s: %+v (errors %v)", c.N, target, c.Deploys, c.Errors)
	return dev.DeployReport{}
}

// liveShop is the shop's catalog deployed by a dev loop with live_update on.
type liveShop struct {
	cs    kubernetes.Interface
	ns    string
	w     *workspace
	d     *devLoop
	image string     // the Deployment's image after the first deploy
	first corev1.Pod // the first catalog pod
}

const liveTarget = "//examples/shop/catalog:deploy"

// TestLiveUpdateShop runs the dev loop over the shop's catalog with live_update
// on its image (scratch, non-root): handler edits are synced into the running
// pod; YAML is a full rollout; a compile error keeps the old code; a killed
// pod's replacement is synced within a cycle.
func TestLiveUpdateShop(t *testing.T) {
	cl := sharedCluster(t)
	s := &liveShop{cs: clientset(t, cl), w: newWorkspace(t, "examples/shop")}
	s.w.copyFromRepo("examples/shop", "examples/shop")
	s.w.edit("examples/shop/catalog/BUILD.bazel", `    binary = ":catalog",`, "    binary = \":catalog\",\n    live_update = True,")
	s.w.write("examples/shop/livedev/BUILD.bazel", `load("@slipway//rules:defs.bzl", "dev")

dev(
    name = "dev",
    targets = ["//examples/shop/catalog:deploy"],
)
`)
	user := fmt.Sprintf("live%d", time.Now().UnixNano()%1_000_000)
	s.ns = "shop-" + user
	defer s.cs.CoreV1().Namespaces().Delete(context.Background(), s.ns, metav1.DeleteOptions{})

	s.d = startDevTarget(t, s.w, "//examples/shop/livedev:dev", []string{"USER=" + user})
	s.d.waitReady(20 * time.Minute)
	waitServiceAnswer(t, s.cs, s.ns, "catalog", "/healthz", "ok catalog catalog-v1\n", time.Minute)
	s.image = deployedImage(t, s.cs, s.ns, "Deployment", "catalog")
	s.first = catalogPod(t, s.cs, s.ns)

	t.Run("dev mode runs the image's entrypoint under the agent", s.underTheAgent)
	t.Run("a handler edit is synced into the running pod", s.editSynced)
	t.Run("a compile error is reported and the last good code keeps serving", s.compileError)
	t.Run("a replaced pod runs the new code within a cycle", s.podReplaced)
	t.Run("a YAML change is a full rollout", s.yamlRollout)
}

func (s *liveShop) underTheAgent(t *testing.T) {
	c := s.first.Spec.Containers[0]
	if c.Image != s.image || len(c.Command) < 6 || c.Command[0] != liveupdate.AgentPath || c.Command[len(c.Command)-1] != "/app/catalog" {
		t.Errorf("catalog container: image %s command %q; want %s under the agent", c.Image, c.Command, s.image)
	}
	if len(s.first.Spec.InitContainers) == 0 || s.first.Spec.InitContainers[0].Name != liveupdate.InitContainer {
		t.Errorf("init containers %+v, want %s", s.first.Spec.InitContainers, liveupdate.InitContainer)
	}
}

func (s *liveShop) editSynced(t *testing.T) {
	s.w.edit("examples/shop/catalog/main.go", `"catalog-v1"`, `"catalog-v2"`)
	c := s.d.next()
	if c.Outcome != dev.OK {
		t.Fatalf("cycle: %s %v", c.Outcome, c.Errors)
	}
	dr := deployOf(t, c, liveTarget)
	if dr.Mode != dev.ModeLive || !strings.HasSuffix(s.image, "@"+dr.Digest) || len(dr.Pods) != 1 || dr.Pods[0].UID != string(s.first.UID) {
		t.Errorf("deploy %+v; want live on %s into pod %s", dr, s.image, s.first.UID)
	}
	took := waitServiceAnswer(t, s.cs, s.ns, "catalog", "/healthz", "ok catalog catalog-v2\n", 30*time.Second)
	t.Logf("live cycle %d ms %v; new code answered %s after it", c.TotalMillis, c.PhaseMillis, took.Round(time.Millisecond))
	now := catalogPod(t, s.cs, s.ns)
	if now.UID != s.first.UID || restartCount(now) != restartCount(s.first) {
		t.Errorf("pod %s restarts %d, want %s with %d (unchanged)", now.UID, restartCount(now), s.first.UID, restartCount(s.first))
	}
	if got := deployedImage(t, s.cs, s.ns, "Deployment", "catalog"); got != s.image {
		t.Errorf("Deployment image %s, want %s (unchanged)", got, s.image)
	}
}

func (s *liveShop) compileError(t *testing.T) {
	s.w.edit("examples/shop/catalog/main.go", `"catalog-v2"`, `"catalog-v3" +`)
	c := s.d.next()
	if c.Outcome != dev.BuildFailed || !strings.Contains(strings.Join(c.Errors, "\n"), "main.go") {
		t.Errorf("cycle: %s %v; want build-failed naming main.go", c.Outcome, c.Errors)
	}
	if got, err := serviceGet(context.Background(), s.cs, s.ns, "catalog", "/healthz"); got != "ok catalog catalog-v2\n" {
		t.Errorf("catalog answers %q (%v), want the last good code", got, err)
	}
	s.w.edit("examples/shop/catalog/main.go", `"catalog-v3" +`, `"catalog-v3"`)
	if c := s.d.next(); c.Outcome != dev.OK || deployOf(t, c, liveTarget).Mode != dev.ModeLive {
		t.Fatalf("after the fix: %s %v %+v", c.Outcome, c.Errors, c.Deploys)
	}
	waitServiceAnswer(t, s.cs, s.ns, "catalog", "/healthz", "ok catalog catalog-v3\n", 30*time.Second)
}

func (s *liveShop) podReplaced(t *testing.T) {
	old := catalogPod(t, s.cs, s.ns)
	if err := s.cs.CoreV1().Pods(s.ns).Delete(context.Background(), old.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	c := s.d.next()
	if c.Outcome != dev.OK || strings.Join(c.Reasons[liveTarget], ",") != liveupdate.Resync {
		t.Fatalf("cycle: %s %v reasons %v; want a %s", c.Outcome, c.Errors, c.Reasons, liveupdate.Resync)
	}
	dr := deployOf(t, c, liveTarget)
	if dr.Mode != dev.ModeLive || len(dr.Pods) == 0 || dr.Pods[0].UID == string(old.UID) {
		t.Errorf("deploy %+v; want live into the new pod", dr)
	}
	waitServiceAnswer(t, s.cs, s.ns, "catalog", "/healthz", "ok catalog catalog-v3\n", 30*time.Second)
}

func (s *liveShop) yamlRollout(t *testing.T) {
	before := catalogPod(t, s.cs, s.ns)
	s.w.edit("examples/shop/catalog/deploy.yaml", `CACHE_MAX_AGE: "30"`, `CACHE_MAX_AGE: "31"`)
	c := s.d.next()
	if c.Outcome != dev.OK {
		t.Fatalf("cycle: %s %v", c.Outcome, c.Errors)
	}
	dr := deployOf(t, c, liveTarget)
	if dr.Mode != dev.ModeFull || !strings.Contains(dr.Why, "deploy.yaml") {
		t.Errorf("deploy %+v; want full because of deploy.yaml", dr)
	}
	if got := deployedImage(t, s.cs, s.ns, "Deployment", "catalog"); got == s.image || !strings.HasSuffix(got, "@"+dr.Digest) {
		t.Errorf("Deployment image %s after the full deploy; want the new build %s, not %s", got, dr.Digest, s.image)
	}
	if now := catalogPod(t, s.cs, s.ns); now.UID == before.UID {
		t.Errorf("pod %s was not replaced by the rollout", now.UID)
	}
	waitServiceAnswer(t, s.cs, s.ns, "catalog", "/healthz", "ok catalog catalog-v3\n", time.Minute)
}
