package dev

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/slipway-dev/slipway/internal/bazel"
	"github.com/slipway-dev/slipway/internal/deploy"
	"github.com/slipway-dev/slipway/internal/deployable"
	"github.com/slipway-dev/slipway/internal/kube"
	"github.com/slipway-dev/slipway/internal/liveupdate"
	"github.com/slipway-dev/slipway/internal/portforward"
	"github.com/slipway-dev/slipway/internal/watch"
)

// fakeClock moves only when the test advances it.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	timers  []fakeTimer
	created chan time.Duration // the duration of each After call
}

type fakeTimer struct {
	at time.Time
	ch chan time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Unix(1_700_000_000, 0), created: make(chan time.Duration, 1000)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	c.timers = append(c.timers, fakeTimer{c.now.Add(d), ch})
	c.created <- d
	return ch
}

// waitTimer returns once a timer of duration d has been armed since the last
// call, skipping timers of other durations (the loop's early start).
func (c *fakeClock) waitTimer(t *testing.T, d time.Duration) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case got := <-c.created:
			if got == d {
				return
			}
		case <-deadline:
			t.Fatalf("no %s timer armed", d)
		}
	}
}

// Advance moves time forward, firing the timers that are due.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.timers[:0]
	for _, t := range c.timers {
		if !t.at.After(c.now) {
			t.ch <- c.now
		} else {
			kept = append(kept, t)
		}
	}
	c.timers = kept
}

// fakeWorkspace is Bazel over a fixed graph; builds can be held to test cancellation.
type fakeWorkspace struct {
	mu      sync.Mutex
	graph   *bazel.Graph
	indexes int
	builds  [][]string
	broken  map[string]bool // targets whose build fails
	version map[string]int  // target -> build number, becomes the image digest
	hold    chan struct{}   // when set, builds wait on it (or on cancellation)
	started chan []string
	// holdIndex, when set, holds index queries; indexStarted hears of each.
	holdIndex    chan struct{}
	indexStarted chan struct{}
	// dir holds the live_binary outputs of image targets (empty: none).
	dir string
}

