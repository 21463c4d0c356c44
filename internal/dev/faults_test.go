package dev

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/slipway-dev/slipway/internal/kube"
	"github.com/slipway-dev/slipway/internal/watch"
)

// Regression tests for failures found by trying the loop (issue 15).

// A process appending to a file no deployable uses never delays a cycle: its
// writes are dropped before they touch the debounce.
func TestWriterToUnusedFileDoesNotDelayCycles(t *testing.T) {
	h := startLoop(t)
	h.ready()
	h.edit("cart/app.log", "start") // a new file: one query to learn it is unused
	h.clock.Advance(debounce)
	if c := h.cycle(); c.Outcome != NoOp {
		t.Fatalf("outcome %s, want no-op", c.Outcome)
	}
	h.cluster.set("//cart:deploy", "2")
	h.edit("cart/main.go", "v2")
	for i := 0; i < 5; i++ { // the log goes on every 10ms while the edit settles
		h.files.write("cart/app.log", strings.Repeat("line\n", i+2))
		h.events <- watch.Event{Path: "cart/app.log", Op: watch.Written}
		h.clock.Advance(debounce / 10)
	}
	h.clock.Advance(debounce / 2) // the edit's own quiet is over: a cycle runs now
	c := h.cycle()
	if c.Outcome != OK || !cmp.Equal(c.Files, []string{"cart/main.go"}) {
		t.Errorf("cycle %s %v %v, want ok for cart/main.go alone", c.Outcome, c.Files, c.Errors)
	}
}

// A stream of changes to a used file holds a change back for MaxWait at most.
func TestMaxWaitCapsAStreamOfChanges(t *testing.T) {
	h := startLoop(t)
	h.ready()
	h.cluster.set("//orders:deploy", "2")
	h.edit("orders/main.go", "v2")
	for i := 0; i < int(maxWait/(debounce/2)); i++ { // rewritten every half debounce, with new content
		h.edit("orders/schema.json", strings.Repeat("x", i+2))
		h.clock.Advance(debounce / 2)
	}
	c := h.cycle()
	if c.Outcome != OK || !strings.Contains(strings.Join(c.Files, " "), "orders/main.go") {
		t.Errorf("cycle %s %v, want ok with orders/main.go although the stream goes on", c.Outcome, c.Files)
	}
}

// A change that arrives while a re-index runs is not swallowed by the index's
// snapshot of file contents (the loop used to prime hashes of files still pending).
func TestChangeDuringIndexIsNotLost(t *testing.T) {
	h := startLoop(t)
	h.ready()
	hold := make(chan struct{})
	h.ws.mu.Lock()
	h.ws.holdIndex, h.ws.indexStarted = hold, make(chan struct{}, 1)
	h.ws.mu.Unlock()
	h.edit("cart/BUILD.bazel", "v2")
	h.clock.Advance(debounce)
	<-h.ws.indexStarted
	h.cluster.set("//cart:deploy", "2")
	h.edit("cart/main.go", "v2") // pending while the query runs
	close(hold)
	if c := h.cycle(); !cmp.Equal(c.Files, []string{"cart/BUILD.bazel"}) {
		t.Fatalf("first cycle's files %v, want the BUILD file", c.Files)
	}
	h.clock.Advance(debounce)
	c := h.cycle()
	if c.Outcome != OK || !cmp.Equal(c.Files, []string{"cart/main.go"}) {
		t.Errorf("cycle %s %v, want ok for cart/main.go", c.Outcome, c.Files)
	}
}

// Removing an indexed file queries the graph again and rebuilds what used it.
func TestRemovedFileReindexesAndRebuildsItsUsers(t *testing.T) {
	h := startLoop(t)
	h.ready()
	h.ws.mu.Lock()
	g := shopGraph() // the file is gone from the graph too (its glob no longer matches)
	delete(g.Sources, "//orders:schema.json")
	g.Rules["//orders:schema"] = nil
	h.ws.graph = g
	h.ws.mu.Unlock()
	h.files.remove("orders/schema.json")
	h.events <- watch.Event{Path: "orders/schema.json", Op: watch.Removed}
	h.clock.waitTimer(t, debounce)
	h.clock.Advance(debounce)
	c := h.cycle()
	h.ws.mu.Lock()
	indexes := h.ws.indexes
	h.ws.mu.Unlock()
	if indexes != 2 || !cmp.Equal(c.Affected, []string{"//orders:deploy"}) {
		t.Errorf("%d queries, affected %v; want 2 and //orders:deploy", indexes, c.Affected)
	}
}

