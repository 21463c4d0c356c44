package portforward

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakePods is a workload whose ready pod the test changes (a rollout).
type fakePods struct {
	mu    sync.Mutex
	ready string // the ready pod, "" when none
	// stale is a pod Ready still calls ready (the API has not caught up).
	stale string
	picks int
	// missed is closed when a Pick finds no ready pod.
	missed chan struct{}
}

func (p *fakePods) set(pod string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ready = pod
}

func (p *fakePods) Pick(ctx context.Context, f Forward) (Endpoint, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.picks++
	if p.ready == "" {
		if p.missed != nil {
			close(p.missed)
			p.missed = nil
		}
		return Endpoint{}, fmt.Errorf("%s has no ready pod", f.Spec)
	}
	port, _ := strconv.Atoi(f.Port)
	return Endpoint{Pod: p.ready, Port: port}, nil
}

func (p *fakePods) Ready(ctx context.Context, ns, pod string) (bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return pod == p.ready || pod == p.stale, nil
}

// fakeTunnel answers each connection with "<pod>:<port> <line read>", as an echo
// server in the pod would; pods in broken fail to open a stream.
type fakeTunnel struct {
	mu     sync.Mutex
	broken map[string]bool
	opened []string
}

func (t *fakeTunnel) Open(ctx context.Context, ns string, ep Endpoint) (Stream, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.broken[ep.Pod] {
		return nil, errors.New("error upgrading connection: pod not found")
	}
	t.opened = append(t.opened, ep.Pod)
	local, remote := net.Pipe()
	go func() {
		defer remote.Close()
		line, _ := bufio.NewReader(remote).ReadString('\n')
		fmt.Fprintf(remote, "%s:%d %s", ep.Pod, ep.Port, line)
	}()
	return &pipeStream{Conn: local}, nil
}

type pipeStream struct{ net.Conn }

func (s *pipeStream) CloseWrite() error { return nil }

func newTestManager(pods *fakePods, tunnel *fakeTunnel) (*Manager, *[]error) {
	var mu sync.Mutex
	var problems []error
	m := &Manager{Endpoints: pods, Tunnel: tunnel, Wait: 5 * time.Second, Poll: time.Millisecond,
		Problem: func(err error) { mu.Lock(); problems = append(problems, err); mu.Unlock() }}
	return m, &problems
}

// freePort returns a port nothing listens on right now.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func request(t *testing.T, port int, msg string) string {
	t.Helper()
	c, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "%s\n", msg)
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func testForward(port int) Forward {
	return Forward{Target: "//shop/frontend:deploy", Namespace: "shop", Spec: Spec{LocalPort: port, Kind: "deployment", Name: "frontend", Port: "8080"}}
}

// A rollout replaces the pod: the next connection goes to the new one, with no
// call from the loop.
func TestForwardFollowsTheReadyPod(t *testing.T) {
	pods, tunnel := &fakePods{ready: "frontend-1"}, &fakeTunnel{}
	m, problems := newTestManager(pods, tunnel)
	defer m.Close()
	port := freePort(t)
	if st := m.Set("//shop/frontend:deploy", []Forward{testForward(port)}); st[0].Err != nil {
		t.Fatal(st[0].Err)
	}
	if got, want := request(t, port, "a"), "frontend-1:8080 a"; got != want {
		t.Errorf("first connection: got %q, want %q", got, want)
	}
	if got, want := request(t, port, "b"), "frontend-1:8080 b"; got != want {
		t.Errorf("second connection: got %q, want %q", got, want)
	}
	if pods.picks != 1 {
		t.Errorf("picked %d times for a pod that stayed ready, want 1", pods.picks)
	}
	pods.set("frontend-2")
	if got, want := request(t, port, "c"), "frontend-2:8080 c"; got != want {
		t.Errorf("after the rollout: got %q, want %q", got, want)
	}
	if len(*problems) != 0 {
		t.Errorf("problems: %v", *problems)
	}
}

