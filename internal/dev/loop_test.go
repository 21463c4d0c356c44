package dev

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/slipway-dev/slipway/internal/kube"
	"github.com/slipway-dev/slipway/internal/watch"
)

const (
	debounce = 100 * time.Millisecond
	maxWait  = 10 * debounce
)

type loopHarness struct {
	t       *testing.T
	clock   *fakeClock
	ws      *fakeWorkspace
	cluster *fakeCluster
	files   *fakeFiles
	rep     *fakeReporter
	events  chan watch.Event
	vanish  chan kube.Vanished
	actions chan Action
	// forwards, when set, is the loop's Forwarder.
	forwards *fakeForwarder
	// syncer, when set, is the loop's live-update Syncer; stale its input.
	syncer *fakeSyncer
	stale  chan string
}

func startLoop(t *testing.T) *loopHarness {
	t.Helper()
	h := newLoopHarness(t)
	h.run()
	return h
}

// newLoopHarness prepares a loop over the shop graph; run starts it.
func newLoopHarness(t *testing.T) *loopHarness {
	h := &loopHarness{
		t:     t,
		clock: newFakeClock(),
		ws:    &fakeWorkspace{graph: shopGraph(), broken: map[string]bool{}, version: map[string]int{}},
		cluster: &fakeCluster{content: map[string]string{
			"//cart:deploy": "1", "//orders:deploy": "1",
		}, live: map[string]string{}, tracked: map[string]int{}},
		files:   &fakeFiles{content: map[string]string{}, settled: map[string]string{}, snapshotted: map[string]string{}},
		rep:     &fakeReporter{cycles: make(chan *Cycle, 100), ready: make(chan *Cycle, 10)},
		events:  make(chan watch.Event, 100),
		vanish:  make(chan kube.Vanished, 10),
		actions: make(chan Action, 10),
	}
	for _, p := range []string{"cart/main.go", "orders/main.go", "lib/money/money.go", "cart/deploy.yaml", "orders/deploy.yaml", "orders/schema.json"} {
		h.files.content[p] = "v1"
	}
	return h
}

func (h *loopHarness) run() {
	t := h.t
	loop := &Loop{
		Workspace: h.ws, Loader: h.cluster, Cluster: h.cluster, Files: h.files, Clock: h.clock, Reporter: h.rep,
		Debounce: debounce, MaxWait: maxWait, MinBackoff: time.Second, MaxBackoff: 8 * time.Second,
	}
	if h.forwards != nil {
		loop.Forwards = h.forwards
	}
	if h.syncer != nil {
		loop.Live = h.syncer
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- loop.Run(ctx, Inputs{Files: h.events, Problems: make(chan error), Vanished: h.vanish, Actions: h.actions, LiveStale: h.stale})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after cancel")
		}
	})
}

func (h *loopHarness) cycle() *Cycle {
	h.t.Helper()
	select {
	case c := <-h.rep.cycles:
		return c
	case <-time.After(10 * time.Second):
		h.t.Fatal("no cycle within 10s")
		return nil
	}
}

// edit changes a file and delivers its event, returning once the loop has armed
// its debounce timer.
func (h *loopHarness) edit(path, content string) {
	h.t.Helper()
	h.files.mu.Lock()
	_, existed := h.files.content[path]
	h.files.mu.Unlock()
	h.files.write(path, content)
	op := watch.Written
	if !existed {
		op = watch.Created
	}
	h.events <- watch.Event{Path: path, Op: op}
	h.clock.waitTimer(h.t, debounce)
}

func (h *loopHarness) ready() {
	h.t.Helper()
	if c := h.cycle(); c.Outcome != OK {
		h.t.Fatalf("first cycle: %s %v", c.Outcome, c.Errors)
	}
	select {
	case <-h.rep.ready:
	case <-time.After(10 * time.Second):
		h.t.Fatal("no ready event after the first full deploy")
	}
	h.ws.mu.Lock()
	h.ws.builds = nil
	h.ws.mu.Unlock()
	h.cluster.mu.Lock()
	h.cluster.pushes, h.cluster.applies = nil, nil
	h.cluster.mu.Unlock()
}

