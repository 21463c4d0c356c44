package dev

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/slipway-dev/slipway/internal/bazel"
	"github.com/slipway-dev/slipway/internal/deploy"
	"github.com/slipway-dev/slipway/internal/kube"
	"github.com/slipway-dev/slipway/internal/watch"
)

// cycleInput is what a cycle is asked to do.
type cycleInput struct {
	n       int
	changes []watch.Change
	full    bool              // deploy every deployable (the first cycle)
	reindex bool              // the graph may have changed: query it first
	dirty   map[string]string // targets to redeploy whatever changed, and why
	// disabled deployables are left out, and what they deployed is deleted.
	disabled map[string]bool
	forced   bool // started by the max wait: newer changes do not cancel it
	// quiet, when not nil, is closed once the changes have been quiet for the
	// debounce: an early cycle indexes and builds, then waits for it before it
	// reports a failure or writes anything.
	quiet <-chan struct{}
}

// cycleResult is what a cycle did and found, for the loop to take in.
type cycleResult struct {
	report   *Cycle
	input    cycleInput
	canceled bool
	retry    bool
	// index is the graph queried by this cycle (nil when it queried none), and
	// snapshot the indexed files' content right after that query.
	index    *Index
	snapshot watch.Snapshot
	// deleted are targets gone from the workspace whose objects were deleted.
	deleted []string
	updates map[string]*targetUpdate
	// deployed: the cycle applied its changes. When a newer change cut its wait
	// for readiness short, recheck are the targets whose readiness is unknown.
	deployed bool
	recheck  []string
	// fallback are live-update targets whose sync failed, and why: the next
	// cycle deploys their full image.
	fallback map[string]string
}

// targetUpdate is what a cycle changed of one target's deployment.
type targetUpdate struct {
	pushed  map[string]string // image label -> digest now in the registry
	applied *deploy.Resolved  // as applied (nil when it was not)
	live    *liveState        // binaries synced into its pods (nil when none were)
}

// cycleMsg is a cycle's progress, sent to the loop as it happens.
type cycleMsg struct {
	phase   State
	detail  string
	status  *Deployable
	applied *appliedMsg
}

type appliedMsg struct {
	cycle      int
	objects    []ObjectReport
	sinceStart time.Duration
}

// cycle is one pass of the pipeline: plan, build, load, push, apply, wait. It
// runs in its own goroutine, reads only its view of the world, and writes only
// its result.
type cycle struct {
	l          *Loop
	in         cycleInput
	view       view
	msgs       chan<- cycleMsg
	rep        *Cycle
	res        *cycleResult
	index      *Index // the graph this cycle works from
	begin      time.Time
	phase      State
	phaseStart time.Time
	// why says, for affected live-update targets deployed in full, why not live.
	why map[string]string
}

// loadedTarget is a built target ready to deploy.
type loadedTarget struct {
	target string
	r      *deploy.Resolved
	images []deploy.Image // those the registry lacks, as far as the loop knows
	report *deploy.Report
}

func newCycle(l *Loop, in cycleInput, v view, msgs chan<- cycleMsg) *cycle {
	rep := &Cycle{Type: "cycle", N: in.n, Files: paths(in.changes), Affected: []string{}, Images: []ImageReport{},
		Applied: []ObjectReport{}, PhaseMillis: map[State]int64{}, Outcome: OK}
	return &cycle{l: l, in: in, view: v, msgs: msgs, rep: rep, why: map[string]string{},
		res: &cycleResult{report: rep, input: in, updates: map[string]*targetUpdate{}, fallback: map[string]string{}}}
}

// run runs the pipeline; each step returns false when the cycle must stop.
func (c *cycle) run(ctx context.Context) *cycleResult {
	c.begin = c.l.Clock.Now()
	defer c.finish(ctx)
	affected, ok := c.plan(ctx)
	if !ok {
		return c.res
	}
	if len(affected) == 0 {
		if c.waitQuiet(ctx) {
			c.deleteGone(ctx)
		}
		if c.rep.Outcome == OK && len(c.res.deleted) == 0 {
			c.rep.Outcome = NoOp
		}
		return c.res
	}
	live := c.planLive(affected)
	full := fullOnly(affected, live)
	built, ok := c.build(ctx, affected, buildTargets(full, live))
	if !ok {
		return c.res
	}
	c.deleteGone(ctx)
	if built == nil {
		return c.res // Bazel itself failed: every affected target is marked
	}
	c.syncLive(ctx, live, built)
	loaded := c.load(full, built)
	if !c.push(ctx, loaded) {
		return c.res
	}
	c.apply(ctx, loaded)
	c.res.deployed = true
	c.wait(ctx, loaded)
	c.resetLive(ctx, loaded)
	return c.res
}

