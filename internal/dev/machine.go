package dev

import (
	"context"
	"fmt"
	"maps"
	"time"

	"github.com/slipway-dev/slipway/internal/kube"
	"github.com/slipway-dev/slipway/internal/liveupdate"
	"github.com/slipway-dev/slipway/internal/portforward"
	"github.com/slipway-dev/slipway/internal/watch"
)

// The loop is a state machine. Its states and every transition are in this file;
// one goroutine (Run's) owns all of it, and a cycle runs in a goroutine of its
// own that reports back through messages and its result.
//
//	state     event                          → state     what happens
//	Idle      file (relevant)                → Settling  arm quiet, max-wait and early timers
//	Idle      vanished                         → Running   cycle for the drifted targets
//	Settling  file                           → Settling  re-arm quiet
//	Settling  early timer, changes settled   → Early     cycle starts (index, build) before the quiet
//	Settling  quiet/max-wait, changes        → Running   cycle starts
//	Settling  quiet/max-wait, nothing real   → Idle
//	Early     file                           → Early     re-arm quiet
//	Early     quiet, nothing new             → Running   the cycle may push and apply now
//	Early     quiet, more changes            → Running   cancel it: it comes back canceled and its changes join the next
//	Running   file                           → Running   re-arm quiet; the changes wait
//	Running   quiet, cycle index/build/push  → Running   cancel it (unless max-wait forced it): its changes join the next
//	Running   quiet, cycle waits for ready   → Running   cancel the wait: the next cycle looks at readiness again
//	Running   max-wait                       → Running   the next cycle starts as soon as this one ends, quiet or not
//	Running   cycle done                     → Running   next cycle, when changes wait and are quiet
//	Running   cycle done, unreachable        → Backoff   arm retry timer (doubling up to MaxBackoff)
//	Running   cycle done, nothing waits      → Settling or Idle
//	Backoff   quiet, changes                 → Running   a change cuts the backoff short
//	Backoff   retry timer                    → Running   retry with the failed cycle's changes
//	any       vanished                       → (same)    its target is redeployed by the next cycle
//	Idle      live pod stale                 → Running   cycle syncs the target's binaries again (reason live-resync)
//	any       live pod stale                 → (same)    the next cycle syncs them again
//	Running   cycle done, a live sync failed → Running   next cycle deploys that target's full image (reason live-sync-failed)
//
// Within a cycle, the planner (liveupdate.Decide) sends each affected target
// either down the full path (build image, push, apply, wait) or the live path
// (build its binaries, sync them into the running containers): see live.go.
//
// "file" events are filtered before they touch any timer (world.relevant): a file
// no deployable uses, being written to, never delays a cycle. The max-wait timer
// caps how long relevant changes can be held back by a stream of newer ones.
type machineState int

const (
	stIdle     machineState = iota // nothing pending, no cycle
	stSettling                     // changes pending, no cycle: waiting for the quiet
	stEarly                        // a cycle indexes and builds before the quiet, then waits for it
	stRunning                      // a cycle runs; newer changes wait (or cancel it while it only reads)
	stBackoff                      // the cluster or registry was unreachable: retry later
)

func (s machineState) String() string {
	return [...]string{"idle", "settling", "early", "running", "backoff"}[s]
}

// machine is the loop's state, owned by Run's goroutine.
type machine struct {
	l     *Loop
	ctx   context.Context
	state machineState
	world *world

	pending      map[string]bool   // relevant raw paths, not settled yet
	carry        []watch.Change    // settled changes waiting for a cycle
	needFull     bool              // the next cycle deploys every deployable
	forceNext    bool              // changes have waited MaxWait: the next cycle starts without waiting for a quiet
	dirty        map[string]string // targets to redeploy whatever the files say, and why
	cycles       int               // cycles reported so far
	readySent    bool
	backoff      time.Duration
	quietT       <-chan time.Time
	earlyT       <-chan time.Time
	maxT         <-chan time.Time
	retryT       <-chan time.Time
	running      *runningCycle
	msgs         chan cycleMsg
	shownState   State
	shownDetails string
}

