// Package devui is the dev loop's web UI and query API: a store fed by the loop's
// Reporter events, a versioned JSON API over it (/api/v1/...), a live stream of its
// changes (server-sent events) and the embedded page that shows them.
//
// The store never blocks the loop: a reporter call takes its lock briefly and
// hands events to subscribers without waiting; a subscriber too slow to keep up
// is dropped (its stream ends, and the browser reconnects to a fresh snapshot).
package devui

import (
	"path"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/slipway-dev/slipway/internal/dev"
	"github.com/slipway-dev/slipway/internal/kube"
)

// Limits of what the store keeps.
const (
	maxLogLines       = 50_000
	maxCycles         = 500
	maxResourceCycles = 50
	subscriberBuffer  = 4096
)

// Resource is one deployable as the list shows it.
type Resource struct {
	dev.Deployable
	// Package is the Bazel package of the target; Group its parent folder.
	Package string `json:"package"`
	Group   string `json:"group"`
	// Errors counts the cycles that failed it; Warnings those that left it not ready.
	Errors   int `json:"errors"`
	Warnings int `json:"warnings"`
	// LastCycle is the last cycle that deployed (or tried to deploy) it.
	LastCycle     int       `json:"lastCycle,omitempty"`
	LastCycleTime time.Time `json:"lastCycleTime,omitzero"`
	// AffectedBy is what put it in its last cycle: changed files, or "graph",
	// "trigger", "enabled", "vanished".
	AffectedBy []string `json:"affectedBy,omitempty"`
}

// CycleSummary is one cycle of the loop.
type CycleSummary struct {
	N           int                 `json:"n"`
	End         time.Time           `json:"end"`
	Outcome     dev.Outcome         `json:"outcome"`
	Files       []string            `json:"files"`
	Affected    []string            `json:"affected"`
	Reasons     map[string][]string `json:"reasons,omitempty"`
	Errors      []string            `json:"errors,omitempty"`
	PhaseMillis map[dev.State]int64 `json:"phaseMillis"`
	TotalMillis int64               `json:"totalMillis"`
	Images      []dev.ImageReport   `json:"images,omitempty"`
	Applied     []dev.ObjectReport  `json:"applied,omitempty"`
	States      map[string]string   `json:"states,omitempty"` // of the affected targets, after it
	// Deploys say, per deployed target, a full deploy or a live update, and on
	// top of which digest.
	Deploys []dev.DeployReport `json:"deploys,omitempty"`
}

// LogLine is one line of a log: a target's build errors, its pods' output, a
// button's output, or the loop's own lines (Target "").
type LogLine struct {
	Seq    int64     `json:"seq"`
	Time   time.Time `json:"time"`
	Target string    `json:"target,omitempty"`
	// Source is "build", "pod", "button" or "loop".
	Source string `json:"source"`
	Text   string `json:"text"`
}

// Button is a custom button of the dev rule: a `bazel run` target.
type Button struct {
	Name     string    `json:"name"`
	Target   string    `json:"target"`
	Running  bool      `json:"running"`
	ExitCode *int      `json:"exitCode,omitempty"`
	Error    string    `json:"error,omitempty"`
	Started  time.Time `json:"started,omitzero"`
	Ended    time.Time `json:"ended,omitzero"`
}

// Event is one change of the store, in the order the store took them (Seq).
type Event struct {
	Seq  int64  `json:"seq"`
	Type string `json:"type"` // state, resource, removed, cycle, applied, log, ready, button
	Data any    `json:"data"`
}

// LoopState is what the loop is doing.
type LoopState struct {
	State  dev.State `json:"state"`
	Detail string    `json:"detail,omitempty"`
	Ready  bool      `json:"ready"`
}

// Snapshot is the whole store but logs and applied objects: what a client starts from.
type Snapshot struct {
	Seq       int64          `json:"seq"`
	Loop      LoopState      `json:"loop"`
	Resources []Resource     `json:"resources"`
	Cycles    []CycleSummary `json:"cycles"`
	Buttons   []Button       `json:"buttons"`
}

