package deploy

import (
	"context"
	"fmt"
	"time"

	"golang.org/x/sync/errgroup"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/slipway-dev/slipway/internal/kube"
	"github.com/slipway-dev/slipway/internal/publish"
)

// Deployer deploys resolved targets to one cluster.
type Deployer struct {
	Clients   *kube.Clients
	Publisher publish.Publisher
	// ForceConflicts takes over fields other field managers own.
	ForceConflicts bool
	// ReadyTimeout bounds the wait for readiness; 0 skips waiting.
	ReadyTimeout time.Duration
	// OnReadiness, if set, sees readiness changes while waiting.
	OnReadiness func(kube.Readiness)
	// Artifacts reads the images to push (nil: from their layouts).
	Artifacts ArtifactLoader
}

// ArtifactLoader reads an image to push.
type ArtifactLoader interface {
	Artifact(ctx context.Context, img Image) (publish.Artifact, error)
}

// LayoutLoader reads images from their OCI layouts.
type LayoutLoader struct{}

func (LayoutLoader) Artifact(_ context.Context, img Image) (publish.Artifact, error) {
	return publish.FromLayout(img.Layout)
}

// PushResult is what pushing one image did.
type PushResult struct {
	Label     string        `json:"label"`
	Reference string        `json:"reference"`
	Present   bool          `json:"alreadyPresent"`
	Stats     publish.Stats `json:"stats"`
	// Sources says where the bytes of the layers pushed came from.
	Sources publish.SourceStats `json:"sources"`
}

// Report is what a deploy did.
type Report struct {
	Target    string             `json:"target"`
	Namespace string             `json:"namespace"`
	Images    []PushResult       `json:"images,omitempty"`
	Changes   []kube.Change      `json:"changes,omitempty"`
	Pruned    []kube.Change      `json:"pruned,omitempty"`
	Readiness []kube.Readiness   `json:"readiness,omitempty"`
	Requests  kube.RequestCounts `json:"requests"`
}

// Changed returns the objects applying created or changed.
func (r *Report) Changed() []kube.Ref {
	var out []kube.Ref
	for _, c := range r.Changes {
		if c.Action == kube.Created || c.Action == kube.Configured {
			out = append(out, c.Ref)
		}
	}
	return out
}

// Push publishes the target's images, in parallel.
func (d *Deployer) Push(ctx context.Context, r *Resolved) ([]PushResult, error) {
	return d.PushImages(ctx, r.Images)
}

// PushImages publishes images, in parallel.
func (d *Deployer) PushImages(ctx context.Context, images []Image) ([]PushResult, error) {
	results := make([]PushResult, len(images))
	loader := d.Artifacts
	if loader == nil {
		loader = LayoutLoader{}
	}
	g, ctx := errgroup.WithContext(ctx)
	for i, img := range images {
		g.Go(func() error {
			a, err := loader.Artifact(ctx, img)
			if err != nil {
				return fmt.Errorf("image %s: %w", img.Label, err)
			}
			res, err := d.Publisher.Publish(ctx, a, img.Repository)
			if err != nil {
				return fmt.Errorf("image %s: %w", img.Label, err)
			}
			results[i] = PushResult{Label: img.Label, Reference: res.Reference, Present: res.AlreadyPresent, Stats: res.Stats,
				Sources: a.Sources.Stats()}
			return nil
		})
	}
	return results, g.Wait()
}

// ApplyOptions tune Apply.
type ApplyOptions struct {
	// SkipPush assumes the images are in the registry already.
	SkipPush bool
	// Only, when set, applies just these objects (by kube.Ref key): the dev loop
	// sends only what it saw change. Pruning still considers every object.
	Only map[string]bool
}