// runningCycle is the cycle in flight.
type runningCycle struct {
	in     cycleInput
	cancel context.CancelFunc
	done   chan *cycleResult
	quiet  chan struct{} // closed once the cycle may write; nil for a committed cycle
	phase  State
}

func newMachine(ctx context.Context, l *Loop) *machine {
	return &machine{l: l, ctx: ctx, world: newWorld(l.Disabled), pending: map[string]bool{}, dirty: map[string]string{},
		backoff: l.MinBackoff, msgs: make(chan cycleMsg)}
}

// onFile takes a raw file event.
func (m *machine) onFile(ev watch.Event) {
	if !m.world.relevant(ev) {
		return
	}
	if len(m.pending) == 0 && m.maxT == nil && m.l.MaxWait > 0 {
		m.maxT = m.l.Clock.After(m.l.MaxWait)
	}
	m.pending[ev.Path] = true
	m.quietT = m.l.Clock.After(m.l.Debounce) // the quiet starts again
	if m.state == stIdle {
		if early := m.l.Debounce / 10; early > 0 {
			m.earlyT = m.l.Clock.After(early)
		}
		m.state = stSettling
	}
	m.show()
}

// onEarly starts building before the quiet, so a single save costs no wait.
func (m *machine) onEarly() {
	m.earlyT = nil
	if m.state != stSettling {
		return
	}
	m.settle()
	if len(m.carry) == 0 {
		return
	}
	m.start(true, false)
	m.state = stEarly
}

// onQuiet settles the pending changes once events have been quiet for the
// debounce (forced: once the oldest has waited MaxWait, whatever comes after).
func (m *machine) onQuiet(forced bool) {
	if forced {
		m.maxT = nil
	} else {
		m.quietT = nil
	}
	m.settle()
	if !forced && m.quietT == nil {
		m.maxT = nil // nothing is pending any more
	}
	switch m.state {
	case stSettling, stBackoff:
		if len(m.carry) > 0 || len(m.dirty) > 0 {
			m.retryT = nil
			m.start(false, forced)
			m.state = stRunning
		} else if m.state == stSettling {
			m.state = stIdle
		}
	case stEarly:
		if len(m.carry) == 0 {
			close(m.running.quiet) // the early cycle's changes were the whole burst
			m.running.quiet = nil
		} else {
			m.running.cancel()
			m.forceNext = m.forceNext || forced
		}
		m.state = stRunning
	case stRunning:
		if len(m.carry) > 0 && m.running.phase.cancellable() && !m.running.in.forced && m.running.quiet == nil {
			m.running.cancel()
		}
		m.forceNext = m.forceNext || (forced && len(m.carry) > 0)
	}
	m.show()
}

// onDone takes in a finished cycle and starts the next one if changes wait.
func (m *machine) onDone(res *cycleResult) {
	early := m.running.quiet != nil
	m.running.cancel()
	m.running = nil
	m.record(res)
	switch {
	case res.canceled && early:
		m.requeue(res.input) // superseded before it could deploy: not a cycle anyone saw
		m.cycles--
	case res.canceled:
		m.requeue(res.input)
		m.report(res)
	case res.retry:
		m.requeue(res.input)
		m.report(res)
		m.retryT = m.l.Clock.After(m.backoff)
		m.backoff = min(m.backoff*2, m.l.MaxBackoff)
		m.state = stBackoff
		m.show()
		return
	default:
		m.backoff = m.l.MinBackoff
		for _, t := range res.recheck { // a newer change cut the wait short: look again
			m.dirty[t] = "recheck"
		}
		m.restoreTransient()
		m.report(res)
	}
	m.next()
}

// onRetry retries the cycle that found the cluster unreachable.
func (m *machine) onRetry() {
	m.retryT = nil
	if m.state == stBackoff {
		m.start(false, false)
		m.state = stRunning
	}
}

