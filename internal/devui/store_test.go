package devui

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/slipway-dev/slipway/internal/dev"
	"github.com/slipway-dev/slipway/internal/kube"
)

func eventTypes(t *testing.T, ch <-chan Event, n int) []string {
	t.Helper()
	var out []string
	for range n {
		select {
		case ev := <-ch:
			out = append(out, ev.Type)
		case <-time.After(5 * time.Second):
			t.Fatalf("only %d of %d events: %v", len(out), n, out)
		}
	}
	return out
}

func TestEventsComeInTheOrderOfTheReporterCalls(t *testing.T) {
	s := NewStore()
	_, ch, cancel := s.Subscribe()
	defer cancel()
	s.State(dev.Building, "//a:deploy")
	s.Deployable(dev.Deployable{Target: "//a:deploy", State: dev.StateBuilding})
	s.Log("//a:deploy", "pod", "[a/app] hello")
	s.CycleDone(&dev.Cycle{N: 1, Outcome: dev.OK, Affected: []string{"//a:deploy"},
		Deployables: []dev.Deployable{{Target: "//a:deploy", State: dev.StateReady}}})
	got := eventTypes(t, ch, 6)
	want := []string{"state", "resource", "log", "log", "resource", "cycle"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	snap := s.Snapshot()
	if snap.Seq != 6 || len(snap.Resources) != 1 || snap.Resources[0].State != dev.StateReady || snap.Resources[0].LastCycle != 1 {
		t.Errorf("snapshot %+v", snap)
	}
}

func TestSequenceNumbersIncrease(t *testing.T) {
	s := NewStore()
	_, ch, cancel := s.Subscribe()
	defer cancel()
	for i := range 100 {
		s.Log("", "loop", strings.Repeat("x", i))
	}
	var last int64
	for range 100 {
		ev := <-ch
		if ev.Seq != last+1 || ev.Data.(LogLine).Seq != ev.Seq {
			t.Fatalf("event %d after %d (line seq %d)", ev.Seq, last, ev.Data.(LogLine).Seq)
		}
		last = ev.Seq
	}
}

func TestAStalledSubscriberIsDroppedNotWaitedFor(t *testing.T) {
	s := NewStore()
	_, stalled, cancelStalled := s.subscribe(10)
	defer cancelStalled()
	_, live, cancelLive := s.Subscribe()
	defer cancelLive()
	done := make(chan struct{})
	go func() { // the loop: it must never wait for the stalled subscriber
		for range 1000 {
			s.Log("//a:deploy", "pod", "line")
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the reporter blocked on a stalled subscriber")
	}
	n := 0
	for range stalled {
		n++
	}
	if n != 10 {
		t.Errorf("the stalled subscriber got %d events before it was dropped, want its buffer's 10", n)
	}
	if got := len(live); got != 1000 {
		t.Errorf("the live subscriber has %d events, want 1000", got)
	}
	if got := s.Subscribers(); got != 1 {
		t.Errorf("%d subscribers, want the live one", got)
	}
}

func TestBuildErrorsGoToTheTargetsLog(t *testing.T) {
	s := NewStore()
	s.CycleDone(&dev.Cycle{N: 2, Outcome: dev.BuildFailed, Affected: []string{"//a:deploy", "//b:deploy"},
		Errors:      []string{"//a:deploy: a/main.go:12:5: undefined: x"},
		Deployables: []dev.Deployable{{Target: "//a:deploy", State: dev.StateFailed}, {Target: "//b:deploy", State: dev.StateReady}}})
	var got []string
	for _, l := range s.Logs("//a:deploy", 0) {
		got = append(got, l.Source+" "+l.Text)
	}
	if diff := cmp.Diff([]string{"build //a:deploy: a/main.go:12:5: undefined: x"}, got); diff != "" {
		t.Errorf("a's log (-want +got):\n%s", diff)
	}
	if l := s.Logs("//b:deploy", 0); len(l) != 0 {
		t.Errorf("b's log: %v", l)
	}
	if r := s.Resources(); r[0].Errors != 1 || r[1].Errors != 0 {
		t.Errorf("errors counted: %+v", r)
	}
}

func TestDetailRendersTheAppliedObject(t *testing.T) {
	s := NewStore()
	desired := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": "cfg", "namespace": "ns", "resourceVersion": "7"}, "data": map[string]any{"k": "v2"}}}
	live := desired.DeepCopy()
	_ = unstructured.SetNestedField(live.Object, "v1", "data", "k")
	ch := kube.Change{Ref: kube.Ref{Kind: "ConfigMap", Namespace: "ns", Name: "cfg"}, Action: kube.Configured, Live: live, Desired: desired}
	s.Applied(1, []dev.ObjectReport{{Target: "//a:deploy", Kind: "ConfigMap", Name: "cfg", Action: "configured", Change: &ch}}, 0)
	d, ok := s.Detail("//a:deploy")
	if !ok || len(d.Objects) != 1 {
		t.Fatalf("detail %+v", d)
	}
	wantYAML := "apiVersion: v1\ndata:\n  k: v2\nkind: ConfigMap\nmetadata:\n  name: cfg\n  namespace: ns\n"
	if diff := cmp.Diff(wantYAML, d.Objects[0].YAML); diff != "" {
		t.Errorf("yaml (-want +got):\n%s", diff)
	}
	if !strings.Contains(d.Objects[0].Diff, "-  k: v1\n+  k: v2") {
		t.Errorf("diff:\n%s", d.Objects[0].Diff)
	}
}

// sseClient reads a server-sent event stream.
func sseClient(t *testing.T, url string) *bufio.Scanner {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return bufio.NewScanner(resp.Body)
}

func nextEvent(t *testing.T, sc *bufio.Scanner) (string, string) {
	t.Helper()
	var typ, data string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			typ = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			data = strings.TrimPrefix(line, "data: ")
		case line == "" && typ != "":
			return typ, data
		}
	}
	t.Fatalf("stream ended: %v", sc.Err())
	return "", ""
}