// An object deleted behind the loop's back is applied again.
func TestVanishedObjectIsReapplied(t *testing.T) {
	h := startLoop(t)
	h.ready()
	key := kube.Ref{Group: "apps", Kind: "Deployment", Namespace: "dev", Name: "cart"}.Key()
	h.cluster.vanish(key)
	h.vanish <- kube.Vanished{Owner: "//cart:deploy", Ref: kube.Ref{Group: "apps", Version: "v1", Kind: "Deployment", Namespace: "dev", Name: "cart"}}
	c := h.cycle()
	if c.Outcome != OK || !cmp.Equal(c.Affected, []string{"//cart:deploy"}) || len(c.Applied) != 1 {
		t.Errorf("cycle %s affected %v applied %+v, want cart's Deployment applied again", c.Outcome, c.Affected, c.Applied)
	}
	h.cluster.mu.Lock()
	defer h.cluster.mu.Unlock()
	if h.cluster.tracked["//cart:deploy"] != 1 {
		t.Errorf("cart tracks %d objects, want 1", h.cluster.tracked["//cart:deploy"])
	}
}

// Whether to write is the cluster's answer, not the loop's memory: after a
// conflict, going back to the last deployed content still applies when the
// cluster differs.
func TestRevertToLastDeployedStillAppliesWhenTheClusterDiffers(t *testing.T) {
	h := startLoop(t)
	h.ready()
	key := kube.Ref{Group: "apps", Kind: "Deployment", Namespace: "dev", Name: "cart"}.Key()
	h.cluster.mu.Lock()
	h.cluster.live[key] = "changed by another field manager"
	h.cluster.mu.Unlock()
	h.edit("cart/main.go", "v1 again") // builds to what was deployed last
	h.clock.Advance(debounce)
	c := h.cycle()
	if c.Outcome != OK || len(c.Applied) != 1 || c.Applied[0].Name != "cart" {
		t.Errorf("cycle %s applied %+v, want cart applied again", c.Outcome, c.Applied)
	}
}

var errInvalid = errors.New(`deployment dev/cart: quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'`)

// An error a retry cannot fix fails that target, says so in its state, and is
// not retried; the other targets deploy.
func TestPermanentApplyErrorFailsTheTargetOnly(t *testing.T) {
	h := startLoop(t)
	h.ready()
	h.cluster.mu.Lock()
	h.cluster.applyErr = []error{errInvalid}
	h.cluster.mu.Unlock()
	h.cluster.set("//cart:deploy", "2")
	h.edit("cart/main.go", "v2")
	h.clock.Advance(debounce)
	c := h.cycle()
	if c.Outcome != DeployFail || len(c.Errors) != 1 || !strings.Contains(c.Errors[0], "//cart:deploy: deployment dev/cart: quantities") {
		t.Fatalf("cycle %s %q, want deploy-failed naming the target and object once", c.Outcome, c.Errors)
	}
	if d := statusOf(c, "//cart:deploy"); d.State != StateFailed || !strings.Contains(d.Message, "quantities") {
		t.Errorf("cart %+v, want failed with the reason", d)
	}
	// No retry: the next cycle comes from the next change alone.
	h.cluster.set("//orders:deploy", "2")
	h.edit("orders/main.go", "v2")
	h.clock.Advance(debounce)
	if c := h.cycle(); !cmp.Equal(c.Affected, []string{"//orders:deploy"}) || c.Outcome != OK {
		t.Errorf("next cycle %s affected %v, want orders alone", c.Outcome, c.Affected)
	}
}

