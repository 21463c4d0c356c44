package dev

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"sort"
	"strings"
	"syscall"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/slipway-dev/slipway/internal/deploy"
	"github.com/slipway-dev/slipway/internal/kube"
	"github.com/slipway-dev/slipway/internal/watch"
)

// Loop keeps deployables deployed as files change.
type Loop struct {
	Workspace Workspace
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
	// MinBackoff and MaxBackoff bound the wait before retrying a cycle that found
	// the cluster or registry unreachable.
	MinBackoff, MaxBackoff time.Duration

	state     State
	index     *Index
	deployed  map[string]*deployed
	unrelated map[string]bool // changed files no deployable uses, as of this index
	cycles    int
	ready     bool
}

// deployed is what the loop last deployed of one target.
type deployed struct {
	images   map[string]string // image label -> digest
	hashes   map[string]string // object key -> content hash
	status   Deployable
	applied  bool             // its objects are in the cluster
	resolved *deploy.Resolved // as last applied, to delete it when it goes away
}

type cycleInput struct {
	changes []watch.Change
	full    bool // deploy every deployable (the first cycle)
	// quiet, when not nil, is closed once the changes have been quiet for the
	// debounce: an early cycle indexes and builds, then waits for it before it
	// reports a failure or writes anything.
	quiet <-chan struct{}
}

type phaseMsg struct {
	state  State
	detail string
}

type cycleResult struct {
	report   *Cycle
	input    cycleInput
	canceled bool
	retry    bool
}

// Run deploys everything, then keeps the cluster in step with the changes it
// receives until ctx ends (Ctrl-C), which is the only way out.
func (l *Loop) Run(ctx context.Context, events <-chan watch.Event, problems <-chan error) error {
	if l.Clock == nil {
		l.Clock = realClock{}
	}
	if l.deployed == nil {
		l.deployed = map[string]*deployed{}
	}
	l.unrelated = map[string]bool{}
	backoff := l.MinBackoff

	var (
		pending  []string       // raw changed paths, not settled yet
		carry    []watch.Change // settled changes waiting for a cycle
		debounce <-chan time.Time
		early    <-chan time.Time // starts a cycle before the debounce ends
		quiet    chan struct{}    // the early cycle in flight waits for it
		retry    <-chan time.Time
		done     chan cycleResult
		cancel   context.CancelFunc
		needFull bool
	)
	msgs := make(chan phaseMsg)
	earlyAfter := l.Debounce / 10
	start := func(in cycleInput) {
		var cctx context.Context
		cctx, cancel = context.WithCancel(ctx)
		done = make(chan cycleResult, 1)
		go func() { done <- l.cycle(cctx, in, msgs) }()
	}
	idle := func() {
		switch {
		case done != nil:
		case retry != nil:
			l.setState(Backoff, "")
		case debounce != nil:
			l.setState(Debounce, "")
		default:
			l.setState(Idle, "")
		}
	}

	start(cycleInput{full: true})
	for {
		select {
		case <-ctx.Done():
			if done != nil {
				cancel()
				<-done
			}
			return nil

		case c := <-events:
			pending = append(pending, c.Path)
			debounce = l.Clock.After(l.Debounce) // quiet period starts again
			if done == nil && retry == nil && early == nil && earlyAfter > 0 {
				early = l.Clock.After(earlyAfter)
			}
			idle()

		case <-early:
			early = nil
			if done != nil || debounce == nil {
				break // a cycle runs already, or the debounce ended first
			}
			carry = merge(carry, l.Files.Settle(pending))
			pending = nil
			if len(carry) == 0 {
				break
			}
			quiet = make(chan struct{})
			in := cycleInput{changes: carry, full: needFull, quiet: quiet}
			carry, needFull = nil, false
			start(in)

		case err := <-problems:
			l.Reporter.Problem(err)

		case m := <-msgs:
			l.setState(m.state, m.detail)

		case <-debounce:
			debounce = nil
			carry = merge(carry, l.Files.Settle(pending))
			pending = nil
			switch {
			case quiet != nil && len(carry) == 0:
				close(quiet) // the early cycle's changes were the whole burst
				quiet = nil
			case quiet != nil:
				cancel() // the early cycle has written nothing yet; it comes back and joins carry
			case len(carry) == 0:
				idle()
			case done != nil:
				if l.state.cancellable() {
					cancel() // the canceled cycle's changes come back and join carry
				}
			default:
				retry = nil // a change cuts a backoff short
				in := cycleInput{changes: carry, full: needFull}
				carry, needFull = nil, false
				start(in)
			}

		case <-retry:
			retry = nil
			in := cycleInput{changes: carry, full: needFull}
			carry, needFull = nil, false
			start(in)

		case res := <-done:
			done = nil
			cancel()
			wasEarly := quiet != nil
			quiet = nil
			switch {
			case res.canceled && wasEarly:
				// Superseded before it could deploy: not a cycle anyone saw.
				carry = merge(res.input.changes, carry)
				needFull = needFull || res.input.full
				l.cycles--
			case res.canceled:
				carry = merge(res.input.changes, carry)
				needFull = needFull || res.input.full
				l.Reporter.CycleDone(res.report)
			case res.retry:
				carry = merge(res.input.changes, carry)
				needFull = needFull || res.input.full
				l.Reporter.CycleDone(res.report)
				retry = l.Clock.After(backoff)
				backoff = min(backoff*2, l.MaxBackoff)
			default:
				backoff = l.MinBackoff
				l.Reporter.CycleDone(res.report)
				if !l.ready && l.allReady() {
					l.ready = true
					l.Reporter.Ready(res.report)
				}
			}
			if (len(carry) > 0 || needFull) && debounce == nil && retry == nil {
				in := cycleInput{changes: carry, full: needFull}
				carry, needFull = nil, false
				start(in)
				continue
			}
			idle()
		}
	}
}