// Apply pushes the images, makes sure the namespace exists, applies the objects
// that differ from the cluster, prunes objects this target applied before and no
// longer renders, records the inventory, and waits for the changed objects.
func (d *Deployer) Apply(ctx context.Context, r *Resolved, opts ApplyOptions) (*Report, error) {
	before := d.Clients.Requests.Snapshot()
	report := &Report{Target: r.Target, Namespace: r.Namespace}
	defer func() { report.Requests = d.Clients.Requests.Since(before) }()

	// Every kind must be served before anything is written or pushed.
	if err := d.validate(r); err != nil {
		return report, err
	}
	if !opts.SkipPush {
		images, err := d.Push(ctx, r)
		report.Images = images
		if err != nil {
			return report, err
		}
	}
	prev, err := d.loadInventory(ctx, r)
	if err != nil {
		return report, err
	}
	current := append([]kube.Ref(nil), r.Inventory.Objects...)
	if created, err := d.ensureNamespace(ctx, r); err != nil {
		return report, err
	} else if created || contains(prev.Objects, namespaceRef(r.Namespace)) {
		current = append(current, namespaceRef(r.Namespace)) // ours: created by us
	}
	// Record everything we are about to apply first, so a failed apply never leaves
	// objects that no inventory knows.
	r.Inventory.Objects = union(prev.Objects, current)
	if err := d.saveInventory(ctx, r.Inventory, prev.Objects); err != nil {
		return report, err
	}
	stored := r.Inventory.Objects

	objs := r.Objects
	if opts.Only != nil {
		objs = nil
		for _, o := range r.Objects {
			if opts.Only[kube.RefOf(o).Key()] {
				objs = append(objs, o)
			}
		}
	}
	applier := &kube.Applier{Clients: d.Clients, ForceConflicts: d.ForceConflicts}
	report.Changes, err = applier.Apply(ctx, objs)
	if err != nil {
		return report, err
	}

	report.Pruned, err = d.Clients.DeleteOwned(ctx, r.Inventory, minus(prev.Objects, current), time.Minute)
	if err != nil {
		return report, err
	}
	r.Inventory.Objects = current
	if err := d.saveInventory(ctx, r.Inventory, stored); err != nil {
		return report, err
	}

	if d.ReadyTimeout > 0 {
		report.Readiness, err = d.Clients.WaitReady(ctx, report.Changed(), d.ReadyTimeout, 250*time.Millisecond, d.OnReadiness)
		if err != nil {
			return report, err
		}
	}
	return report, nil
}

// Diff returns what Apply would change, from server-side dry-runs, and what it
// would prune. It writes nothing.
func (d *Deployer) Diff(ctx context.Context, r *Resolved) (*Report, error) {
	before := d.Clients.Requests.Snapshot()
	report := &Report{Target: r.Target, Namespace: r.Namespace}
	defer func() { report.Requests = d.Clients.Requests.Since(before) }()

	_, err := d.Clients.Typed.CoreV1().Namespaces().Get(ctx, r.Namespace, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		// Nothing can be dry-run into a namespace that does not exist: all is new.
		report.Changes = append(report.Changes, kube.Change{Ref: namespaceRef(r.Namespace), Action: kube.Created, Desired: namespaceObject(r)})
		for _, o := range r.Objects {
			report.Changes = append(report.Changes, kube.Change{Ref: kube.RefOf(o), Action: kube.Created, Desired: o})
		}
		return report, nil
	case err != nil:
		return report, fmt.Errorf("namespace %s: %w", r.Namespace, err)
	}
	applier := &kube.Applier{Clients: d.Clients, ForceConflicts: d.ForceConflicts}
	if report.Changes, err = applier.Plan(ctx, r.Objects); err != nil {
		return report, err
	}
	prev, err := d.loadInventory(ctx, r)
	if err != nil {
		return report, err
	}
	for _, ref := range minus(prev.Objects, append(r.Inventory.Objects, namespaceRef(r.Namespace))) {
		report.Pruned = append(report.Pruned, kube.Change{Ref: ref, Action: kube.Deleted})
	}
	return report, nil
}