// resource is a deployable and what the store keeps of it.
type resource struct {
	Resource
	cycles  []CycleSummary
	objects map[string]*kube.Change // by object key: the last change applied
}

// Store keeps what the UI shows, fed by the loop's reporter events and logs.
type Store struct {
	mu        sync.Mutex
	now       func() time.Time
	seq       int64
	loop      LoopState
	resources map[string]*resource
	cycles    []CycleSummary
	logs      []LogLine // a ring of maxLogLines
	logStart  int
	buttons   map[string]*Button
	subs      map[*subscriber]bool
}

var _ dev.Reporter = (*Store)(nil)

// NewStore returns an empty store.
func NewStore() *Store {
	return &Store{now: time.Now, resources: map[string]*resource{}, buttons: map[string]*Button{}, subs: map[*subscriber]bool{}}
}

// subscriber receives events until it falls behind by subscriberBuffer events.
type subscriber struct {
	ch chan Event
}

// Subscribe returns the store as it is and a channel of every later event, in
// order. The channel is closed when the subscriber falls behind (it is dropped,
// never waited for) or cancel is called.
func (s *Store) Subscribe() (Snapshot, <-chan Event, func()) {
	return s.subscribe(subscriberBuffer)
}

func (s *Store) subscribe(buffer int) (Snapshot, <-chan Event, func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sub := &subscriber{ch: make(chan Event, buffer)}
	s.subs[sub] = true
	cancel := func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.subs[sub] {
			delete(s.subs, sub)
			close(sub.ch)
		}
	}
	return s.snapshotLocked(), sub.ch, cancel
}

// Subscribers counts the live subscribers.
func (s *Store) Subscribers() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.subs)
}

// publishLocked numbers an event and hands it to every subscriber that has room;
// those that have none are dropped.
func (s *Store) publishLocked(typ string, data any) {
	s.seq++
	ev := Event{Seq: s.seq, Type: typ, Data: data}
	for sub := range s.subs {
		select {
		case sub.ch <- ev:
		default:
			delete(s.subs, sub)
			close(sub.ch)
		}
	}
}

// Snapshot returns the store as it is.
func (s *Store) Snapshot() Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.snapshotLocked()
}

func (s *Store) snapshotLocked() Snapshot {
	snap := Snapshot{Seq: s.seq, Loop: s.loop, Resources: s.resourcesLocked(), Cycles: append([]CycleSummary{}, s.cycles...), Buttons: []Button{}}
	for _, b := range s.buttons {
		snap.Buttons = append(snap.Buttons, *b)
	}
	sort.Slice(snap.Buttons, func(i, j int) bool { return snap.Buttons[i].Name < snap.Buttons[j].Name })
	return snap
}

func (s *Store) resourcesLocked() []Resource {
	out := make([]Resource, 0, len(s.resources))
	for _, r := range s.resources {
		out = append(out, r.Resource)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Target < out[j].Target })
	return out
}

// Resources returns every deployable, sorted by target.
func (s *Store) Resources() []Resource {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.resourcesLocked()
}

// Cycles returns the cycles kept, oldest first.
func (s *Store) Cycles() []CycleSummary {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]CycleSummary{}, s.cycles...)
}

// Loop returns what the loop is doing.
func (s *Store) Loop() LoopState {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.loop
}

// resourceLocked returns the target's resource, creating it.
func (s *Store) resourceLocked(target string) *resource {
	r := s.resources[target]
	if r == nil {
		pkg := strings.TrimPrefix(target, "//")
		pkg, _, _ = strings.Cut(pkg, ":")
		group := path.Dir(pkg)
		if group == "." {
			group = "//"
		}
		r = &resource{Resource: Resource{Deployable: dev.Deployable{Target: target, State: dev.StatePending}, Package: pkg, Group: group},
			objects: map[string]*kube.Change{}}
		s.resources[target] = r
	}
	return r
}