// onVanished queues a target whose objects someone else deleted.
func (m *machine) onVanished(v kube.Vanished) {
	if _, ok := m.world.deployments[v.Owner]; !ok {
		return
	}
	m.dirty[v.Owner] = "vanished"
	if m.state == stIdle {
		m.start(false, false)
		m.state = stRunning
	}
}

// onLiveStale queues a live-updated target one of whose pods runs none of the
// synced binaries (it replaced a synced pod): the next cycle syncs it again.
func (m *machine) onLiveStale(target string) {
	if d := m.world.deployments[target]; d == nil || d.live == nil {
		return
	}
	m.dirty[target] = liveupdate.Resync
	if m.state == stIdle {
		m.start(false, false)
		m.state = stRunning
	}
}

// onMsg takes a running cycle's progress.
func (m *machine) onMsg(msg cycleMsg) {
	switch {
	case msg.phase != "":
		if m.running != nil {
			m.running.phase = msg.phase
		}
		m.showState(msg.phase, msg.detail)
	case msg.status != nil:
		m.l.Reporter.Deployable(m.world.setStatus(*msg.status, m.l.Clock.Now()))
	case msg.applied != nil:
		m.l.Reporter.Applied(msg.applied.cycle, msg.applied.objects, msg.applied.sinceStart)
	}
}

// onAction takes a request from the UI or its API, and answers it.
func (m *machine) onAction(a Action) {
	err := m.act(a)
	if a.Reply != nil {
		a.Reply <- err
	}
}

func (m *machine) act(a Action) error {
	if m.world.index == nil || !m.world.index.IsDeployable(a.Target) {
		return fmt.Errorf("%s is not one of the loop's deployables", a.Target)
	}
	switch a.Kind {
	case Trigger:
		if m.world.disabled[a.Target] {
			return fmt.Errorf("%s is disabled: enable it first", a.Target)
		}
		m.dirty[a.Target] = "trigger"
	case Disable:
		m.world.disabled[a.Target] = true
		m.dirty[a.Target] = "disabled" // the cycle deletes what it deployed
	case Enable:
		if !m.world.disabled[a.Target] {
			return nil
		}
		delete(m.world.disabled, a.Target)
		m.dirty[a.Target] = "enabled"
	default:
		return fmt.Errorf("unknown action %q", a.Kind)
	}
	m.l.Reporter.Deployable(m.world.status(a.Target))
	if m.state == stIdle {
		m.start(false, false)
		m.state = stRunning
	}
	return nil
}

// restoreTransient puts targets a canceled cycle left building or deploying
// back in their last final state, telling the reporter.
func (m *machine) restoreTransient() {
	for _, d := range m.world.restoreTransient() {
		m.l.Reporter.Deployable(d)
	}
}

// next starts a cycle for what waits, unless a quiet (when changes have not
// waited MaxWait yet) or a retry is pending.
func (m *machine) next() {
	switch {
	case (len(m.carry) > 0 || m.needFull || len(m.dirty) > 0) && (m.quietT == nil || m.forceNext) && m.retryT == nil:
		m.start(false, m.forceNext)
		m.forceNext = false
		m.state = stRunning
	case m.quietT != nil:
		m.state = stSettling
	default:
		m.state = stIdle
	}
	m.show()
}

// settle turns the pending raw paths into content changes, added to carry.
func (m *machine) settle() {
	if len(m.pending) == 0 {
		return
	}
	paths := make([]string, 0, len(m.pending))
	for p := range m.pending {
		paths = append(paths, p)
	}
	m.pending = map[string]bool{}
	m.carry = merge(m.carry, m.l.Files.Settle(paths))
}

