package dev

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/slipway-dev/slipway/internal/liveupdate"
)

// startLiveLoop runs the loop over the shop graph with live update on cart's
// image (binary //cart:cart), and waits for the first full deploy.
func startLiveLoop(t *testing.T) *loopHarness {
	t.Helper()
	h := newLoopHarness(t)
	h.ws.dir = t.TempDir()
	h.syncer = &fakeSyncer{watched: map[string][]liveupdate.Synced{}, pods: []liveupdate.Pod{{Name: "cart-1", UID: "uid-1"}}}
	h.stale = make(chan string, 4)
	h.cluster.liveSyncs = map[string][]liveupdate.Sync{"//cart:deploy": {{
		Kind: "Deployment", Namespace: "dev", Name: "cart", Container: "cart",
		Image: liveupdate.Image{Label: "//cart:image", Binary: "//cart:cart", BinaryPath: "/app/cart", Digest: "sha256:1"},
	}}}
	h.run()
	h.ready()
	return h
}

func TestLiveUpdateSyncsTheBinaryAlone(t *testing.T) {
	h := startLiveLoop(t)
	h.edit("cart/main.go", "v2")
	h.clock.Advance(debounce)
	c := h.cycle()
	if c.Outcome != OK {
		t.Fatalf("cycle: %s %v", c.Outcome, c.Errors)
	}
	if diff := cmp.Diff([][]string{{"//cart:image"}}, h.builds()); diff != "" {
		t.Errorf("builds (-want +got):\n%s", diff)
	}
	if pushes, applies := h.cluster.snapshot(); len(pushes)+len(applies) > 0 {
		t.Errorf("a live update pushed %v and applied %v", pushes, applies)
	}
	syncs, _, watched := h.syncer.snapshot()
	if diff := cmp.Diff([]string{"cart 1"}, syncs); diff != "" { // the image target's first build
		t.Errorf("syncs (-want +got):\n%s", diff)
	}
	sum := "6b86b273ff34fce19d6b804eff5a3f5747ada4eaa22f1d49c01e52ddb7875b4b" // sha256("1")
	want := []DeployReport{{Target: "//cart:deploy", Mode: ModeLive, Digest: "sha256:1",
		Binaries: map[string]string{"//cart:cart": sum}, Pods: []liveupdate.Synced{{Pod: "cart-1", UID: "uid-1", Container: "cart", Restarts: 1}}}}
	if diff := cmp.Diff(want, c.Deploys); diff != "" {
		t.Errorf("deploys (-want +got):\n%s", diff)
	}
	if _, ok := c.PhaseMillis[Syncing]; !ok {
		t.Errorf("no sync phase: %v", c.PhaseMillis)
	}
	cart := deployableOf(t, c, "//cart:deploy")
	if cart.State != StateLive || cart.Digest != "sha256:1" || cart.LiveBinaries["//cart:cart"] != sum {
		t.Errorf("cart after the live update: %+v", cart)
	}
	if diff := cmp.Diff(want[0].Pods, watched["//cart:deploy"]); diff != "" {
		t.Errorf("watched pods (-want +got):\n%s", diff)
	}
}

func deployableOf(t *testing.T, c *Cycle, target string) Deployable {
	t.Helper()
	for _, d := range c.Deployables {
		if d.Target == target {
			return d
		}
	}
	t.Fatalf("%s is not in the cycle's deployables", target)
	return Deployable{}
}

