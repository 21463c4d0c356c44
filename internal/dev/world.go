package dev

import (
	"maps"
	"sort"
	"time"

	"github.com/slipway-dev/slipway/internal/deploy"
	"github.com/slipway-dev/slipway/internal/liveupdate"
	"github.com/slipway-dev/slipway/internal/watch"
)

// world is what the loop knows about the workspace and the cluster. Only the
// loop's own goroutine reads or writes it; a cycle works on a view taken when it
// starts and returns its findings in a cycleResult, which the loop applies.
type world struct {
	index       *Index
	deployments map[string]*deployment
	// disabled deployables are left out of cycles and deleted from the cluster.
	disabled map[string]bool
}

// deployment is what the loop last deployed of one target, and how it stands.
type deployment struct {
	// pushed are the image digests the registry has for it, by image label.
	pushed map[string]string
	// applied is the target as last applied (nil before its first apply): what
	// to delete when the target goes away.
	applied *deploy.Resolved
	status  Deployable
	// final is the last status that was not a cycle's passing state (building,
	// deploying): what a canceled cycle leaves the target in.
	final Deployable
	// live is set while the pods run synced binaries (a live update) on top of
	// the applied image; a full deploy clears it.
	live *liveState
}

// liveState is what a live update put in the running pods.
type liveState struct {
	binaries map[string]string // label -> sha256
	pods     []liveupdate.Synced
}

func newWorld(disabled []string) *world {
	w := &world{deployments: map[string]*deployment{}, disabled: map[string]bool{}}
	for _, t := range disabled {
		w.disabled[t] = true
	}
	return w
}

// view is the read-only part of the world a cycle needs.
type view struct {
	index *Index
	// pushed and applied copy the deployments' fields, by target.
	pushed  map[string]map[string]string
	applied map[string]*deploy.Resolved
	states  map[string]string
	// live are the targets whose pods run synced binaries.
	live map[string]bool
}

func (w *world) view() view {
	v := view{index: w.index, pushed: map[string]map[string]string{}, applied: map[string]*deploy.Resolved{}, states: map[string]string{}, live: map[string]bool{}}
	for t, d := range w.deployments {
		v.pushed[t] = maps.Clone(d.pushed)
		v.states[t] = d.final.State
		v.live[t] = d.live != nil
		if d.applied != nil {
			v.applied[t] = d.applied
		}
	}
	return v
}

// deployment returns the target's deployment, creating a pending one.
func (w *world) deployment(target string) *deployment {
	d := w.deployments[target]
	if d == nil {
		pending := Deployable{Target: target, State: StatePending}
		d = &deployment{pushed: map[string]string{}, status: pending, final: pending}
		w.deployments[target] = d
	}
	return d
}

// relevant tells whether a raw file event can matter, before any debounce: a
// file the index knows, a file that shapes the graph, or a new file a glob may
// match. Writes to other files (a log in a package folder) never delay a cycle.
func (w *world) relevant(ev watch.Event) bool {
	if w.index == nil || IsGraphFile(ev.Path) || w.index.Has(ev.Path) {
		return true
	}
	return ev.Op == watch.Created
}

// graphChanged tells whether settled changes may change the graph: a BUILD or
// Starlark file, an indexed file removed (or created again), or a file the index
// does not know appearing. A file the index does not know being rewritten, or
// removed, changes no deployable's inputs.
func (w *world) graphChanged(changes []watch.Change) bool {
	if w.index == nil {
		return true
	}
	for _, c := range changes {
		indexed := w.index.Has(c.Path)
		switch {
		case IsGraphFile(c.Path):
			return true
		case indexed && c.Op != watch.Written:
			return true
		case !indexed && c.Op == watch.Created:
			return true
		}
	}
	return false
}

// apply takes in what a cycle found.
func (w *world) apply(res *cycleResult, now time.Time) {
	if res.index != nil {
		w.index = res.index
	}
	for _, t := range res.deleted {
		delete(w.deployments, t)
	}
	for t, up := range res.updates {
		d := w.deployment(t)
		for label, digest := range up.pushed {
			d.pushed[label] = digest
		}
		if up.live != nil {
			d.live = up.live
		}
		if up.applied != nil {
			d.applied, d.live = up.applied, nil
			d.status.Digest, d.final.Digest = "", ""
			if len(up.applied.Images) > 0 {
				d.status.Digest = up.applied.Images[0].Digest
				d.final.Digest = d.status.Digest
			}
		}
	}
}

// setStatus records a target's state as a cycle reports it, and returns it.
func (w *world) setStatus(s Deployable, now time.Time) Deployable {
	d := w.deployment(s.Target)
	d.status.State, d.status.Message, d.status.Updated = s.State, s.Message, now
	if s.LastCycleMS > 0 {
		d.status.LastCycleMS = s.LastCycleMS
	}
	if !passing(s.State) {
		d.final = d.status
	}
	return w.status(s.Target)
}

// setForwards records a target's open port-forwards, as links.
func (w *world) setForwards(target string, links []string) {
	if _, ok := w.deployments[target]; !ok && len(links) == 0 {
		return
	}
	d := w.deployment(target)
	d.status.Forwards, d.final.Forwards = links, links
}

// status is a target's state as shown: disabled ones say so.
func (w *world) status(target string) Deployable {
	d := w.deployment(target)
	s := d.status
	if w.disabled[target] {
		s.State = StateDisabled
	}
	if d.live != nil {
		s.LiveBinaries = maps.Clone(d.live.binaries)
	}
	return s
}

// restoreTransient puts targets a canceled cycle left building or deploying
// back in their last final state, and returns them.
func (w *world) restoreTransient() []Deployable {
	var out []Deployable
	for t, d := range w.deployments {
		if passing(d.status.State) {
			d.status = d.final
			out = append(out, w.status(t))
		}
	}
	return out
}

// passing tells the states a cycle passes through from those it ends in.
func passing(state string) bool { return state == StateBuilding || state == StateDeploying }

// statuses are every indexed deployable's state, sorted by target.
func (w *world) statuses() []Deployable {
	if w.index == nil {
		return nil
	}
	out := make([]Deployable, 0, len(w.index.Deployables))
	for _, t := range w.index.Deployables {
		out = append(out, w.status(t))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Target < out[j].Target })
	return out
}

// settled reports whether every deployable has been deployed or has failed
// since the loop started: the moment the loop is "ready".
func (w *world) settled() bool {
	if w.index == nil {
		return false
	}
	for _, t := range w.index.Deployables {
		if s := w.deployment(t).status.State; !w.disabled[t] && (s == StatePending || passing(s)) {
			return false
		}
	}
	return true
}