func (h *loopHarness) builds() [][]string {
	h.ws.mu.Lock()
	defer h.ws.mu.Unlock()
	return append([][]string(nil), h.ws.builds...)
}

func TestFirstCycleDeploysEverything(t *testing.T) {
	h := startLoop(t)
	c := h.cycle()
	if c.Outcome != OK {
		t.Fatalf("outcome %s: %v", c.Outcome, c.Errors)
	}
	if diff := cmp.Diff([]string{"//cart:deploy", "//orders:deploy"}, c.Affected); diff != "" {
		t.Errorf("affected (-want +got):\n%s", diff)
	}
	pushes, applies := h.cluster.snapshot()
	if diff := cmp.Diff([]string{"//cart:image", "//orders:image"}, sorted(pushes)); diff != "" {
		t.Errorf("pushed (-want +got):\n%s", diff)
	}
	// A first deploy applies everything (the server's dry-run decides what changes).
	if diff := cmp.Diff([]string{"//cart:deploy [apps/Deployment/dev/cart]", "//orders:deploy [apps/Deployment/dev/orders]"}, sorted(applies)); diff != "" {
		t.Errorf("applied (-want +got):\n%s", diff)
	}
	select {
	case <-h.rep.ready:
	case <-time.After(10 * time.Second):
		t.Fatal("no ready event")
	}
	for _, s := range []State{Indexing, Building, Pushing, Applying, Waiting, Idle} {
		if !containsState(h.rep, s) {
			t.Errorf("the loop never entered %s", s)
		}
	}
}