// Delete removes exactly what the target's inventory lists (objects that still
// carry its mark), then the inventory.
func (d *Deployer) Delete(ctx context.Context, r *Resolved) (*Report, error) {
	before := d.Clients.Requests.Snapshot()
	report := &Report{Target: r.Target, Namespace: r.Namespace}
	defer func() { report.Requests = d.Clients.Requests.Since(before) }()
	inv, err := d.loadInventory(ctx, r)
	if err != nil {
		return report, err
	}
	var objects, namespaces []kube.Ref
	for _, ref := range inv.Objects {
		if ref.Kind == "Namespace" {
			namespaces = append(namespaces, ref)
		} else {
			objects = append(objects, ref)
		}
	}
	if report.Pruned, err = d.Clients.DeleteOwned(ctx, inv, objects, time.Minute); err != nil {
		return report, err
	}
	if err := d.Clients.DeleteInventory(ctx, inv); err != nil {
		return report, err
	}
	more, err := d.Clients.DeleteOwned(ctx, inv, namespaces, 2*time.Minute)
	report.Pruned = append(report.Pruned, more...)
	return report, err
}

// validate checks that the cluster serves every object's kind, except kinds that
// CRDs among the objects define.
func (d *Deployer) validate(r *Resolved) error {
	defined := map[string]bool{}
	for _, o := range r.Objects {
		if o.GetKind() == "CustomResourceDefinition" {
			group, _, _ := unstructured.NestedString(o.Object, "spec", "group")
			kind, _, _ := unstructured.NestedString(o.Object, "spec", "names", "kind")
			defined[group+"/"+kind] = true
		}
	}
	for _, o := range r.Objects {
		gvk := o.GroupVersionKind()
		if defined[gvk.Group+"/"+gvk.Kind] {
			continue
		}
		if _, err := d.Clients.Resource(o); err != nil {
			return err
		}
	}
	return nil
}

// saveInventory writes the inventory unless it lists what stored lists already:
// an unchanged deploy writes nothing at all.
func (d *Deployer) saveInventory(ctx context.Context, inv *kube.Inventory, stored []kube.Ref) error {
	if len(minus(inv.Objects, stored)) == 0 && len(minus(stored, inv.Objects)) == 0 {
		return nil
	}
	return d.Clients.SaveInventory(ctx, inv)
}

func (d *Deployer) loadInventory(ctx context.Context, r *Resolved) (*kube.Inventory, error) {
	return d.Clients.LoadInventory(ctx, r.Target, r.Namespace)
}

// ensureNamespace creates the target's namespace when it is missing, marked as
// ours, and reports whether it did.
func (d *Deployer) ensureNamespace(ctx context.Context, r *Resolved) (bool, error) {
	_, err := d.Clients.Typed.CoreV1().Namespaces().Get(ctx, r.Namespace, metav1.GetOptions{})
	if err == nil {
		return false, nil
	}
	if !apierrors.IsNotFound(err) {
		return false, fmt.Errorf("namespace %s: %w", r.Namespace, err)
	}
	ns := namespaceObject(r)
	ri, err := d.Clients.Resource(ns)
	if err != nil {
		return false, err
	}
	if _, err := ri.Apply(ctx, ns.GetName(), ns, metav1.ApplyOptions{FieldManager: kube.FieldManager}); err != nil {
		return false, fmt.Errorf("creating namespace %s: %w", r.Namespace, err)
	}
	return true, nil
}

func namespaceObject(r *Resolved) *unstructured.Unstructured {
	ns := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": r.Namespace}}}
	kube.Mark(ns, r.Inventory, "")
	return ns
}

func namespaceRef(name string) kube.Ref {
	return kube.Ref{Version: "v1", Kind: "Namespace", Name: name}
}

func contains(refs []kube.Ref, ref kube.Ref) bool {
	for _, r := range refs {
		if r.Key() == ref.Key() {
			return true
		}
	}
	return false
}

func union(a, b []kube.Ref) []kube.Ref {
	out := append([]kube.Ref(nil), a...)
	for _, r := range b {
		if !contains(out, r) {
			out = append(out, r)
		}
	}
	return out
}

// minus returns the refs of a that are not in b.
func minus(a, b []kube.Ref) []kube.Ref {
	var out []kube.Ref
	for _, r := range a {
		if !contains(b, r) {
			out = append(out, r)
		}
	}
	return out
}
