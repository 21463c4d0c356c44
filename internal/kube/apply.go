package kube

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/fluxcd/pkg/ssa"
	"golang.org/x/sync/errgroup"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
)

// FieldManager is the server-side apply field manager of everything slipway applies.
const FieldManager = "slipway"

// Action is what applying did (or would do) to an object.
type Action string

const (
	Created    Action = "created"
	Configured Action = "configured"
	Unchanged  Action = "unchanged"
	Deleted    Action = "deleted"
	Skipped    Action = "skipped"
)

// Change is the outcome for one object.
type Change struct {
	Ref    Ref    `json:"object"`
	Action Action `json:"action"`
	// Live and Desired are the object before and as applied (server-side dry-run
	// result), without managed fields; Live is nil for new objects. Not serialized.
	Live    *unstructured.Unstructured `json:"-"`
	Desired *unstructured.Unstructured `json:"-"`
}

// Applier applies objects with server-side apply, writing only those that differ
// from what the cluster has.
type Applier struct {
	Clients *Clients
	// ForceConflicts takes over fields another field manager owns; without it a
	// conflict is reported and nothing is written.
	ForceConflicts bool
	// Concurrency of the dry-run comparisons.
	Concurrency int
}

// ConflictError reports fields of an object that other field managers own.
type ConflictError struct {
	Ref     Ref
	Details []string
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("%s: conflict with another field manager (%s); nothing was applied; rerun with --force-conflicts to take the fields over",
		e.Ref, strings.Join(e.Details, "; "))
}

// UnknownKindError reports an object whose kind the API server does not serve.
type UnknownKindError struct {
	Ref Ref
}

func (e *UnknownKindError) Error() string {
	return fmt.Sprintf("%s: the cluster has no resource for kind %s in %s (is a CRD missing, or the apiVersion wrong?)",
		e.Ref, e.Ref.Kind, (&Ref{Group: e.Ref.Group, Version: e.Ref.Version}).apiVersion())
}

func (r *Ref) apiVersion() string {
	if r.Group == "" {
		return r.Version
	}
	return r.Group + "/" + r.Version
}

// mapping returns the REST mapping of a kind. The cache may predate a CRD just
// applied: an unknown kind is looked up again once.
func (c *Clients) mapping(ref Ref) (*meta.RESTMapping, error) {
	gvk := ref.GVK()
	mapping, err := c.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if meta.IsNoMatchError(err) {
		c.Mapper.Reset()
		mapping, err = c.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	}
	if meta.IsNoMatchError(err) {
		return nil, &UnknownKindError{Ref: ref}
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ref, err)
	}
	return mapping, nil
}

// Key returns the object's reference as the cluster keeps it, from discovery: a
// cluster-scoped kind (a custom one too) has no namespace, a namespaced object
// without one is in "default". The one place keys are made; it changes nothing.
func (c *Clients) Key(u *unstructured.Unstructured) (Ref, error) {
	ref := RefOf(u)
	mapping, err := c.mapping(ref)
	if err != nil {
		return Ref{}, err
	}
	return ScopedRef(ref, mapping.Scope.Name() == meta.RESTScopeNameNamespace), nil
}

// ScopedRef is ref in its kind's scope: no namespace when cluster-scoped,
// "default" when namespaced and none is set.
func ScopedRef(ref Ref, namespaced bool) Ref {
	switch {
	case !namespaced:
		ref.Namespace = ""
	case ref.Namespace == "":
		ref.Namespace = metav1.NamespaceDefault
	}
	return ref
}

// Normalize returns a copy of the object in its kind's scope (see Key).
func (c *Clients) Normalize(u *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	ref, err := c.Key(u)
	if err != nil {
		return nil, err
	}
	out := u.DeepCopy()
	out.SetNamespace(ref.Namespace)
	return out, nil
}

// Resource returns the client for an object's resource, in the namespace Key
// gives it. It changes nothing.
func (c *Clients) Resource(u *unstructured.Unstructured) (dynamic.ResourceInterface, error) {
	return c.ResourceFor(RefOf(u))
}

// ResourceFor returns the client for a reference's resource, in the namespace
// Key gives it.
func (c *Clients) ResourceFor(ref Ref) (dynamic.ResourceInterface, error) {
	mapping, err := c.mapping(ref)
	if err != nil {
		return nil, err
	}
	if mapping.Scope.Name() != meta.RESTScopeNameNamespace {
		return c.Dynamic.Resource(mapping.Resource), nil
	}
	return c.Dynamic.Resource(mapping.Resource).Namespace(ScopedRef(ref, true).Namespace), nil
}

// Plan returns what applying objs would do, from server-side dry-runs; it writes
// nothing. Objects keep the input order.
func (a *Applier) Plan(ctx context.Context, objs []*unstructured.Unstructured) ([]Change, error) {
	changes := make([]Change, len(objs))
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(max(a.Concurrency, 4))
	for i, obj := range objs {
		g.Go(func() error {
			c, err := a.plan(ctx, obj)
			if err != nil {
				return err
			}
			changes[i] = *c
			return nil
		})
	}
	return changes, g.Wait()
}