func TestChangeRedeploysOnlyAffected(t *testing.T) {
	h := startLoop(t)
	h.ready()
	h.cluster.set("//cart:deploy", "2")
	h.edit("cart/main.go", "v2")
	h.clock.Advance(debounce)
	c := h.cycle()
	if c.Outcome != OK || !cmp.Equal(c.Files, []string{"cart/main.go"}) || !cmp.Equal(c.Affected, []string{"//cart:deploy"}) {
		t.Fatalf("cycle: outcome %s files %v affected %v %v", c.Outcome, c.Files, c.Affected, c.Errors)
	}
	if diff := cmp.Diff([][]string{{"//cart:deploy"}}, h.builds()); diff != "" {
		t.Errorf("builds (-want +got):\n%s", diff)
	}
	pushes, applies := h.cluster.snapshot()
	if diff := cmp.Diff([]string{"//cart:image"}, pushes); diff != "" {
		t.Errorf("pushed (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"//cart:deploy [apps/Deployment/dev/cart]"}, applies); diff != "" {
		t.Errorf("applied (-want +got):\n%s", diff)
	}
	if len(c.Applied) != 1 || c.Applied[0].Name != "cart" || len(c.Images) != 1 || c.Images[0].Digest != "sha256:2" {
		t.Errorf("cycle report: applied %+v, images %+v", c.Applied, c.Images)
	}
	if !reportedApplied(h.rep, c.N) {
		t.Errorf("cycle %d applied without saying so before its readiness wait", c.N)
	}
}

func TestSharedLibraryAffectsItsImporters(t *testing.T) {
	h := startLoop(t)
	h.ready()
	h.edit("lib/money/money.go", "v2")
	h.clock.Advance(debounce)
	c := h.cycle()
	if diff := cmp.Diff([]string{"//cart:deploy", "//orders:deploy"}, c.Affected); diff != "" {
		t.Errorf("affected (-want +got):\n%s", diff)
	}
}

func TestEventsCoalesceUntilQuiet(t *testing.T) {
	h := startLoop(t)
	h.ready()
	h.cluster.set("//cart:deploy", "2")
	h.cluster.set("//orders:deploy", "2")
	h.edit("cart/main.go", "v2")
	h.clock.Advance(debounce / 2) // the early build starts, for cart alone
	h.edit("orders/main.go", "v2")
	h.clock.Advance(debounce / 2) // the first timer fires, but a newer one rules
	h.edit("cart/deploy.yaml", "v2")
	h.clock.Advance(debounce)
	c := h.cycle()
	if diff := cmp.Diff([]string{"cart/deploy.yaml", "cart/main.go", "orders/main.go"}, c.Files); diff != "" {
		t.Errorf("one cycle for all three files (-want +got):\n%s", diff)
	}
	if c.N != 2 {
		t.Errorf("cycle number %d, want 2: the superseded early build is no cycle", c.N)
	}
	builds := h.builds()
	if diff := cmp.Diff([]string{"//cart:deploy", "//orders:deploy"}, builds[len(builds)-1]); diff != "" {
		t.Errorf("the last build (-want +got):\n%s", diff)
	}
	pushes, applies := h.cluster.snapshot()
	if diff := cmp.Diff([]string{"//cart:image", "//orders:image"}, sorted(pushes)); diff != "" {
		t.Errorf("each image pushed once (-want +got):\n%s", diff)
	}
	if len(applies) != 2 {
		t.Errorf("applies %v, want one per target", applies)
	}
}

// A single save starts building after a tenth of the debounce, and deploys
// once the debounce ends without more events.
func TestBuildStartsEarlyAndDeploysWhenQuiet(t *testing.T) {
	h := startLoop(t)
	h.ready()
	h.ws.mu.Lock()
	h.ws.started = make(chan []string, 10)
	h.ws.mu.Unlock()
	h.cluster.set("//cart:deploy", "2")
	h.edit("cart/main.go", "v2")
	h.clock.Advance(debounce / 10)
	select {
	case got := <-h.ws.started:
		if !cmp.Equal(got, []string{"//cart:deploy"}) {
			t.Errorf("early build of %v, want //cart:deploy", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no build started before the debounce ended")
	}
	h.clock.Advance(debounce - debounce/10)
	c := h.cycle()
	if c.Outcome != OK || !cmp.Equal(c.Files, []string{"cart/main.go"}) {
		t.Errorf("cycle %s %v, want ok for cart/main.go", c.Outcome, c.Files)
	}
	if n := len(h.builds()); n != 1 {
		t.Errorf("%d builds, want 1", n)
	}
}

// An early build waits for the debounce before it reports, so a failure seen
// while the burst still goes on is never shown, and nothing is deployed.
func TestEarlyBuildFailureWaitsForQuiet(t *testing.T) {
	h := startLoop(t)
	h.ready()
	h.ws.mu.Lock()
	h.ws.broken["//cart:deploy"] = true
	h.ws.started = make(chan []string, 10)
	h.ws.mu.Unlock()
	h.edit("cart/main.go", "half-written")
	h.clock.Advance(debounce / 10)
	select {
	case <-h.ws.started:
	case <-time.After(10 * time.Second):
		t.Fatal("no build started before the debounce ended")
	}
	h.ws.mu.Lock()
	h.ws.broken["//cart:deploy"] = false
	h.ws.mu.Unlock()
	h.cluster.set("//cart:deploy", "2")
	h.edit("cart/main.go", "whole")
	h.clock.Advance(debounce)
	c := h.cycle()
	if c.Outcome != OK || c.N != 2 {
		t.Errorf("first cycle reported: #%d %s %v, want #2 ok (the early failure superseded)", c.N, c.Outcome, c.Errors)
	}
	pushes, applies := h.cluster.snapshot()
	if !cmp.Equal(pushes, []string{"//cart:image"}) || len(applies) != 1 {
		t.Errorf("pushes %v, applies %v; want cart once", pushes, applies)
	}
}

func TestUnchangedContentStartsNoCycle(t *testing.T) {
	h := startLoop(t)
	h.ready()
	h.edit("cart/main.go", "v1") // rewritten, same content
	h.clock.Advance(debounce)
	h.cluster.set("//orders:deploy", "2")
	h.edit("orders/main.go", "v2")
	h.clock.Advance(debounce)
	c := h.cycle()
	if !cmp.Equal(c.Files, []string{"orders/main.go"}) {
		t.Errorf("first cycle after the no-op rewrite has files %v, want only orders/main.go", c.Files)
	}
}

func TestBuildFailureKeepsLastGoodDeployment(t *testing.T) {
	h := startLoop(t)
	h.ready()
	h.ws.mu.Lock()
	h.ws.broken["//cart:deploy"] = true
	h.ws.mu.Unlock()
	h.edit("cart/main.go", "broken")
	h.clock.Advance(debounce)
	c := h.cycle()
	if c.Outcome != BuildFailed || len(c.Errors) != 1 || !strings.Contains(c.Errors[0], "main.go:3: syntax error") {
		t.Fatalf("outcome %s, errors %q; want build-failed naming the error", c.Outcome, c.Errors)
	}
	if pushes, applies := h.cluster.snapshot(); len(pushes)+len(applies) != 0 || reportedApplied(h.rep, c.N) {
		t.Errorf("a failed build pushed %v and applied %v", pushes, applies)
	}
	if d := statusOf(c, "//cart:deploy"); d.State != "failed" {
		t.Errorf("cart state %q, want failed", d.State)
	}
	// The fix deploys.
	h.ws.mu.Lock()
	h.ws.broken["//cart:deploy"] = false
	h.ws.mu.Unlock()
	h.cluster.set("//cart:deploy", "3")
	h.edit("cart/main.go", "fixed")
	h.clock.Advance(debounce)
	if c := h.cycle(); c.Outcome != OK || statusOf(c, "//cart:deploy").State != "ready" {
		t.Errorf("after the fix: outcome %s, errors %v", c.Outcome, c.Errors)
	}
}

func TestBuildFileChangeReindexes(t *testing.T) {
	h := startLoop(t)
	h.ready()
	h.edit("cart/BUILD.bazel", "v2")
	h.clock.Advance(debounce)
	c := h.cycle()
	h.ws.mu.Lock()
	indexes := h.ws.indexes
	h.ws.mu.Unlock()
	if indexes != 2 {
		t.Errorf("%d index queries, want 2 (the first, and after the BUILD change)", indexes)
	}
	if diff := cmp.Diff([]string{"//cart:deploy", "//orders:deploy"}, c.Affected); diff != "" {
		t.Errorf("affected after a BUILD change (-want +got):\n%s", diff)
	}
	// Nothing changed in the outputs: nothing pushed; every target is compared
	// with the cluster, which has it all already.
	pushes, applies := h.cluster.snapshot()
	if len(pushes) != 0 || len(c.Applied) != 0 {
		t.Errorf("unchanged outputs pushed %v and changed %v", pushes, c.Applied)
	}
	if diff := cmp.Diff([]string{"//cart:deploy []", "//orders:deploy []"}, sorted(applies)); diff != "" {
		t.Errorf("applies (-want +got):\n%s", diff)
	}
}

func TestNewFileReindexesOnce(t *testing.T) {
	h := startLoop(t)
	h.ready()
	h.edit("docs/notes.md", "v1") // new, not in the graph: index again to find out
	h.clock.Advance(debounce)
	if c := h.cycle(); c.Outcome != NoOp {
		t.Errorf("outcome %s, want no-op", c.Outcome)
	}
	// Writes to it now change no deployable's inputs: no timer, no query.
	h.files.write("docs/notes.md", "v2")
	h.events <- watch.Event{Path: "docs/notes.md", Op: watch.Written}
	h.cluster.set("//orders:deploy", "2")
	h.edit("orders/main.go", "v2")
	h.clock.Advance(debounce)
	c := h.cycle()
	if !cmp.Equal(c.Files, []string{"orders/main.go"}) {
		t.Errorf("next cycle's files %v, want orders/main.go alone", c.Files)
	}
	h.ws.mu.Lock()
	defer h.ws.mu.Unlock()
	if h.ws.indexes != 2 {
		t.Errorf("%d index queries, want 2", h.ws.indexes)
	}
}

func TestNewerChangeCancelsBuild(t *testing.T) {
	h := startLoop(t)
	h.ready()
	hold := make(chan struct{})
	h.ws.mu.Lock()
	h.ws.hold, h.ws.started = hold, make(chan []string, 10)
	h.ws.mu.Unlock()
	h.edit("cart/main.go", "v2")
	h.clock.Advance(debounce)
	<-h.ws.started // the build is running
	h.edit("orders/main.go", "v2")
	h.clock.Advance(debounce)
	if c := h.cycle(); c.Outcome != Canceled {
		t.Fatalf("first cycle %s, want canceled", c.Outcome)
	}
	<-h.ws.started // the next one starts with both files
	close(hold)
	c := h.cycle()
	if diff := cmp.Diff([]string{"cart/main.go", "orders/main.go"}, c.Files); diff != "" {
		t.Errorf("the next cycle's files (-want +got):\n%s", diff)
	}
}

func TestChangeDuringApplyIsQueued(t *testing.T) {
	h := startLoop(t)
	h.ready()
	h.cluster.holdApply, h.cluster.applyStarted = make(chan struct{}), make(chan struct{}, 1)
	h.cluster.set("//cart:deploy", "2")
	h.edit("cart/main.go", "v2")
	h.clock.Advance(debounce)
	<-h.cluster.applyStarted
	h.cluster.set("//orders:deploy", "2")
	h.edit("orders/main.go", "v2")
	h.clock.Advance(debounce)
	close(h.cluster.holdApply)
	first, second := h.cycle(), h.cycle()
	if first.Outcome != OK || !cmp.Equal(first.Files, []string{"cart/main.go"}) {
		t.Errorf("the applying cycle: %s %v, want ok for cart only", first.Outcome, first.Files)
	}
	if !cmp.Equal(second.Files, []string{"orders/main.go"}) {
		t.Errorf("the queued cycle's files %v, want orders/main.go", second.Files)
	}
}

func TestUnreachableRegistryRetriesWithBackoff(t *testing.T) {
	h := startLoop(t)
	h.ready()
	h.cluster.mu.Lock()
	h.cluster.pushErr = []error{errRefused, errRefused}
	h.cluster.mu.Unlock()
	h.cluster.set("//cart:deploy", "2")
	h.edit("cart/main.go", "v2")
	h.clock.Advance(debounce)
	if c := h.cycle(); c.Outcome != Retrying {
		t.Fatalf("outcome %s, want retrying", c.Outcome)
	}
	h.clock.waitTimer(t, time.Second)
	h.clock.Advance(time.Second) // first backoff
	if c := h.cycle(); c.Outcome != Retrying {
		t.Fatalf("second try: %s, want retrying", c.Outcome)
	}
	h.clock.waitTimer(t, 2*time.Second)
	h.clock.Advance(time.Second) // the backoff doubled: not yet
	h.clock.Advance(time.Second)
	c := h.cycle()
	if c.Outcome != OK || !cmp.Equal(c.Files, []string{"cart/main.go"}) {
		t.Errorf("third try: %s %v %v, want ok with cart/main.go", c.Outcome, c.Files, c.Errors)
	}
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

func containsState(r *fakeReporter, s State) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, x := range r.states {
		if x == s {
			return true
		}
	}
	return false
}

func statusOf(c *Cycle, target string) Deployable {
	for _, d := range c.Deployables {
		if d.Target == target {
			return d
		}
	}
	return Deployable{}
}

func TestGoneDeployableIsDeleted(t *testing.T) {
	h := startLoop(t)
	h.ready()
	h.ws.mu.Lock()
	g := shopGraph()
	delete(g.Rules, "//orders:deploy") // its package was deleted
	h.ws.graph = g
	h.ws.mu.Unlock()
	h.edit("orders/BUILD.bazel", "gone")
	h.clock.Advance(debounce)
	c := h.cycle()
	h.cluster.mu.Lock()
	deletes := append([]string(nil), h.cluster.deletes...)
	h.cluster.mu.Unlock()
	if diff := cmp.Diff([]string{"//orders:deploy"}, deletes); diff != "" {
		t.Errorf("deleted targets (-want +got):\n%s", diff)
	}
	if len(c.Applied) != 1 || c.Applied[0].Action != "deleted" || c.Applied[0].Name != "orders" {
		t.Errorf("applied %+v, want the orders Deployment deleted", c.Applied)
	}
	if diff := cmp.Diff([]string{"//cart:deploy"}, c.Affected); diff != "" {
		t.Errorf("affected (-want +got):\n%s", diff)
	}
}

func reportedApplied(r *fakeReporter, cycle int) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, n := range r.applied {
		if n == cycle {
			return true
		}
	}
	return false
}