// finish closes the report: phase times, total, and whether it was canceled.
func (c *cycle) finish(ctx context.Context) {
	c.enter(ctx, "", "")
	c.rep.TotalMillis = c.l.Clock.Now().Sub(c.begin).Milliseconds()
	if ctx.Err() != nil && !c.res.retry && !c.res.deployed {
		c.res.canceled, c.rep.Outcome = true, Canceled
	}
}

// plan queries the graph when it may have changed (deleting what deployables
// went away) and returns the deployables the changes affect.
func (c *cycle) plan(ctx context.Context) ([]string, bool) {
	before := c.view.index
	ix := before
	if c.in.reindex {
		c.enter(ctx, Indexing, "")
		queried, err := c.l.Workspace.Index(ctx)
		if ctx.Err() != nil || !c.waitQuiet(ctx) {
			return nil, false
		}
		if err != nil {
			c.fail(IndexFailed, err)
			return nil, false
		}
		ix = queried
		c.res.index, c.res.snapshot = ix, c.l.Files.Snapshot(ix.ContentPaths())
	}
	c.index = ix
	c.rep.Affected, c.rep.Reasons = c.affected(before, ix)
	return c.rep.Affected, true
}

// affected are the deployables to rebuild, and why: all of them for the first
// cycle and for changes to BUILD or Starlark files; otherwise those whose inputs
// changed, by the index before and after the query (a removed file is only in
// the first), and the ones asked for (dirty). Disabled ones are left out.
func (c *cycle) affected(before, after *Index) ([]string, map[string][]string) {
	reasons := map[string][]string{}
	if c.in.full || before == nil || anyGraphFile(c.in.changes) {
		for _, d := range after.Deployables {
			reasons[d] = []string{"graph"}
		}
	} else {
		for _, f := range c.rep.Files {
			for _, ix := range []*Index{before, after} {
				for _, d := range ix.Affected([]string{f}) {
					reasons[d] = appendOnce(reasons[d], f)
				}
			}
		}
	}
	for t, why := range c.in.dirty {
		reasons[t] = appendOnce(reasons[t], why)
	}
	out := []string{}
	for _, d := range after.Deployables { // only what still exists
		if len(reasons[d]) > 0 && !c.in.disabled[d] {
			out = append(out, d)
		}
	}
	for d := range reasons {
		if !slices.Contains(out, d) {
			delete(reasons, d)
		}
	}
	return out, reasons
}

func appendOnce(list []string, s string) []string {
	if slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}

// deleteGone deletes the objects of deployed targets the index no longer has,
// or that are disabled.
func (c *cycle) deleteGone(ctx context.Context) {
	var gone []string
	for t := range c.view.applied {
		if !c.index.IsDeployable(t) || c.in.disabled[t] {
			gone = append(gone, t)
		}
	}
	sort.Strings(gone)
	for _, t := range gone {
		c.enter(ctx, Applying, "delete "+t)
		report, err := c.l.Cluster.Delete(ctx, c.view.applied[t])
		if err != nil {
			c.fail(DeployFail, fmt.Errorf("%s: deleting what it deployed: %w", t, err))
			continue
		}
		for _, ch := range report.Pruned {
			c.rep.Applied = append(c.rep.Applied, objectReport(t, ch))
		}
		c.res.deleted = append(c.res.deleted, t)
	}
}

// build builds what the affected deployables need in one Bazel invocation:
// the deployables (full deploys) and the binaries of live updates. It returns
// false when the cycle was canceled, and a nil result when Bazel failed as a
// whole (not target by target).
func (c *cycle) build(ctx context.Context, affected, targets []string) (*bazel.BuildResult, bool) {
	c.enter(ctx, Building, strings.Join(targets, " "))
	for _, t := range affected {
		c.status(t, StateBuilding, "")
	}
	built, err := c.l.Workspace.Build(ctx, targets)
	if ctx.Err() != nil || !c.waitQuiet(ctx) {
		return nil, false
	}
	if err != nil {
		c.fail(BuildFailed, err)
		for _, t := range affected {
			c.status(t, StateFailed, "build failed; the last good deployment keeps running")
		}
		return nil, true
	}
	return built, true
}