func (l *Loop) setState(s State, detail string) {
	if s == l.state && detail == "" {
		return
	}
	l.state = s
	l.Reporter.State(s, detail)
}

func (l *Loop) allReady() bool {
	if l.index == nil {
		return false
	}
	for _, d := range l.index.Deployables {
		if dep := l.deployed[d]; dep == nil || dep.status.State != "ready" {
			return false
		}
	}
	return true
}

// cycle runs one cycle in its own goroutine, telling the loop each state it enters.
func (l *Loop) cycle(ctx context.Context, in cycleInput, msgs chan<- phaseMsg) (res cycleResult) {
	l.cycles++
	rep := &Cycle{Type: "cycle", N: l.cycles, Files: paths(in.changes), Affected: []string{}, Images: []ImageReport{}, Applied: []ObjectReport{},
		PhaseMillis: map[State]int64{}, Outcome: OK}
	res = cycleResult{report: rep, input: in}
	begin := l.Clock.Now()
	current, phaseStart := State(""), begin
	waitQuiet := func() bool {
		if in.quiet == nil {
			return true
		}
		select {
		case <-in.quiet:
			return true
		case <-ctx.Done():
			return false
		}
	}
	enter := func(s State, detail string) {
		now := l.Clock.Now()
		if current != "" {
			rep.PhaseMillis[current] += now.Sub(phaseStart).Milliseconds()
		}
		current, phaseStart = s, now
		if s == "" {
			return
		}
		select {
		case msgs <- phaseMsg{s, detail}:
		case <-ctx.Done():
		}
	}
	defer func() {
		enter("", "")
		delete(rep.PhaseMillis, "")
		rep.TotalMillis = l.Clock.Now().Sub(begin).Milliseconds()
		if ctx.Err() != nil && !res.retry {
			res.canceled, rep.Outcome = true, Canceled
		}
		rep.Deployables = l.statuses()
	}()
	fail := func(o Outcome, err error) {
		rep.Outcome = o
		rep.Errors = append(rep.Errors, err.Error())
	}

	// Index, when the graph may have changed.
	graphChanged := in.full || l.index == nil
	for _, c := range in.changes {
		if IsGraphFile(c.Path) || (l.index != nil && !l.index.Has(c.Path) && !l.unrelated[c.Path]) {
			graphChanged = true // a BUILD file, or a new file a glob may match
		}
	}
	if graphChanged {
		enter(Indexing, "")
		ix, err := l.Workspace.Index(ctx)
		if ctx.Err() != nil || !waitQuiet() {
			return res
		}
		if err != nil {
			fail(IndexFailed, err)
			return res
		}
		l.index = ix
		l.unrelated = map[string]bool{}
		l.Files.Prime(l.Files.Snapshot(ix.Paths()), nil)
		// Deployables gone from the workspace take their objects with them.
		for _, t := range l.goneDeployables() {
			enter(Applying, "delete "+t)
			report, err := l.Cluster.Delete(ctx, l.deployed[t].resolved)
			if err != nil {
				fail(DeployFail, fmt.Errorf("%s: deleting what it deployed: %w", t, err))
				continue
			}
			for _, c := range report.Pruned {
				rep.Applied = append(rep.Applied, objectReport(c))
			}
			delete(l.deployed, t)
		}
	}

	// Affected deployables.
	var affected []string
	if in.full || anyGraphFile(in.changes) {
		affected = l.index.Deployables
	} else {
		affected = l.index.Affected(rep.Files)
		for _, p := range rep.Files {
			if !l.index.Has(p) {
				l.unrelated[p] = true
			}
		}
	}
	rep.Affected = affected
	if len(affected) == 0 {
		rep.Outcome = NoOp
		return res
	}

	// Build, in one Bazel invocation.
	enter(Building, strings.Join(affected, " "))
	built, err := l.Workspace.Build(ctx, affected)
	if ctx.Err() != nil || !waitQuiet() {
		return res
	}
	if err != nil {
		fail(BuildFailed, err)
		return res
	}
	type work struct {
		target string
		r      *deploy.Resolved
		only   map[string]bool
		apply  bool
		images []deploy.Image
	}
	var todo []*work
	for _, t := range affected {
		tr := built.Targets[t]
		if tr == nil || !tr.Success {
			msg := "build failed"
			if tr != nil && len(tr.Errors) > 0 {
				msg = strings.Join(tr.Errors, "\n")
			} else if built.Output != "" {
				msg = built.Output
			}
			fail(BuildFailed, fmt.Errorf("%s: %s", t, msg))
			l.mark(t, "failed", "build failed; the last good deployment keeps running")
			continue
		}
		r, err := l.Cluster.Resolve(t, tr)
		if err != nil {
			fail(DeployFail, err)
			l.mark(t, "failed", err.Error())
			continue
		}
		w := &work{target: t, r: r}
		prev := l.deployed[t]
		for _, img := range r.Images {
			if prev == nil || prev.images[img.Label] != img.Digest {
				w.images = append(w.images, img)
			}
		}
		if prev == nil || !prev.applied {
			w.apply = true // first deploy of this target: everything, diffed by the server
		} else {
			w.only = map[string]bool{}
			for key, hash := range r.Hashes {
				if prev.hashes[key] != hash {
					w.only[key] = true
				}
			}
			removed := false
			for key := range prev.hashes {
				if _, ok := r.Hashes[key]; !ok {
					removed = true
				}
			}
			w.apply = len(w.only) > 0 || removed
		}
		todo = append(todo, w)
	}

	// Push only images whose digest changed.
	var images []deploy.Image
	for _, w := range todo {
		images = append(images, w.images...)
	}
	if len(images) > 0 {
		enter(Pushing, fmt.Sprintf("%d image(s)", len(images)))
		pushed, err := l.Cluster.Push(ctx, images)
		for _, p := range pushed {
			digest := p.Reference[strings.LastIndex(p.Reference, "@")+1:]
			rep.Images = append(rep.Images, ImageReport{Label: p.Label, Digest: digest, BytesUploaded: p.Stats.BytesUploaded, AlreadyPresent: p.Present})
		}
		if err != nil {
			if ctx.Err() != nil {
				return res
			}
			res.retry = transient(err)
			if res.retry {
				fail(Retrying, err)
			} else {
				fail(DeployFail, err)
			}
			return res
		}
	}

	// Apply only objects whose rendered content changed.
	var changed []kube.Ref
	byTarget := map[string][]kube.Ref{}
	for _, w := range todo {
		if !w.apply {
			l.record(w.target, w.r, "")
			continue
		}
		enter(Applying, w.target)
		report, err := l.Cluster.Apply(ctx, w.r, w.only)
		if err != nil {
			if ctx.Err() != nil {
				return res
			}
			if transient(err) {
				res.retry = true
				fail(Retrying, err)
				return res
			}
			fail(DeployFail, fmt.Errorf("%s: %w", w.target, err))
			l.mark(w.target, "failed", err.Error())
			continue
		}
		for _, c := range append(report.Changes, report.Pruned...) {
			if c.Action != kube.Unchanged {
				rep.Applied = append(rep.Applied, objectReport(c))
			}
		}
		l.record(w.target, w.r, "")
		byTarget[w.target] = report.Changed()
		changed = append(changed, report.Changed()...)
	}

	if len(rep.Applied) > 0 {
		l.Reporter.Applied(rep.N, rep.Applied, l.Clock.Now().Sub(begin))
	}

	// Wait for what changed to be ready.
	if len(changed) > 0 {
		enter(Waiting, fmt.Sprintf("%d object(s)", len(changed)))
		readiness, err := l.Cluster.WaitReady(ctx, changed)
		if ctx.Err() != nil {
			return res
		}
		if err != nil {
			fail(NotReady, err)
			l.markNotReady(readiness)
		}
		for t, refs := range byTarget {
			if len(refs) > 0 {
				l.Cluster.Follow(ctx, t, refs)
			}
		}
	}
	if rep.Outcome == OK {
		for _, w := range todo {
			if d := l.deployed[w.target]; d != nil && d.status.State != "failed" && d.status.State != "not-ready" {
				d.status.LastCycleMS = l.Clock.Now().Sub(begin).Milliseconds()
			}
		}
	}
	return res
}

