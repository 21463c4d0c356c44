package kube

import (
	"context"
	"errors"
	"net/url"
	"syscall"
	"testing"
	"time"

	"github.com/fluxcd/cli-utils/pkg/kstatus/status"
	"github.com/google/go-cmp/cmp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	clocktesting "k8s.io/utils/clock/testing"
)

// steppingClock moves its time forward by d whenever someone waits for d: a wait
// takes no real time, and the deadline is reached in a known number of polls.
type steppingClock struct{ *clocktesting.FakeClock }

func (c steppingClock) After(d time.Duration) <-chan time.Time {
	c.Step(d)
	ch := make(chan time.Time, 1)
	ch <- c.Now()
	return ch
}

// scriptedProbe answers each poll of an object with the next of its results
// (the last one repeating); a result is a status or an error.
type scriptedProbe struct {
	script map[string][]any
	calls  map[string]int
}

func (p *scriptedProbe) probe(_ context.Context, ref Ref) (Readiness, error) {
	results := p.script[ref.Name]
	i := min(p.calls[ref.Name], len(results)-1)
	p.calls[ref.Name]++
	switch r := results[i].(type) {
	case error:
		return Readiness{}, r
	case status.Status:
		return Readiness{Ref: ref, Status: r}, nil
	}
	panic("bad script")
}

func TestWaitReady(t *testing.T) {
	refused := &url.Error{Op: "Get", URL: "https://127.0.0.1:6443", Err: syscall.ECONNREFUSED}
	forbidden := apierrors.NewForbidden(schema.GroupResource{Resource: "deployments"}, "a", errors.New("no"))
	tests := []struct {
		name    string
		script  map[string][]any
		want    map[string]status.Status
		wantErr string // "", "timeout", "failed", or the error's text
	}{
		{"ready after a transient GET failure", map[string][]any{"a": {refused, refused, status.InProgressStatus, status.CurrentStatus}, "b": {status.CurrentStatus}},
			map[string]status.Status{"a": status.CurrentStatus, "b": status.CurrentStatus}, ""},
		{"unreachable until the deadline", map[string][]any{"a": {refused}},
			map[string]status.Status{"a": status.UnknownStatus}, "timeout"},
		{"never ready", map[string][]any{"a": {status.InProgressStatus}, "b": {status.CurrentStatus}},
			map[string]status.Status{"a": status.InProgressStatus, "b": status.CurrentStatus}, "timeout"},
		{"failed", map[string][]any{"a": {status.InProgressStatus, status.FailedStatus}},
			map[string]status.Status{"a": status.FailedStatus}, "failed"},
		{"a permanent GET failure ends the wait", map[string][]any{"a": {status.InProgressStatus, forbidden}},
			nil, forbidden.Error()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &scriptedProbe{script: tt.script, calls: map[string]int{}}
			clk := steppingClock{clocktesting.NewFakeClock(time.Unix(0, 0))}
			var changes int
			w := &readyWaiter{probe: p.probe, clock: clk, timeout: time.Minute, interval: time.Second, onChange: func(Readiness) { changes++ }}
			var refs []Ref
			for _, name := range []string{"a", "b"} {
				if tt.script[name] != nil {
					refs = append(refs, Ref{Kind: "Deployment", Namespace: "ns", Name: name})
				}
			}
			got, err := w.wait(context.Background(), refs)
			gotErr := ""
			var nr *NotReadyError
			switch {
			case errors.As(err, &nr) && nr.Timeout:
				gotErr = "timeout"
			case errors.As(err, &nr):
				gotErr = "failed"
			case err != nil:
				gotErr = err.Error()
			}
			if gotErr != tt.wantErr {
				t.Fatalf("error %q (%v), want %q", gotErr, err, tt.wantErr)
			}
			var statuses map[string]status.Status
			if got != nil {
				statuses = map[string]status.Status{}
				for _, r := range got {
					statuses[r.Ref.Name] = r.Status
				}
			}
			if d := cmp.Diff(tt.want, statuses); d != "" {
				t.Errorf("readiness (-want +got):\n%s", d)
			}
			if gotErr == "timeout" && clk.Now().Sub(time.Unix(0, 0)) < time.Minute {
				t.Errorf("gave up after %s of a 1m timeout", clk.Now().Sub(time.Unix(0, 0)))
			}
			if changes == 0 {
				t.Error("onChange never called")
			}
		})
	}
}