// load reads each built target's outputs; targets that failed to build or load
// are marked failed, keeping their last good deployment.
func (c *cycle) load(affected []string, built *bazel.BuildResult) []*loadedTarget {
	var out []*loadedTarget
	for _, t := range affected {
		tr := built.Targets[t]
		if tr == nil || !tr.Success {
			c.fail(BuildFailed, fmt.Errorf("%s: %s", t, buildErrors(tr, built)))
			c.status(t, StateFailed, "build failed; the last good deployment keeps running")
			continue
		}
		r, err := c.l.Loader.Load(t, tr)
		if err != nil {
			c.targetFailed(t, err)
			continue
		}
		lt := &loadedTarget{target: t, r: r}
		for _, img := range r.Images {
			if c.view.pushed[t][img.Label] != img.Digest {
				lt.images = append(lt.images, img)
			}
		}
		out = append(out, lt)
	}
	return out
}

func buildErrors(tr *bazel.TargetResult, built *bazel.BuildResult) string {
	switch {
	case tr != nil && len(tr.Errors) > 0:
		return strings.Join(tr.Errors, "\n")
	case built.Output != "":
		return built.Output
	}
	return "build failed"
}

// push pushes the images the registry lacks, target by target in parallel, so a
// failure is the failing target's alone. An unreachable registry retries the
// whole cycle; any other failure fails that target.
func (c *cycle) push(ctx context.Context, todo []*loadedTarget) bool {
	var pending []*loadedTarget
	n := 0
	for _, lt := range todo {
		if len(lt.images) > 0 {
			pending = append(pending, lt)
			n += len(lt.images)
		}
	}
	if n == 0 {
		return true
	}
	c.enter(ctx, Pushing, fmt.Sprintf("%d image(s)", n))
	errs := make([]error, len(pending))
	results := make([][]deploy.PushResult, len(pending))
	var g errgroup.Group
	g.SetLimit(4)
	for i, lt := range pending {
		g.Go(func() error {
			results[i], errs[i] = c.l.Cluster.Push(ctx, lt.images)
			return nil
		})
	}
	_ = g.Wait()
	if ctx.Err() != nil {
		return false
	}
	for i, lt := range pending {
		c.recordPushes(lt.target, results[i])
		if errs[i] != nil && c.l.Cluster.IsTransient(errs[i]) {
			c.res.retry = true
			c.fail(Retrying, fmt.Errorf("%s: %w", lt.target, errs[i]))
		} else if errs[i] != nil {
			c.targetFailed(lt.target, errs[i])
			lt.r = nil // not applied: its images are not all in the registry
		}
	}
	return !c.res.retry
}

func (c *cycle) recordPushes(target string, pushed []deploy.PushResult) {
	for _, p := range pushed {
		if p.Reference == "" {
			continue
		}
		digest := p.Reference[strings.LastIndex(p.Reference, "@")+1:]
		c.rep.Images = append(c.rep.Images, ImageReport{Label: p.Label, Digest: digest, BytesUploaded: p.Stats.BytesUploaded, AlreadyPresent: p.Present})
		c.update(target).pushed[p.Label] = digest
	}
}

func (c *cycle) update(target string) *targetUpdate {
	up := c.res.updates[target]
	if up == nil {
		up = &targetUpdate{pushed: map[string]string{}}
		c.res.updates[target] = up
	}
	return up
}

// apply applies the loaded targets in parallel; the server's dry-run decides
// what each one changes. Applies are never canceled half way.
func (c *cycle) apply(ctx context.Context, todo []*loadedTarget) {
	var ready []*loadedTarget
	for _, lt := range todo {
		if lt.r != nil {
			ready = append(ready, lt)
		}
	}
	if len(ready) == 0 {
		return
	}
	c.enter(ctx, Applying, targetsOf(ready))
	for _, lt := range ready {
		c.status(lt.target, StateDeploying, "")
	}
	actx := context.WithoutCancel(ctx)
	errs := make([]error, len(ready))
	var g errgroup.Group
	g.SetLimit(4)
	for i, lt := range ready {
		g.Go(func() error {
			lt.report, errs[i] = c.l.Cluster.Apply(actx, lt.r)
			return nil
		})
	}
	_ = g.Wait()
	c.collectApplies(ready, errs)
}

// collectApplies reports what the applies did, in target order.
func (c *cycle) collectApplies(ready []*loadedTarget, errs []error) {
	for i, lt := range ready {
		if lt.report != nil {
			for _, ch := range append(append([]kube.Change{}, lt.report.Changes...), lt.report.Pruned...) {
				if ch.Action != kube.Unchanged {
					c.rep.Applied = append(c.rep.Applied, objectReport(lt.target, ch))
				}
			}
		}
		switch {
		case errs[i] != nil && c.l.Cluster.IsTransient(errs[i]):
			c.res.retry = true
			c.fail(Retrying, fmt.Errorf("%s: %w", lt.target, errs[i]))
			lt.r = nil
		case errs[i] != nil:
			c.targetFailed(lt.target, errs[i])
			lt.r = nil
		default:
			c.update(lt.target).applied = lt.r
			c.reportFull(lt.target, lt.r)
		}
	}
	if len(c.rep.Applied) > 0 {
		c.send(cycleMsg{applied: &appliedMsg{cycle: c.rep.N, objects: c.rep.Applied, sinceStart: c.l.Clock.Now().Sub(c.begin)}})
	}
}