func TestStreamStartsWithASnapshotThenChanges(t *testing.T) {
	s := NewStore()
	s.Deployable(dev.Deployable{Target: "//a:deploy", State: dev.StateReady})
	srv := httptest.NewServer(&Server{Store: s})
	t.Cleanup(srv.Close) // after the stream's body is closed
	sc := sseClient(t, srv.URL+"/api/v1/events")
	typ, data := nextEvent(t, sc)
	var snap Snapshot
	if typ != "snapshot" || json.Unmarshal([]byte(data), &snap) != nil || len(snap.Resources) != 1 {
		t.Fatalf("first event %s %s", typ, data)
	}
	s.Deployable(dev.Deployable{Target: "//a:deploy", State: dev.StateBuilding})
	typ, data = nextEvent(t, sc)
	if typ != "resource" || !strings.Contains(data, `"state":"building"`) {
		t.Errorf("next event %s %s", typ, data)
	}
}

func TestActionsGoToTheLoopAndItsAnswerComesBack(t *testing.T) {
	actions := make(chan dev.Action)
	go func() {
		for a := range actions {
			if a.Target == "//a:deploy" {
				a.Reply <- nil
			} else {
				a.Reply <- errors.New(a.Target + " is not one of the loop's deployables")
			}
		}
	}()
	defer close(actions)
	srv := httptest.NewServer(&Server{Store: NewStore(), Actions: actions})
	defer srv.Close()
	for _, tc := range []struct {
		target string
		code   int
	}{{"//a:deploy", 200}, {"//nope:deploy", 409}} {
		resp, err := http.Post(srv.URL+"/api/v1/actions", "application/json", strings.NewReader(`{"action":"trigger","target":"`+tc.target+`"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.code {
			t.Errorf("%s: status %d, want %d", tc.target, resp.StatusCode, tc.code)
		}
	}
}

func TestButtonOutputAndExitStatus(t *testing.T) {
	s := NewStore()
	srv := &Server{Store: s, Buttons: map[string]string{"hello": "//tools:hello"},
		Run: func(_ context.Context, target string, out io.Writer) error {
			_, _ = out.Write([]byte("hello from " + target + "\n"))
			return nil
		}}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	_, ch, cancel := s.Subscribe()
	defer cancel()
	resp, err := http.Post(ts.URL+"/api/v1/buttons/hello", "", nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("%v %v", err, resp.Status)
	}
	for ev := range ch {
		if b, ok := ev.Data.(Button); ok && !b.Running && b.ExitCode != nil {
			break
		}
	}
	var got []string
	for _, l := range s.Logs("button:hello", 0) {
		got = append(got, l.Text)
	}
	want := []string{"$ bazel run //tools:hello", "hello from //tools:hello", "", "exit status 0"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("button log (-want +got):\n%s", diff)
	}
}

func TestLiveUpdatedDeployableAndCycle(t *testing.T) {
	s := NewStore()
	live := dev.Deployable{Target: "//a:deploy", State: dev.StateLive, Digest: "sha256:base", LiveBinaries: map[string]string{"//a:a": "abc"}}
	deploys := []dev.DeployReport{{Target: "//a:deploy", Mode: dev.ModeLive, Digest: "sha256:base", Binaries: map[string]string{"//a:a": "abc"}}}
	s.CycleDone(&dev.Cycle{N: 2, Outcome: dev.OK, Affected: []string{"//a:deploy"}, Deploys: deploys, Deployables: []dev.Deployable{live}})
	r := s.Resources()
	if len(r) != 1 || r[0].State != dev.StateLive || r[0].Digest != "sha256:base" || r[0].LiveBinaries["//a:a"] != "abc" || r[0].Errors != 0 {
		t.Errorf("resources %+v, want //a:deploy live-updated on sha256:base", r)
	}
	c := s.Cycles()
	if len(c) != 1 || c[0].States["//a:deploy"] != dev.StateLive {
		t.Fatalf("cycles %+v", c)
	}
	if diff := cmp.Diff(deploys, c[0].Deploys); diff != "" {
		t.Errorf("cycle deploys (-want +got):\n%s", diff)
	}
}