func (w *fakeWorkspace) Index(ctx context.Context) (*Index, error) {
	w.mu.Lock()
	hold, started := w.holdIndex, w.indexStarted
	w.mu.Unlock()
	if started != nil {
		started <- struct{}{}
	}
	if hold != nil {
		<-hold
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.indexes++
	var deployables []string
	for r := range w.graph.Rules {
		if len(r) > 7 && r[len(r)-7:] == ":deploy" {
			deployables = append(deployables, r)
		}
	}
	return NewIndex(w.graph, deployables), nil
}

func (w *fakeWorkspace) Build(ctx context.Context, targets []string) (*bazel.BuildResult, error) {
	w.mu.Lock()
	w.builds = append(w.builds, append([]string(nil), targets...))
	hold := w.hold
	w.mu.Unlock()
	if w.started != nil {
		w.started <- targets
	}
	if hold != nil {
		select {
		case <-hold:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	res := &bazel.BuildResult{Success: true, Targets: map[string]*bazel.TargetResult{}}
	for _, t := range targets {
		if w.broken[t] {
			res.Success = false
			res.Targets[t] = &bazel.TargetResult{Errors: []string{t + ": main.go:3: syntax error"}}
			continue
		}
		w.version[t]++
		res.Targets[t] = &bazel.TargetResult{Success: true, OutputGroups: map[string][]string{"v": {fmt.Sprint(w.version[t])}}}
		if w.dir != "" && strings.HasSuffix(t, ":image") {
			bin := filepath.Join(w.dir, strings.NewReplacer("/", "_", ":", "_").Replace(t))
			if err := os.WriteFile(bin, []byte(fmt.Sprint(w.version[t])), 0o755); err != nil {
				return nil, err
			}
			res.Targets[t].OutputGroups[deployable.LiveBinaryGroup] = []string{bin}
		}
	}
	return res, nil
}

// fakeCluster deploys nothing but records what it was asked. Each target has one
// image (digest = its source version) and one Deployment (hash = the same).
type fakeCluster struct {
	mu           sync.Mutex
	pushes       []string // image labels
	applies      []string // target + objects applied ("*" for all)
	deletes      []string
	waits        int
	pushErr      []error           // errors for the next pushes, in order
	applyErr     []error           // errors for the next applies, in order
	live         map[string]string // object key -> hash of what the cluster holds
	tracked      map[string]int    // target -> number of objects tracked
	holdApply    chan struct{}
	holdPush     chan struct{}
	holdWait     chan struct{}
	waitStarted  chan struct{}
	pushStarted  chan struct{}
	applyStarted chan struct{}
	// content maps a target to its current content version: what decides digests and hashes
	content map[string]string
	// forwards are the targets' port-forwards, as loaded.
	forwards map[string][]portforward.Forward
	// liveSyncs are the targets' live-update containers, as loaded.
	liveSyncs map[string][]liveupdate.Sync
}

func (c *fakeCluster) Load(target string, built *bazel.TargetResult) (*deploy.Resolved, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v := c.content[target]
	repo, _ := name.NewRepository("registry.test/" + target[2:len(target)-7])
	ref := kube.Ref{Group: "apps", Version: "v1", Kind: "Deployment", Namespace: "dev", Name: target[2 : len(target)-7]}
	return &deploy.Resolved{
		Target: target, Namespace: "dev",
		Images:    []deploy.Image{{Label: target[:len(target)-7] + ":image", Repository: repo, Digest: "sha256:" + v}},
		Hashes:    map[string]string{ref.Key(): "hash-" + v},
		Inventory: &kube.Inventory{ID: "inv-" + target, Objects: []kube.Ref{ref}},
		Forwards:  c.forwards[target],
		Live:      c.liveSyncs[target],
	}, nil
}

func (c *fakeCluster) Push(ctx context.Context, images []deploy.Image) ([]deploy.PushResult, error) {
	if c.pushStarted != nil {
		c.pushStarted <- struct{}{}
	}
	if c.holdPush != nil {
		select {
		case <-c.holdPush:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.pushErr) > 0 {
		err := c.pushErr[0]
		c.pushErr = c.pushErr[1:]
		if err != nil {
			return make([]deploy.PushResult, len(images)), err // as the deployer does: zero results for failed images
		}
	}
	var out []deploy.PushResult
	for _, img := range images {
		c.pushes = append(c.pushes, img.Label)
		out = append(out, deploy.PushResult{Label: img.Label, Reference: img.Repository.String() + "@" + img.Digest})
	}
	return out, nil
}

// Apply plays the server: an object whose hash differs from what the cluster
// holds (or that the cluster lacks) is configured, others are unchanged.
func (c *fakeCluster) Apply(ctx context.Context, r *deploy.Resolved) (*deploy.Report, error) {
	if c.applyStarted != nil {
		c.applyStarted <- struct{}{}
	}
	if c.holdApply != nil {
		<-c.holdApply
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.applyErr) > 0 {
		err := c.applyErr[0]
		c.applyErr = c.applyErr[1:]
		if err != nil {
			return nil, err
		}
	}
	rep := &deploy.Report{Target: r.Target}
	var changed []string
	for _, ref := range r.Inventory.Objects {
		action := kube.Unchanged
		if c.live[ref.Key()] != r.Hashes[ref.Key()] {
			action = kube.Configured
			c.live[ref.Key()] = r.Hashes[ref.Key()]
			changed = append(changed, ref.Key())
		}
		rep.Changes = append(rep.Changes, kube.Change{Ref: ref, Action: action})
	}
	sort.Strings(changed)
	c.applies = append(c.applies, fmt.Sprintf("%s %v", r.Target, changed))
	return rep, nil
}

// vanish deletes an object from the fake cluster, as someone else would.
func (c *fakeCluster) vanish(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.live, key)
}

func (c *fakeCluster) Track(target string, refs []kube.Ref) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.tracked[target] = len(refs)
}

func (c *fakeCluster) IsTransient(err error) bool { return errors.Is(err, syscall.ECONNREFUSED) }

func (c *fakeCluster) Delete(ctx context.Context, r *deploy.Resolved) (*deploy.Report, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.deletes = append(c.deletes, r.Target)
	rep := &deploy.Report{Target: r.Target}
	for _, ref := range r.Inventory.Objects {
		rep.Pruned = append(rep.Pruned, kube.Change{Ref: ref, Action: kube.Deleted})
	}
	return rep, nil
}

func (c *fakeCluster) WaitReady(ctx context.Context, refs []kube.Ref) ([]kube.Readiness, error) {
	if c.waitStarted != nil {
		c.waitStarted <- struct{}{}
	}
	if c.holdWait != nil {
		select {
		case <-c.holdWait:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.waits++
	return nil, nil
}

func (c *fakeCluster) Follow(context.Context, string, []kube.Ref) {}

func (c *fakeCluster) set(target, version string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.content[target] = version
}

func (c *fakeCluster) snapshot() (pushes, applies []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.pushes...), append([]string(nil), c.applies...)
}

// fakeFiles settles changes against a content map the test edits.
type fakeFiles struct {
	mu          sync.Mutex
	content     map[string]string
	settled     map[string]string
	snapshotted map[string]string // content as of the last Snapshot
}

func (f *fakeFiles) Settle(paths []string) []watch.Change {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []watch.Change
	seen := map[string]bool{}
	for _, p := range paths {
		if seen[p] {
			continue
		}
		seen[p] = true
		now, exists := f.content[p]
		old, known := f.settled[p]
		switch {
		case !exists && known:
			delete(f.settled, p)
			out = append(out, watch.Change{Path: p, Op: watch.Removed})
		case exists && !known:
			f.settled[p] = now
			out = append(out, watch.Change{Path: p, Op: watch.Created})
		case exists && now != old:
			f.settled[p] = now
			out = append(out, watch.Change{Path: p, Op: watch.Written})
		}
	}
	return out
}

// Snapshot records contents as the hash (the fake's content is its own hash).
func (f *fakeFiles) Snapshot(paths []string) watch.Snapshot {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := watch.Snapshot{Sums: map[string]watch.Digest{}}
	for _, p := range paths {
		if c, ok := f.content[p]; ok {
			s.Sums[p] = sha256.Sum256([]byte(c))
			f.snapshotted[p] = c
		}
	}
	return s
}

func (f *fakeFiles) Prime(s watch.Snapshot, skip func(string) bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for p := range s.Sums {
		if !skip(p) {
			f.settled[p] = f.snapshotted[p]
		}
	}
}

func (f *fakeFiles) remove(p string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.content, p)
}

func (f *fakeFiles) write(p, content string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.content[p] = content
}

// fakeReporter records what the loop shows.
type fakeReporter struct {
	mu          sync.Mutex
	problems    []error
	states      []State
	applied     []int // cycles that reported applying something
	deployables []Deployable
	cycles      chan *Cycle
	ready       chan *Cycle
}

func (r *fakeReporter) State(s State, _ string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.states = append(r.states, s)
}
func (r *fakeReporter) CycleDone(c *Cycle) { r.cycles <- c }
func (r *fakeReporter) Ready(c *Cycle)     { r.ready <- c }
func (r *fakeReporter) Applied(n int, objects []ObjectReport, _ time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.applied = append(r.applied, n)
}
func (r *fakeReporter) Problem(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.problems = append(r.problems, err)
}
func (r *fakeReporter) Deployable(d Deployable) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.deployables = append(r.deployables, d)
}

var errRefused = fmt.Errorf("registry 127.0.0.1:5000 is unreachable: %w", syscall.ECONNREFUSED)

// fakeForwarder records the forwards the loop sets; ports in taken fail.
type fakeForwarder struct {
	mu    sync.Mutex
	taken map[int]bool
	open  map[string][]portforward.Forward
}

func (f *fakeForwarder) Set(target string, fs []portforward.Forward) []portforward.Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []portforward.Status
	var open []portforward.Forward
	for _, fw := range fs {
		if f.taken[fw.LocalPort] {
			out = append(out, portforward.Status{Forward: fw, Err: fmt.Errorf("port-forward %s: local port %d is not free", fw, fw.LocalPort)})
			continue
		}
		open = append(open, fw)
		out = append(out, portforward.Status{Forward: fw})
	}
	f.open[target] = open
	return out
}