// wait waits for what the applies changed, and for everything of targets
// deployed for the first time since the loop started, to be ready; then it
// follows the logs of the changed workloads.
func (c *cycle) wait(ctx context.Context, todo []*loadedTarget) {
	refsOf := map[string][]kube.Ref{}
	var all []kube.Ref
	for _, lt := range todo {
		if lt.r == nil {
			continue
		}
		refs := lt.report.Changed()
		if c.view.applied[lt.target] == nil || c.view.states[lt.target] != StateReady {
			refs = lt.r.Inventory.Objects // first deployed, or not ready last time: how is it now?
		}
		refsOf[lt.target] = refs
		all = append(all, refs...)
	}
	var readiness []kube.Readiness
	if len(all) > 0 {
		c.enter(ctx, Waiting, fmt.Sprintf("%d object(s)", len(all)))
		var err error
		readiness, err = c.l.Cluster.WaitReady(ctx, all)
		if ctx.Err() != nil { // a newer change: the next cycle looks again
			for t := range refsOf {
				c.res.recheck = append(c.res.recheck, t)
			}
			sort.Strings(c.res.recheck)
			return
		}
		if err != nil {
			c.fail(NotReady, err)
		}
	}
	for _, lt := range todo {
		if lt.r == nil {
			continue
		}
		c.settleTarget(lt.target, refsOf[lt.target], readiness)
		if changed := lt.report.Changed(); len(changed) > 0 {
			c.l.Cluster.Follow(ctx, lt.target, changed)
		}
	}
}

// settleTarget sets a deployed target's state from its objects' readiness.
func (c *cycle) settleTarget(target string, refs []kube.Ref, readiness []kube.Readiness) {
	mine := map[string]bool{}
	for _, r := range refs {
		mine[r.Key()] = true
	}
	for _, r := range readiness {
		if !mine[r.Ref.Key()] || r.Ready() {
			continue
		}
		msg := string(r.Status)
		if r.Reason != "" {
			msg = r.Reason
		}
		c.status(target, StateNotReady, fmt.Sprintf("%s: %s", r.Ref, msg))
		return
	}
	c.statusDone(target)
}

// waitQuiet waits until an early cycle may go on; false when it was canceled.
func (c *cycle) waitQuiet(ctx context.Context) bool {
	if c.in.quiet == nil {
		return true
	}
	select {
	case <-c.in.quiet:
		c.in.quiet = nil
		return true
	case <-ctx.Done():
		return false
	}
}

// enter starts a phase, telling the loop ("" ends the last one).
func (c *cycle) enter(ctx context.Context, s State, detail string) {
	now := c.l.Clock.Now()
	if c.phase != "" {
		c.rep.PhaseMillis[c.phase] += now.Sub(c.phaseStart).Milliseconds()
	}
	c.phase, c.phaseStart = s, now
	if s != "" && ctx.Err() == nil {
		c.send(cycleMsg{phase: s, detail: detail})
	}
}

func (c *cycle) send(m cycleMsg) { c.msgs <- m }

func (c *cycle) status(target, state, msg string) {
	c.send(cycleMsg{status: &Deployable{Target: target, State: state, Message: msg}})
}

// statusDone marks a target deployed and ready, with this cycle's duration.
func (c *cycle) statusDone(target string) {
	d := &Deployable{Target: target, State: StateReady, LastCycleMS: c.l.Clock.Now().Sub(c.begin).Milliseconds()}
	c.send(cycleMsg{status: d})
}

func (c *cycle) fail(o Outcome, err error) {
	if c.rep.Outcome == OK || o == Retrying {
		c.rep.Outcome = o
	}
	c.rep.Errors = append(c.rep.Errors, err.Error())
}

// targetFailed records a failure a retry cannot fix: the target keeps its last
// good deployment and says why.
func (c *cycle) targetFailed(target string, err error) {
	msg := err.Error()
	if !strings.HasPrefix(msg, target) {
		msg = target + ": " + msg
	}
	c.fail(DeployFail, errors.New(msg))
	c.status(target, StateFailed, err.Error())
}

func targetsOf(lts []*loadedTarget) string {
	names := make([]string, len(lts))
	for i, lt := range lts {
		names[i] = lt.target
	}
	return strings.Join(names, " ")
}