// goneDeployables are deployed targets the index no longer has, sorted.
func (l *Loop) goneDeployables() []string {
	current := map[string]bool{}
	for _, d := range l.index.Deployables {
		current[d] = true
	}
	var gone []string
	for t, d := range l.deployed {
		if !current[t] && d.applied && d.resolved != nil {
			gone = append(gone, t)
		}
	}
	sort.Strings(gone)
	return gone
}

// record notes a target as deployed with r's images and objects.
func (l *Loop) record(target string, r *deploy.Resolved, msg string) {
	d := &deployed{images: map[string]string{}, hashes: r.Hashes, applied: true, resolved: r}
	for _, img := range r.Images {
		d.images[img.Label] = img.Digest
	}
	d.status = Deployable{Target: target, State: "ready", Updated: l.Clock.Now(), Message: msg}
	if len(r.Images) > 0 {
		d.status.Digest = r.Images[0].Digest
	}
	l.deployed[target] = d
}

// mark sets a target's state, keeping what it has deployed.
func (l *Loop) mark(target, state, msg string) {
	d := l.deployed[target]
	if d == nil {
		d = &deployed{}
		l.deployed[target] = d
	}
	d.status.Target, d.status.State, d.status.Message, d.status.Updated = target, state, msg, l.Clock.Now()
}