// While no pod is ready a connection waits; it is served once one is.
func TestForwardWaitsForAReadyPod(t *testing.T) {
	missed := make(chan struct{})
	pods, tunnel := &fakePods{missed: missed}, &fakeTunnel{}
	m, _ := newTestManager(pods, tunnel)
	defer m.Close()
	port := freePort(t)
	m.Set("//shop/frontend:deploy", []Forward{testForward(port)})
	got := make(chan string)
	go func() { got <- request(t, port, "x") }()
	<-missed // the connection asked for a pod and found none
	pods.set("frontend-3")
	if g, want := <-got, "frontend-3:8080 x"; g != want {
		t.Errorf("got %q, want %q", g, want)
	}
}

// A pod that cannot be reached (deleted between Ready and Open) is forgotten and
// the same connection goes to the next ready pod.
func TestForwardRetriesAnotherPod(t *testing.T) {
	pods, tunnel := &fakePods{ready: "frontend-1"}, &fakeTunnel{broken: map[string]bool{}}
	m, _ := newTestManager(pods, tunnel)
	defer m.Close()
	port := freePort(t)
	m.Set("//shop/frontend:deploy", []Forward{testForward(port)})
	request(t, port, "warm")
	tunnel.mu.Lock()
	tunnel.broken["frontend-1"] = true
	tunnel.mu.Unlock()
	// Ready still says yes for frontend-1 (the API has not caught up): Open
	// fails, the pod is forgotten, and the retry picks again.
	pods.mu.Lock()
	pods.ready, pods.stale = "frontend-2", "frontend-1"
	pods.mu.Unlock()
	if got, want := request(t, port, "y"), "frontend-2:8080 y"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestSetReportsATakenPortAndKeepsTheOthers(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	busy := taken.Addr().(*net.TCPAddr).Port
	pods, tunnel := &fakePods{ready: "frontend-1"}, &fakeTunnel{}
	m, _ := newTestManager(pods, tunnel)
	defer m.Close()
	free := freePort(t)
	st := m.Set("//shop/frontend:deploy", []Forward{testForward(busy), testForward(free)})
	var failed Status
	for _, s := range st {
		if s.LocalPort == busy {
			failed = s
		} else if s.Err != nil {
			t.Errorf("free port %d: %v", free, s.Err)
		}
	}
	if failed.Err == nil || !strings.Contains(failed.Err.Error(), fmt.Sprintf("local port %d is not free", busy)) || !strings.Contains(failed.Err.Error(), "//shop/frontend:deploy") {
		t.Errorf("taken port: got %v, want an error naming port %d and the target", failed.Err, busy)
	}
	if got, want := request(t, free, "z"), "frontend-1:8080 z"; got != want {
		t.Errorf("the other forward: got %q, want %q", got, want)
	}
	// Once the port is free, setting the same forwards again opens it.
	taken.Close()
	for _, s := range m.Set("//shop/frontend:deploy", []Forward{testForward(busy), testForward(free)}) {
		if s.Err != nil {
			t.Errorf("after the port was freed: %v", s.Err)
		}
	}
	if got, want := request(t, busy, "w"), "frontend-1:8080 w"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestSetClosesRemovedForwardsAndRefusesAnotherTargetsPort(t *testing.T) {
	pods, tunnel := &fakePods{ready: "frontend-1"}, &fakeTunnel{}
	m, _ := newTestManager(pods, tunnel)
	defer m.Close()
	port := freePort(t)
	m.Set("//shop/frontend:deploy", []Forward{testForward(port)})
	other := testForward(port)
	other.Target = "//shop/orders:deploy"
	st := m.Set(other.Target, []Forward{other})
	if st[0].Err == nil || !strings.Contains(st[0].Err.Error(), "already forwarded by //shop/frontend:deploy") {
		t.Errorf("second target on the same port: got %v", st[0].Err)
	}
	m.Set("//shop/frontend:deploy", nil)
	if c, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port))); err == nil {
		c.Close()
		t.Errorf("port %d still listens after its forward was removed", port)
	}
}