func (a *Applier) plan(ctx context.Context, obj *unstructured.Unstructured) (*Change, error) {
	obj, err := a.Clients.Normalize(obj)
	if err != nil {
		return nil, err
	}
	ri, err := a.Clients.Resource(obj)
	if err != nil {
		return nil, err
	}
	ref := RefOf(obj)
	live, err := ri.Get(ctx, obj.GetName(), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		live = nil
	} else if err != nil {
		return nil, fmt.Errorf("%s: %w", ref, err)
	}
	desired, err := ri.Apply(ctx, obj.GetName(), obj, metav1.ApplyOptions{
		FieldManager: FieldManager, Force: a.ForceConflicts, DryRun: []string{metav1.DryRunAll},
	})
	if err != nil {
		return nil, describeApplyError(ref, err)
	}
	c := &Change{Ref: ref, Action: Unchanged, Desired: withoutManagedFields(desired)}
	switch {
	case live == nil:
		c.Action = Created
	case drifted(live, desired):
		c.Action = Configured
		c.Live = withoutManagedFields(live)
	}
	return c, nil
}

// Apply applies the objects that differ from the cluster: namespaces and CRDs
// first (waiting for CRDs to be served), then the rest.
func (a *Applier) Apply(ctx context.Context, objs []*unstructured.Unstructured) ([]Change, error) {
	var first, rest []*unstructured.Unstructured
	for _, o := range objs {
		if isClusterDefinition(o) {
			first = append(first, o)
		} else {
			rest = append(rest, o)
		}
	}
	var all []Change
	for _, stage := range [][]*unstructured.Unstructured{first, rest} {
		if len(stage) == 0 {
			continue
		}
		changes, err := a.applyStage(ctx, stage)
		all = append(all, changes...)
		if err != nil {
			return all, err
		}
	}
	return all, nil
}

func (a *Applier) applyStage(ctx context.Context, objs []*unstructured.Unstructured) ([]Change, error) {
	normalized := make([]*unstructured.Unstructured, len(objs))
	for i, o := range objs {
		n, err := a.Clients.Normalize(o)
		if err != nil {
			return nil, err
		}
		normalized[i] = n
	}
	objs = normalized
	sort.Stable(ssa.SortableUnstructureds(objs))
	changes, err := a.Plan(ctx, objs)
	if err != nil {
		return nil, err
	}
	var crds []*unstructured.Unstructured
	for i, c := range changes {
		if c.Action == Unchanged {
			continue
		}
		ri, err := a.Clients.Resource(objs[i])
		if err != nil {
			return changes, err
		}
		applied, err := ri.Apply(ctx, objs[i].GetName(), objs[i], metav1.ApplyOptions{FieldManager: FieldManager, Force: a.ForceConflicts})
		if err != nil {
			return changes, describeApplyError(c.Ref, err)
		}
		changes[i].Desired = withoutManagedFields(applied)
		if c.Ref.Kind == "CustomResourceDefinition" {
			crds = append(crds, applied)
		}
	}
	if len(crds) > 0 {
		if err := a.waitEstablished(ctx, crds); err != nil {
			return changes, err
		}
		a.Clients.Mapper.Reset()
	}
	return changes, nil
}

// waitEstablished waits until new CRDs are served, so their objects can be applied.
func (a *Applier) waitEstablished(ctx context.Context, crds []*unstructured.Unstructured) error {
	for _, crd := range crds {
		ri, err := a.Clients.Resource(crd)
		if err != nil {
			return err
		}
		err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
			u, err := ri.Get(ctx, crd.GetName(), metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
			for _, c := range conds {
				if m, ok := c.(map[string]any); ok && m["type"] == "Established" && m["status"] == "True" {
					return true, nil
				}
			}
			return false, nil
		})
		if err != nil {
			return fmt.Errorf("%s: not established: %w", RefOf(crd), err)
		}
	}
	return nil
}

func isClusterDefinition(u *unstructured.Unstructured) bool {
	switch u.GetKind() {
	case "Namespace", "CustomResourceDefinition":
		return true
	}
	return false
}

// drifted reports whether the dry-run result differs from the live object in
// labels, annotations or anything outside metadata and status.
func drifted(live, desired *unstructured.Unstructured) bool {
	if !equality.Semantic.DeepEqual(live.GetLabels(), desired.GetLabels()) ||
		!equality.Semantic.DeepEqual(live.GetAnnotations(), desired.GetAnnotations()) {
		return true
	}
	strip := func(u *unstructured.Unstructured) map[string]any {
		c := u.DeepCopy().Object
		delete(c, "metadata")
		delete(c, "status")
		return c
	}
	return !equality.Semantic.DeepEqual(strip(live), strip(desired))
}

func withoutManagedFields(u *unstructured.Unstructured) *unstructured.Unstructured {
	c := u.DeepCopy()
	unstructured.RemoveNestedField(c.Object, "metadata", "managedFields")
	return c
}

// describeApplyError names the object, and lists the fields of a conflict.
func describeApplyError(ref Ref, err error) error {
	var status apierrors.APIStatus
	if apierrors.IsConflict(err) && errors.As(err, &status) {
		var details []string
		if d := status.Status().Details; d != nil {
			for _, c := range d.Causes {
				details = append(details, fmt.Sprintf("%s: %s", c.Field, c.Message))
			}
		}
		if len(details) == 0 {
			details = append(details, err.Error())
		}
		return &ConflictError{Ref: ref, Details: details}
	}
	if apierrors.IsNotFound(err) && ref.Namespace != "" {
		return fmt.Errorf("%s: %w (does namespace %s exist?)", ref, err, ref.Namespace)
	}
	return fmt.Errorf("%s: %w", ref, err)
}