// start runs a cycle over what waits. An early cycle waits for the quiet before
// it writes anything or reports a failure.
func (m *machine) start(early, forced bool) {
	in := cycleInput{changes: m.carry, full: m.needFull, forced: forced}
	in.reindex = in.full || m.world.graphChanged(in.changes)
	in.dirty, in.disabled = m.dirty, maps.Clone(m.world.disabled)
	m.carry, m.needFull, m.dirty = nil, false, map[string]string{}
	m.cycles++
	in.n = m.cycles
	cctx, cancel := context.WithCancel(m.ctx)
	rc := &runningCycle{in: in, cancel: cancel, done: make(chan *cycleResult, 1)}
	if early {
		rc.quiet = make(chan struct{})
		in.quiet = rc.quiet
	}
	m.running = rc
	c := newCycle(m.l, in, m.world.view(), m.msgs)
	go func() { rc.done <- c.run(cctx) }()
}

// requeue puts a cycle's input back in front of what waits.
func (m *machine) requeue(in cycleInput) {
	m.carry = merge(in.changes, m.carry)
	m.needFull = m.needFull || in.full
	for t, why := range in.dirty {
		if _, ok := m.dirty[t]; !ok {
			m.dirty[t] = why
		}
	}
	m.restoreTransient()
}

// record takes in what a cycle found: the index, the deployments, and the files'
// content as of its query, except files whose change is still waiting (their
// new content must still be seen as a change).
func (m *machine) record(res *cycleResult) {
	m.world.apply(res, m.l.Clock.Now())
	if res.snapshot.Sums != nil {
		waiting := map[string]bool{}
		for p := range m.pending {
			waiting[p] = true
		}
		for _, c := range m.carry {
			waiting[c.Path] = true
		}
		m.l.Files.Prime(res.snapshot, func(p string) bool { return waiting[p] })
	}
	for _, t := range res.deleted {
		m.l.Cluster.Track(t, nil)
		m.forward(t, nil)
		m.watchLive(t)
	}
	for t, up := range res.updates {
		if up.applied != nil {
			m.l.Cluster.Track(t, up.applied.Inventory.Objects)
			m.forward(t, up.applied.Forwards)
		}
		if up.applied != nil || up.live != nil {
			m.watchLive(t)
		}
	}
	for t := range res.fallback {
		m.dirty[t] = "live-sync-failed"
	}
}

// watchLive watches the pods of a live-updated target for replacements (stops
// watching a target that is not live-updated: its pods run its image).
func (m *machine) watchLive(target string) {
	if m.l.Live == nil {
		return
	}
	d := m.world.deployments[target]
	if d == nil || d.live == nil || d.applied == nil {
		m.l.Live.Watch(target, nil, nil)
		return
	}
	m.l.Live.Watch(target, d.applied.Live, d.live.pods)
}

// forward opens a deployed target's port-forwards (closes them for nil) and
// shows them with its state; a port that cannot be opened is a problem.
func (m *machine) forward(target string, fs []portforward.Forward) {
	if m.l.Forwards == nil {
		return
	}
	var links []string
	for _, st := range m.l.Forwards.Set(target, fs) {
		if st.Err != nil {
			m.l.Reporter.Problem(st.Err)
			continue
		}
		links = append(links, st.URL()+" -> "+st.Spec.String())
	}
	m.world.setForwards(target, links)
}

// report shows a finished cycle, and the loop's readiness once every
// deployable has been deployed or has failed.
func (m *machine) report(res *cycleResult) {
	res.report.Deployables = m.world.statuses()
	m.l.Reporter.CycleDone(res.report)
	if !m.readySent && m.world.settled() {
		m.readySent = true
		m.l.Reporter.Ready(res.report)
	}
}

// show tells the reporter the machine's state between cycles.
func (m *machine) show() {
	switch m.state {
	case stIdle:
		m.showState(Idle, "")
	case stSettling:
		m.showState(Debounce, "")
	case stBackoff:
		m.showState(Backoff, "")
	}
}

func (m *machine) showState(s State, detail string) {
	if s == m.shownState && detail == m.shownDetails {
		return
	}
	m.shownState, m.shownDetails = s, detail
	m.l.Reporter.State(s, detail)
}

// stop cancels the cycle in flight and waits for it.
func (m *machine) stop() {
	if m.running != nil {
		m.running.cancel()
		for {
			select {
			case <-m.running.done:
				return
			case <-m.msgs:
			}
		}
	}
}
