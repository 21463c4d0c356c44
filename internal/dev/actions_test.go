package dev

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/slipway-dev/slipway/internal/portforward"
)

// act sends an action and returns the loop's answer.
func (h *loopHarness) act(kind ActionKind, target string) error {
	h.t.Helper()
	reply := make(chan error, 1)
	h.actions <- Action{Kind: kind, Target: target, Reply: reply}
	select {
	case err := <-reply:
		return err
	case <-time.After(10 * time.Second):
		h.t.Fatal("the loop did not answer the action")
		return nil
	}
}

func TestTriggerRedeploysNow(t *testing.T) {
	h := startLoop(t)
	h.ready()
	if err := h.act(Trigger, "//cart:deploy"); err != nil {
		t.Fatal(err)
	}
	c := h.cycle()
	if c.Outcome != OK || !cmp.Equal(c.Affected, []string{"//cart:deploy"}) {
		t.Errorf("cycle %s affected %v, want cart", c.Outcome, c.Affected)
	}
	if diff := cmp.Diff(map[string][]string{"//cart:deploy": {"trigger"}}, c.Reasons); diff != "" {
		t.Errorf("reasons (-want +got):\n%s", diff)
	}
}

func TestActionOnUnknownTargetIsRefused(t *testing.T) {
	h := startLoop(t)
	h.ready()
	if err := h.act(Trigger, "//nope:deploy"); err == nil || !strings.Contains(err.Error(), "//nope:deploy") {
		t.Errorf("error %v, want one naming the target", err)
	}
}

func TestDisableDeletesAndSkipsUntilEnabled(t *testing.T) {
	h := startLoop(t)
	h.ready()
	if err := h.act(Disable, "//orders:deploy"); err != nil {
		t.Fatal(err)
	}
	c := h.cycle()
	h.cluster.mu.Lock()
	deletes := append([]string(nil), h.cluster.deletes...)
	h.cluster.mu.Unlock()
	if !cmp.Equal(deletes, []string{"//orders:deploy"}) || statusOf(c, "//orders:deploy").State != StateDisabled {
		t.Fatalf("deletes %v, orders %+v; want orders deleted and disabled", deletes, statusOf(c, "//orders:deploy"))
	}
	// A shared library change leaves it out.
	h.edit("lib/money/money.go", "v2")
	h.clock.Advance(debounce)
	if c := h.cycle(); !cmp.Equal(c.Affected, []string{"//cart:deploy"}) {
		t.Errorf("affected %v while orders is disabled, want cart alone", c.Affected)
	}
	if err := h.act(Trigger, "//orders:deploy"); err == nil {
		t.Error("triggering a disabled deployable was accepted")
	}
	if err := h.act(Enable, "//orders:deploy"); err != nil {
		t.Fatal(err)
	}
	c = h.cycle()
	if c.Outcome != OK || !cmp.Equal(c.Affected, []string{"//orders:deploy"}) || statusOf(c, "//orders:deploy").State != StateReady {
		t.Errorf("after enable: %s affected %v orders %+v", c.Outcome, c.Affected, statusOf(c, "//orders:deploy"))
	}
}

func TestReasonsNameTheChangedInputs(t *testing.T) {
	h := startLoop(t)
	h.ready()
	h.edit("lib/money/money.go", "v2")
	h.edit("orders/schema.json", "v2")
	h.clock.Advance(debounce)
	c := h.cycle()
	want := map[string][]string{
		"//cart:deploy":   {"lib/money/money.go"},
		"//orders:deploy": {"lib/money/money.go", "orders/schema.json"},
	}
	if diff := cmp.Diff(want, c.Reasons); diff != "" {
		t.Errorf("reasons (-want +got):\n%s", diff)
	}
}

func TestDeployableStateChangesAreReported(t *testing.T) {
	h := startLoop(t)
	h.ready()
	h.rep.mu.Lock()
	h.rep.deployables = nil
	h.rep.mu.Unlock()
	h.cluster.set("//cart:deploy", "2")
	h.edit("cart/main.go", "v2")
	h.clock.Advance(debounce)
	h.cycle()
	h.rep.mu.Lock()
	defer h.rep.mu.Unlock()
	var got []string
	for _, d := range h.rep.deployables {
		got = append(got, d.Target+" "+d.State)
	}
	want := []string{"//cart:deploy building", "//cart:deploy deploying", "//cart:deploy ready"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("state changes (-want +got):\n%s", diff)
	}
}

// A deployed target's forwards are opened and shown with it; disabling it closes
// them; a port that is taken is a problem and the loop goes on.
func TestForwardsFollowTheDeployment(t *testing.T) {
	h := newLoopHarness(t)
	cartFwd := portforward.Forward{Target: "//cart:deploy", Namespace: "dev", Spec: portforward.Spec{LocalPort: 8081, Kind: "deployment", Name: "cart", Port: "8080"}}
	ordersFwd := portforward.Forward{Target: "//orders:deploy", Namespace: "dev", Spec: portforward.Spec{LocalPort: 9999, Kind: "service", Name: "orders", Port: "http"}}
	h.cluster.forwards = map[string][]portforward.Forward{"//cart:deploy": {cartFwd}, "//orders:deploy": {ordersFwd}}
	h.forwards = &fakeForwarder{taken: map[int]bool{9999: true}, open: map[string][]portforward.Forward{}}
	h.run()
	c := h.cycle()
	if got, want := statusOf(c, "//cart:deploy").Forwards, []string{"http://127.0.0.1:8081 -> deployment/cart:8080"}; !cmp.Equal(got, want) {
		t.Errorf("cart's forwards = %v, want %v", got, want)
	}
	if got := statusOf(c, "//orders:deploy"); got.State != StateReady || len(got.Forwards) != 0 {
		t.Errorf("orders = %+v, want ready with no open forward", got)
	}
	h.rep.mu.Lock()
	problems := fmt.Sprint(h.rep.problems)
	h.rep.mu.Unlock()
	if !strings.Contains(problems, "local port 9999 is not free") {
		t.Errorf("problems %s, want the taken port named", problems)
	}
	if err := h.act(Disable, "//cart:deploy"); err != nil {
		t.Fatal(err)
	}
	c = h.cycle()
	h.forwards.mu.Lock()
	open := h.forwards.open["//cart:deploy"]
	h.forwards.mu.Unlock()
	if len(open) != 0 || len(statusOf(c, "//cart:deploy").Forwards) != 0 {
		t.Errorf("after disabling cart: open %v, shown %v; want none", open, statusOf(c, "//cart:deploy").Forwards)
	}
}