// A push in flight is canceled by a newer change; the next cycle has both.
func TestNewerChangeCancelsPush(t *testing.T) {
	h := startLoop(t)
	h.ready()
	h.cluster.holdPush, h.cluster.pushStarted = make(chan struct{}), make(chan struct{}, 4)
	h.cluster.set("//cart:deploy", "2")
	h.edit("cart/main.go", "v2")
	h.clock.Advance(debounce)
	<-h.cluster.pushStarted
	h.cluster.set("//orders:deploy", "2")
	h.edit("orders/main.go", "v2")
	h.clock.Advance(debounce)
	if c := h.cycle(); c.Outcome != Canceled {
		t.Fatalf("cycle %s, want canceled", c.Outcome)
	}
	close(h.cluster.holdPush)
	c := h.cycle()
	if c.Outcome != OK || !cmp.Equal(c.Files, []string{"cart/main.go", "orders/main.go"}) {
		t.Errorf("cycle %s %v, want ok with both files", c.Outcome, c.Files)
	}
}

// A failed push puts no empty image in the report.
func TestFailedPushReportsNoEmptyImage(t *testing.T) {
	h := startLoop(t)
	h.ready()
	h.cluster.mu.Lock()
	h.cluster.pushErr = []error{errors.New("push to registry.test/cart: manifest invalid")}
	h.cluster.mu.Unlock()
	h.cluster.set("//cart:deploy", "2")
	h.edit("cart/main.go", "v2")
	h.clock.Advance(debounce)
	c := h.cycle()
	if c.Outcome != DeployFail || len(c.Images) != 0 {
		t.Errorf("cycle %s images %+v, want deploy-failed and no image", c.Outcome, c.Images)
	}
	if pushes, applies := h.cluster.snapshot(); len(pushes) != 0 || len(applies) != 0 {
		t.Errorf("pushes %v applies %v after a failed push, want none", pushes, applies)
	}
}

// The loop says it is ready once every deployable was tried, naming failures,
// even when one fails its first build.
func TestReadyComesEvenWhenAFirstBuildFails(t *testing.T) {
	h := newLoopHarness(t)
	h.ws.broken["//orders:deploy"] = true
	h.run()
	c := h.cycle()
	if c.Outcome != BuildFailed {
		t.Fatalf("first cycle %s, want build-failed", c.Outcome)
	}
	select {
	case r := <-h.rep.ready:
		if statusOf(r, "//orders:deploy").State != StateFailed || statusOf(r, "//cart:deploy").State != StateReady {
			t.Errorf("ready with %+v, want cart ready and orders failed", r.Deployables)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no ready event")
	}
}

// A newer change does not wait for the last cycle's rollout: the wait is cut
// short, the deploy stands, and the next cycle looks at readiness again.
func TestNewerChangeCutsTheReadinessWaitShort(t *testing.T) {
	h := startLoop(t)
	h.ready()
	h.cluster.holdWait, h.cluster.waitStarted = make(chan struct{}), make(chan struct{}, 4)
	h.cluster.set("//cart:deploy", "2")
	h.edit("cart/main.go", "v2")
	h.clock.Advance(debounce)
	<-h.cluster.waitStarted
	h.cluster.set("//orders:deploy", "2")
	h.edit("orders/main.go", "v2")
	h.clock.Advance(debounce)
	first := h.cycle()
	if first.Outcome != OK || len(first.Applied) != 1 || first.Applied[0].Name != "cart" {
		t.Fatalf("first cycle %s applied %+v, want ok with cart applied", first.Outcome, first.Applied)
	}
	<-h.cluster.waitStarted
	close(h.cluster.holdWait)
	second := h.cycle()
	if !cmp.Equal(second.Files, []string{"orders/main.go"}) || !cmp.Equal(second.Affected, []string{"//cart:deploy", "//orders:deploy"}) {
		t.Errorf("second cycle files %v affected %v, want orders' change and cart rechecked", second.Files, second.Affected)
	}
	if st := statusOf(second, "//cart:deploy"); st.State != StateReady {
		t.Errorf("cart %+v, want ready after the recheck", st)
	}
	pushes, _ := h.cluster.snapshot()
	if !cmp.Equal(sorted(pushes), []string{"//cart:image", "//orders:image"}) {
		t.Errorf("pushes %v, want each image once", pushes)
	}
}
