package portforward

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"
)

// Manager keeps the forwards of every deployable open. The dev loop tells it a
// deployable's forwards after each deploy of it (Set) and none when it goes away;
// everything else (picking pods, following rollouts) happens per connection.
type Manager struct {
	Endpoints Endpoints
	Tunnel    Tunnel
	// Problem receives failures of single connections (nil: dropped). It must not
	// block.
	Problem func(error)
	// Wait bounds how long a new connection waits for a ready pod (default 30s);
	// Poll is how often it looks meanwhile (default 100ms).
	Wait, Poll time.Duration

	mu       sync.Mutex
	byTarget map[string][]*forwarder
}

// Status is one forward after Set: open, or why not.
type Status struct {
	Forward
	Err error
}

// Set makes target's open forwards exactly fs: new ones are opened, gone ones
// closed, unchanged ones keep their listener and connections. A local port that
// is not free fails that forward only; Set opens it again when called again.
func (m *Manager) Set(target string, fs []Forward) []Status {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.byTarget == nil {
		m.byTarget = map[string][]*forwarder{}
	}
	want := map[Forward]bool{}
	for _, f := range fs {
		want[f] = true
	}
	var kept []*forwarder
	have := map[Forward]bool{}
	for _, fw := range m.byTarget[target] {
		if want[fw.f] {
			kept = append(kept, fw)
			have[fw.f] = true
			continue
		}
		fw.stop()
	}
	var statuses []Status
	for _, f := range fs {
		if have[f] {
			statuses = append(statuses, Status{Forward: f})
			continue
		}
		fw, err := m.open(f)
		if err != nil {
			statuses = append(statuses, Status{Forward: f, Err: err})
			continue
		}
		kept = append(kept, fw)
		statuses = append(statuses, Status{Forward: f})
	}
	sort.Slice(statuses, func(i, j int) bool { return statuses[i].LocalPort < statuses[j].LocalPort })
	if len(kept) == 0 {
		delete(m.byTarget, target)
	} else {
		m.byTarget[target] = kept
	}
	return statuses
}

// open starts serving one forward, refusing a port another deployable forwards.
func (m *Manager) open(f Forward) (*forwarder, error) {
	for other, fws := range m.byTarget {
		for _, fw := range fws {
			if fw.f.LocalPort == f.LocalPort && other != f.Target {
				return nil, fmt.Errorf("port-forward %s: local port %d is already forwarded by %s", f, f.LocalPort, other)
			}
		}
	}
	ln, err := listen(f)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	fw := &forwarder{f: f, ln: ln, endpoints: m.Endpoints, tunnel: m.Tunnel,
		wait: orDefault(m.Wait, 30*time.Second), poll: orDefault(m.Poll, 100*time.Millisecond),
		problem: m.problem, ctx: ctx, cancel: cancel}
	fw.done.Add(1)
	go fw.serve()
	return fw, nil
}

func (m *Manager) problem(err error) {
	if m.Problem != nil {
		m.Problem(err)
	}
}

// Close stops every forward.
func (m *Manager) Close() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for t, fws := range m.byTarget {
		for _, fw := range fws {
			fw.stop()
		}
		delete(m.byTarget, t)
	}
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}
