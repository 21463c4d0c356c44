package kube

import (
	"context"
	"fmt"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/tools/cache"
)

// Vanished is a tracked object that was deleted, and the owner it was tracked for.
type Vanished struct {
	Owner string
	Ref   Ref
}

// Tracker watches the objects slipway deployed (one watch per resource and
// namespace, selecting objects by the inventory label) and reports those that
// are deleted while tracked: someone deleted them behind the dev loop's back.
type Tracker struct {
	dynamic dynamic.Interface
	// resource maps a ref to its resource and scope (the REST mapper).
	resource func(Ref) (schema.GroupVersionResource, bool, error)
	out      chan<- Vanished
	problems chan<- error

	mu      sync.Mutex
	ctx     context.Context
	owners  map[string]string               // ref key -> owner
	byOwner map[string][]Ref                // owner -> refs
	watches map[watchKey]context.CancelFunc // running informers
	refs    map[watchKey]map[string]bool    // ref keys each informer serves
	gvrOf   map[string]watchKey             // ref key -> its informer
}

type watchKey struct {
	gvr       schema.GroupVersionResource
	namespace string
}

// NewTracker returns a tracker that sends deletions to out and watch failures to
// problems, until ctx ends.
func NewTracker(ctx context.Context, c *Clients, out chan<- Vanished, problems chan<- error) *Tracker {
	return newTracker(ctx, c.Dynamic, func(ref Ref) (schema.GroupVersionResource, bool, error) {
		m, err := c.Mapper.RESTMapping(ref.GVK().GroupKind(), ref.Version)
		if err != nil {
			return schema.GroupVersionResource{}, false, err
		}
		return m.Resource, m.Scope.Name() == "namespace", nil
	}, out, problems)
}

func newTracker(ctx context.Context, d dynamic.Interface, resource func(Ref) (schema.GroupVersionResource, bool, error), out chan<- Vanished, problems chan<- error) *Tracker {
	return &Tracker{dynamic: d, resource: resource, out: out, problems: problems, ctx: ctx,
		owners: map[string]string{}, byOwner: map[string][]Ref{}, watches: map[watchKey]context.CancelFunc{},
		refs: map[watchKey]map[string]bool{}, gvrOf: map[string]watchKey{}}
}

// Track sets the objects tracked for owner (none: stop tracking it), starting
// watches for resources and namespaces not watched yet and stopping those no
// object needs any more.
func (t *Tracker) Track(owner string, refs []Ref) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, ref := range t.byOwner[owner] {
		t.untrackLocked(ref.Key())
	}
	delete(t.byOwner, owner)
	for _, ref := range refs {
		wk, err := t.watchKeyOf(ref)
		if err != nil {
			t.problem(fmt.Errorf("watching %s for %s: %w", ref, owner, err))
			continue
		}
		key := ref.Key()
		t.owners[key] = owner
		t.gvrOf[key] = wk
		if t.refs[wk] == nil {
			t.refs[wk] = map[string]bool{}
			t.startLocked(wk)
		}
		t.refs[wk][key] = true
		t.byOwner[owner] = append(t.byOwner[owner], ref)
	}
}

func (t *Tracker) untrackLocked(key string) {
	delete(t.owners, key)
	wk, ok := t.gvrOf[key]
	if !ok {
		return
	}
	delete(t.gvrOf, key)
	delete(t.refs[wk], key)
	if len(t.refs[wk]) == 0 {
		delete(t.refs, wk)
		t.watches[wk]()
		delete(t.watches, wk)
	}
}

func (t *Tracker) watchKeyOf(ref Ref) (watchKey, error) {
	gvr, namespaced, err := t.resource(ref)
	if err != nil {
		return watchKey{}, err
	}
	wk := watchKey{gvr: gvr}
	if namespaced {
		wk.namespace = ref.Namespace
	}
	return wk, nil
}

// startLocked runs an informer over the resource's objects that carry an
// inventory label.
func (t *Tracker) startLocked(wk watchKey) {
	ctx, cancel := context.WithCancel(t.ctx)
	t.watches[wk] = cancel
	inf := dynamicinformer.NewFilteredDynamicInformer(t.dynamic, wk.gvr, wk.namespace, 0, cache.Indexers{},
		func(o *metav1.ListOptions) { o.LabelSelector = InventoryLabel })
	si := inf.Informer()
	_ = si.SetWatchErrorHandlerWithContext(func(_ context.Context, _ *cache.Reflector, err error) {
		if ctx.Err() == nil {
			t.problem(fmt.Errorf("watching %s in %q: %w", wk.gvr, wk.namespace, err))
		}
	})
	_, _ = si.AddEventHandler(cache.ResourceEventHandlerFuncs{DeleteFunc: t.deleted})
	go si.RunWithContext(ctx)
}

// deleted reports a deleted object if it is still tracked.
func (t *Tracker) deleted(obj any) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return
	}
	ref := RefOf(u)
	t.mu.Lock()
	owner, tracked := t.owners[ref.Key()]
	ctx := t.ctx
	t.mu.Unlock()
	if !tracked {
		return
	}
	select {
	case t.out <- Vanished{Owner: owner, Ref: ref}:
	case <-ctx.Done():
	}
}

func (t *Tracker) problem(err error) {
	select {
	case t.problems <- err:
	default: // the loop is busy: a dropped report beats a blocked watch
	}
}
