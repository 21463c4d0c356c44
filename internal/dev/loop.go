package dev

import (
	"context"
	"sort"
	"time"

	"github.com/slipway-dev/slipway/internal/watch"
)

// Loop keeps deployables deployed as files change.
type Loop struct {
	Workspace Workspace
	Loader    Loader
	Cluster   Cluster
	Files     Files
	Clock     Clock
	Reporter  Reporter
	// Debounce is how long events must be quiet before a cycle pushes or
	// applies anything. The cycle's index and build start earlier, after a
	// tenth of it, and overlap the rest: a burst that goes on past the early
	// start cancels that build and coalesces into the next cycle, so the
	// cluster sees one cycle per burst while a single save costs no wait.
	Debounce time.Duration
	// MaxWait caps how long a stream of newer changes may hold back a change:
	// after it, a cycle starts whatever keeps coming, and is not canceled by
	// newer changes. Zero means no cap.
	MaxWait time.Duration
	// Disabled deployables are left out of cycles (and deleted from the
	// cluster) until an Enable action.
	Disabled []string
	// MinBackoff and MaxBackoff bound the wait before retrying a cycle that found
	// the cluster or registry unreachable.
	MinBackoff, MaxBackoff time.Duration
	// Forwards keeps deployed targets' port-forwards open (nil: none).
	Forwards Forwarder
	// Live syncs binaries of live-update images into running containers
	// (nil: every change is a full deploy). The Loader must rewrite the pod
	// templates for it (OutputLoader.Live).
	Live Syncer
}

// Run deploys everything, then keeps the cluster in step with the events it
// receives until ctx ends (Ctrl-C), which is the only way out.
func (l *Loop) Run(ctx context.Context, in Inputs) error {
	if l.Clock == nil {
		l.Clock = realClock{}
	}
	m := newMachine(ctx, l)
	m.needFull = true
	m.start(false, false)
	m.state = stRunning
	for {
		select {
		case <-ctx.Done():
			m.stop()
			return nil
		case ev := <-in.Files:
			m.onFile(ev)
		case <-m.earlyT:
			m.onEarly()
		case <-m.quietT:
			m.onQuiet(false)
		case <-m.maxT:
			m.onQuiet(true)
		case <-m.retryT:
			m.onRetry()
		case v := <-in.Vanished:
			m.onVanished(v)
		case a := <-in.Actions:
			m.onAction(a)
		case t := <-in.LiveStale:
			m.onLiveStale(t)
		case err := <-in.Problems:
			l.Reporter.Problem(err)
		case msg := <-m.msgs:
			m.onMsg(msg)
		case res := <-m.doneC():
			m.onDone(res)
		}
	}
}

// doneC is the running cycle's result channel (nil, never ready, when none runs).
func (m *machine) doneC() <-chan *cycleResult {
	if m.running == nil {
		return nil
	}
	return m.running.done
}

func anyGraphFile(changes []watch.Change) bool {
	for _, c := range changes {
		if IsGraphFile(c.Path) {
			return true
		}
	}
	return false
}

func paths(changes []watch.Change) []string {
	out := make([]string, 0, len(changes))
	for _, c := range changes {
		out = append(out, c.Path)
	}
	sort.Strings(out)
	return out
}

// merge joins change lists; for a path in both, the later change wins, except
// that a file created and then written is still a new file.
func merge(a, b []watch.Change) []watch.Change {
	idx := map[string]int{}
	var out []watch.Change
	for _, c := range append(append([]watch.Change(nil), a...), b...) {
		if i, ok := idx[c.Path]; ok {
			if out[i].Op == watch.Created && c.Op == watch.Written {
				c.Op = watch.Created
			}
			out[i] = c
			continue
		}
		idx[c.Path] = len(out)
		out = append(out, c)
	}
	return out
}