func TestLiveUpdatePlans(t *testing.T) {
	tests := []struct {
		name       string
		edit       []string
		wantBuilds [][]string
		wantSyncs  []string
		wantPushes []string
		wantModes  []string // target mode why
	}{
		{
			name:       "YAML deploys the full image",
			edit:       []string{"cart/deploy.yaml"},
			wantBuilds: [][]string{{"//cart:deploy"}},
			wantPushes: []string{"//cart:image"},
			wantModes:  []string{"//cart:deploy full cart/deploy.yaml is an input of more than a live binary"},
		},
		{
			name:       "a shared library: live where the image allows, full elsewhere, one build",
			edit:       []string{"lib/money/money.go"},
			wantBuilds: [][]string{{"//cart:image", "//orders:deploy"}},
			wantSyncs:  []string{"cart 1"},
			wantPushes: []string{"//orders:image"},
			wantModes:  []string{"//cart:deploy live ", "//orders:deploy full "},
		},
		{
			name:       "a binary source and YAML together",
			edit:       []string{"cart/main.go", "cart/deploy.yaml"},
			wantBuilds: [][]string{{"//cart:deploy"}},
			wantPushes: []string{"//cart:image"},
			wantModes:  []string{"//cart:deploy full cart/deploy.yaml is an input of more than a live binary"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := startLiveLoop(t)
			h.cluster.set("//cart:deploy", "2")
			h.cluster.set("//orders:deploy", "2")
			for _, p := range tt.edit {
				h.edit(p, "v2")
			}
			h.clock.Advance(debounce)
			c := h.cycle()
			if c.Outcome != OK {
				t.Fatalf("cycle: %s %v", c.Outcome, c.Errors)
			}
			if diff := cmp.Diff(tt.wantBuilds, h.builds()); diff != "" {
				t.Errorf("builds (-want +got):\n%s", diff)
			}
			syncs, _, _ := h.syncer.snapshot()
			pushes, _ := h.cluster.snapshot()
			if diff := cmp.Diff(tt.wantSyncs, syncs, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("syncs (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantPushes, sorted(pushes), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("pushes (-want +got):\n%s", diff)
			}
			var modes []string
			for _, d := range c.Deploys {
				modes = append(modes, d.Target+" "+d.Mode+" "+d.Why)
			}
			if diff := cmp.Diff(tt.wantModes, sorted(modes)); diff != "" {
				t.Errorf("deploys (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLiveUpdateCompileErrorKeepsTheRunningCode(t *testing.T) {
	h := startLiveLoop(t)
	h.ws.mu.Lock()
	h.ws.broken["//cart:image"] = true
	h.ws.mu.Unlock()
	h.edit("cart/main.go", "v2")
	h.clock.Advance(debounce)
	c := h.cycle()
	if c.Outcome != BuildFailed || len(c.Errors) == 0 || !strings.Contains(c.Errors[0], "syntax error") {
		t.Fatalf("cycle: %s %v, want build-failed naming the error", c.Outcome, c.Errors)
	}
	syncs, _, _ := h.syncer.snapshot()
	pushes, applies := h.cluster.snapshot()
	if len(syncs)+len(pushes)+len(applies) > 0 {
		t.Errorf("a failed build synced %v, pushed %v, applied %v", syncs, pushes, applies)
	}
	if d := deployableOf(t, c, "//cart:deploy"); d.State != StateFailed {
		t.Errorf("cart: %+v, want failed", d)
	}
	// Fixed: live again, on top of the same image.
	h.ws.mu.Lock()
	delete(h.ws.broken, "//cart:image")
	h.ws.mu.Unlock()
	h.edit("cart/main.go", "v3")
	h.clock.Advance(debounce)
	if c := h.cycle(); c.Outcome != OK || len(c.Deploys) != 1 || c.Deploys[0].Mode != ModeLive {
		t.Errorf("after the fix: %s %v %+v, want a live update", c.Outcome, c.Errors, c.Deploys)
	}
}

func TestLiveSyncFailureDeploysTheFullImage(t *testing.T) {
	h := startLiveLoop(t)
	h.syncer.mu.Lock()
	h.syncer.pushErr = []error{fmt.Errorf("pod cart-1: %w: exec: no such file", liveupdate.ErrSync)}
	h.syncer.mu.Unlock()
	h.cluster.set("//cart:deploy", "2")
	h.edit("cart/main.go", "v2")
	h.clock.Advance(debounce)
	c := h.cycle()
	if len(c.Deploys) != 1 || c.Deploys[0].Mode != ModeLive || !strings.Contains(c.Deploys[0].Error, "no such file") {
		t.Fatalf("failed sync reported as %+v", c.Deploys)
	}
	next := h.cycle()
	if next.Outcome != OK || !cmp.Equal(next.Reasons["//cart:deploy"], []string{"live-sync-failed"}) {
		t.Fatalf("next cycle: %s %v reasons %v, want a full deploy for live-sync-failed", next.Outcome, next.Errors, next.Reasons)
	}
	if len(next.Deploys) != 1 || next.Deploys[0].Mode != ModeFull || next.Deploys[0].Why != "live-sync-failed" {
		t.Errorf("next cycle deploys %+v, want full because live-sync-failed", next.Deploys)
	}
	if pushes, _ := h.cluster.snapshot(); !cmp.Equal(pushes, []string{"//cart:image"}) {
		t.Errorf("pushed %v, want the cart image", pushes)
	}
	if _, _, watched := h.syncer.snapshot(); watched["//cart:deploy"] != nil {
		t.Errorf("a fully deployed target's pods are still watched as live: %v", watched)
	}
}

func TestReplacedLivePodIsSyncedAgain(t *testing.T) {
	h := startLiveLoop(t)
	h.edit("cart/main.go", "v2")
	h.clock.Advance(debounce)
	if c := h.cycle(); c.Outcome != OK {
		t.Fatalf("live cycle: %s %v", c.Outcome, c.Errors)
	}
	h.stale <- "//cart:deploy"
	c := h.cycle()
	if c.Outcome != OK || !cmp.Equal(c.Reasons["//cart:deploy"], []string{liveupdate.Resync}) {
		t.Fatalf("cycle: %s %v reasons %v", c.Outcome, c.Errors, c.Reasons)
	}
	if len(c.Deploys) != 1 || c.Deploys[0].Mode != ModeLive {
		t.Errorf("deploys %+v, want live", c.Deploys)
	}
	if syncs, _, _ := h.syncer.snapshot(); len(syncs) != 2 {
		t.Errorf("syncs %v, want the binary twice", syncs)
	}
	if pushes, applies := h.cluster.snapshot(); len(pushes)+len(applies) > 0 {
		t.Errorf("a resync pushed %v and applied %v", pushes, applies)
	}
}

func TestStaleSignalForATargetNotLiveIsIgnored(t *testing.T) {
	h := startLiveLoop(t)
	h.stale <- "//orders:deploy"
	h.stale <- "//cart:deploy" // not live-updated yet: its pods run its image
	select {
	case c := <-h.rep.cycles:
		t.Errorf("a cycle ran: %+v", c)
	default:
	}
}

func TestFullDeployAfterLiveResetsUnchangedPods(t *testing.T) {
	h := startLiveLoop(t)
	h.edit("cart/main.go", "v2")
	h.clock.Advance(debounce)
	h.cycle()
	// A trigger deploys the full image; its content (the fake's version) is
	// unchanged, so the apply replaces no pod: they must run the image again.
	reply := make(chan error, 1)
	h.actions <- Action{Kind: Trigger, Target: "//cart:deploy", Reply: reply}
	if err := <-reply; err != nil {
		t.Fatal(err)
	}
	c := h.cycle()
	if c.Outcome != OK || len(c.Deploys) != 1 || c.Deploys[0].Mode != ModeFull {
		t.Fatalf("cycle: %s %v deploys %+v", c.Outcome, c.Errors, c.Deploys)
	}
	if _, resets, _ := h.syncer.snapshot(); !cmp.Equal(resets, []string{"cart"}) {
		t.Errorf("resets %v, want cart's container", resets)
	}
	if d := deployableOf(t, c, "//cart:deploy"); d.State != StateReady || d.LiveBinaries != nil {
		t.Errorf("cart after the full deploy: %+v", d)
	}
}