func (l *Loop) markNotReady(rs []kube.Readiness) {
	for _, r := range rs {
		if r.Ready() {
			continue
		}
		for t, d := range l.deployed {
			if _, ok := d.hashes[r.Ref.Key()]; ok {
				msg := string(r.Status)
				if r.Reason != "" {
					msg = r.Reason
				}
				l.mark(t, "not-ready", fmt.Sprintf("%s: %s", r.Ref, msg))
			}
		}
	}
}

func (l *Loop) statuses() []Deployable {
	if l.index == nil {
		return nil
	}
	out := make([]Deployable, 0, len(l.index.Deployables))
	for _, t := range l.index.Deployables {
		if d := l.deployed[t]; d != nil {
			out = append(out, d.status)
		} else {
			out = append(out, Deployable{Target: t, State: "pending"})
		}
	}
	return out
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

// merge joins change lists; for a path in both, the later change wins.
func merge(a, b []watch.Change) []watch.Change {
	idx := map[string]int{}
	var out []watch.Change
	for _, c := range append(append([]watch.Change(nil), a...), b...) {
		if i, ok := idx[c.Path]; ok {
			out[i] = c
			continue
		}
		idx[c.Path] = len(out)
		out = append(out, c)
	}
	return out
}

// transient reports whether an error is the cluster or registry being
// unreachable (worth retrying) rather than something a retry cannot fix.
func transient(err error) bool {
	var netErr net.Error
	var urlErr *url.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, context.DeadlineExceeded):
		return true
	case errors.As(err, &netErr), errors.As(err, &urlErr):
		return true
	case apierrors.IsServiceUnavailable(err), apierrors.IsServerTimeout(err), apierrors.IsTimeout(err), apierrors.IsTooManyRequests(err), apierrors.IsInternalError(err):
		return true
	}
	return false
}