// fakeSyncer records the loop's live syncs; pushErr fails the next ones.
type fakeSyncer struct {
	mu      sync.Mutex
	pushes  []string // "container binary-content"
	resets  []string
	watched map[string][]liveupdate.Synced // target -> pods watched (absent: not watched)
	pushErr []error
	pods    []liveupdate.Pod
}

func (f *fakeSyncer) Push(ctx context.Context, s liveupdate.Sync, file, sum string) ([]liveupdate.Synced, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.pushErr) > 0 {
		err := f.pushErr[0]
		f.pushErr = f.pushErr[1:]
		return nil, err
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	f.pushes = append(f.pushes, s.Container+" "+string(b))
	var out []liveupdate.Synced
	for _, p := range f.pods {
		out = append(out, liveupdate.Synced{Pod: p.Name, UID: p.UID, Container: s.Container, Restarts: len(f.pushes)})
	}
	return out, nil
}

func (f *fakeSyncer) Reset(ctx context.Context, s liveupdate.Sync) ([]liveupdate.Synced, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.resets = append(f.resets, s.Container)
	return nil, nil
}

func (f *fakeSyncer) Watch(target string, syncs []liveupdate.Sync, synced []liveupdate.Synced) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if syncs == nil {
		delete(f.watched, target)
		return
	}
	f.watched[target] = synced
}

func (f *fakeSyncer) snapshot() (pushes, resets []string, watched map[string][]liveupdate.Synced) {
	f.mu.Lock()
	defer f.mu.Unlock()
	w := map[string][]liveupdate.Synced{}
	for k, v := range f.watched {
		w[k] = v
	}
	return append([]string(nil), f.pushes...), append([]string(nil), f.resets...), w
}
