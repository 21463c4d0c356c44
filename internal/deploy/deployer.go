package deploy

import (
	"context"
	"fmt"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/slipway-dev/slipway/internal/kube"
	"github.com/slipway-dev/slipway/internal/publish"
)

// Deployer deploys resolved targets to one cluster. Its operations are small
// and separate: Push, Apply (with pruning), Wait, Diff, Delete, DeleteNamespace;
// Deploy chains Push, Apply and Wait for the .apply run targets and ci.
type Deployer struct {
	// Clients reach the cluster (and count requests for reports).
	Clients *kube.Clients
	// Cluster, when set, replaces Clients for everything but counting (tests).
	Cluster   Cluster
	Publisher publish.Publisher
	// ForceConflicts takes over fields other field managers own, for every
	// target (a target's own force_conflicts attribute does it for that one).
	ForceConflicts bool
	// ReadyTimeout bounds the wait for readiness; 0 skips waiting.
	ReadyTimeout time.Duration
	// OnReadiness, if set, sees readiness changes while waiting.
	OnReadiness func(kube.Readiness)
}

// PushResult is what pushing one image did.
type PushResult struct {
	Label     string        `json:"label"`
	Reference string        `json:"reference"`
	Present   bool          `json:"alreadyPresent"`
	Stats     publish.Stats `json:"stats"`
}

// Report is what a deploy did.
type Report struct {
	Target    string             `json:"target"`
	Namespace string             `json:"namespace"`
	Images    []PushResult       `json:"images,omitempty"`
	Changes   []kube.Change      `json:"changes,omitempty"`
	Pruned    []kube.Change      `json:"pruned,omitempty"`
	Readiness []kube.Readiness   `json:"readiness,omitempty"`
	Notes     []string           `json:"notes,omitempty"`
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

func (d *Deployer) cluster() Cluster {
	if d.Cluster != nil {
		return d.Cluster
	}
	return KubeCluster{d.Clients}
}

// report starts a report; its done function fills in the requests made since.
func (d *Deployer) report(r *Resolved) (*Report, func()) {
	rep := &Report{Target: r.Target, Namespace: r.Namespace}
	if d.Clients == nil || d.Clients.Requests == nil {
		return rep, func() {}
	}
	before := d.Clients.Requests.Snapshot()
	return rep, func() { rep.Requests = d.Clients.Requests.Since(before) }
}

// Deploy pushes the target's images, applies it and waits for what changed.
func (d *Deployer) Deploy(ctx context.Context, r *Resolved) (*Report, error) {
	images, err := d.Push(ctx, r)
	if err != nil {
		rep, done := d.report(r)
		done()
		rep.Images = images
		return rep, err
	}
	rep, err := d.Apply(ctx, r)
	rep.Images = images
	if err != nil || d.ReadyTimeout <= 0 {
		return rep, err
	}
	rep.Readiness, err = d.Wait(ctx, rep.Changed())
	return rep, err
}

// Push publishes the target's images, in parallel.
func (d *Deployer) Push(ctx context.Context, r *Resolved) ([]PushResult, error) {
	return d.PushImages(ctx, r.Images)
}

// PushImages publishes images, in parallel. Only images that were pushed (or
// found present) have a result.
func (d *Deployer) PushImages(ctx context.Context, images []Image) ([]PushResult, error) {
	results := make([]PushResult, len(images))
	g, ctx := errgroup.WithContext(ctx)
	for i, img := range images {
		g.Go(func() error {
			a, err := publish.FromLayout(img.Layout)
			if err != nil {
				return fmt.Errorf("image %s: %w", img.Label, err)
			}
			res, err := d.Publisher.Publish(ctx, a, img.Repository)
			if err != nil {
				return fmt.Errorf("image %s: %w", img.Label, err)
			}
			results[i] = PushResult{Label: img.Label, Reference: res.Reference, Present: res.AlreadyPresent, Stats: res.Stats}
			return nil
		})
	}
	err := g.Wait()
	var done []PushResult
	for _, p := range results {
		if p.Reference != "" {
			done = append(done, p)
		}
	}
	return done, err
}

// Wait waits until the objects are ready, up to ReadyTimeout.
func (d *Deployer) Wait(ctx context.Context, refs []kube.Ref) ([]kube.Readiness, error) {
	return d.cluster().WaitReady(ctx, refs, d.ReadyTimeout, 250*time.Millisecond, d.OnReadiness)
}

// Apply makes sure the namespace exists, applies the objects that differ from
// the cluster (the server's dry-run decides), prunes objects this target applied
// before and no longer renders, and records the inventory. It pushes nothing and
// does not wait. A namespace it creates belongs to no target's inventory.
func (d *Deployer) Apply(ctx context.Context, r *Resolved) (*Report, error) {
	report, done := d.report(r)
	defer done()
	c := d.cluster()
	// Every kind must be served before anything is written.
	r, err := d.scoped(r)
	if err != nil {
		return report, err
	}
	prev, stored, err := d.inventory(ctx, r)
	if err != nil {
		return report, err
	}
	if exists, err := c.NamespaceExists(ctx, r.Namespace); err != nil {
		return report, err
	} else if !exists {
		if err := c.CreateNamespace(ctx, r.Namespace); err != nil {
			return report, err
		}
	}
	current := r.Inventory.Objects
	// Record everything about to be applied first, so a failed apply never leaves
	// objects that no inventory knows.
	if err := d.saveInventory(ctx, r.Inventory, union(prev.Objects, current), &stored); err != nil {
		return report, err
	}
	if report.Changes, err = c.Apply(ctx, r.Objects, d.ForceConflicts || r.ForceConflicts); err != nil {
		return report, err
	}
	if err := d.prune(ctx, r, minus(prev.Objects, current), report); err != nil {
		return report, err
	}
	return report, d.saveInventory(ctx, r.Inventory, current, &stored)
}

// prune deletes objects the target no longer renders; a namespace among them
// only when it is empty.
func (d *Deployer) prune(ctx context.Context, r *Resolved, refs []kube.Ref, report *Report) error {
	objects, namespaces := splitNamespaces(refs)
	pruned, err := d.cluster().DeleteOwned(ctx, r.Inventory, objects, time.Minute)
	report.Pruned = append(report.Pruned, pruned...)
	if err != nil {
		return err
	}
	for _, ns := range namespaces {
		if err := d.deleteNamespaceIfEmpty(ctx, ns.Name, report); err != nil {
			return err
		}
	}
	return nil
}

// Diff returns what Apply would change, from server-side dry-runs, and what it
// would prune. It writes nothing.
func (d *Deployer) Diff(ctx context.Context, r *Resolved) (*Report, error) {
	report, done := d.report(r)
	defer done()
	c := d.cluster()
	r, err := d.scoped(r)
	if err != nil {
		return report, err
	}
	exists, err := c.NamespaceExists(ctx, r.Namespace)
	if err != nil {
		return report, err
	}
	if !exists { // nothing can be dry-run into a namespace that does not exist: all is new
		report.Changes = append(report.Changes, kube.Change{Ref: kube.NamespaceRef(r.Namespace), Action: kube.Created})
		for _, o := range r.Objects {
			report.Changes = append(report.Changes, kube.Change{Ref: kube.RefOf(o), Action: kube.Created, Desired: o})
		}
		return report, nil
	}
	if report.Changes, err = c.Plan(ctx, r.Objects, d.ForceConflicts || r.ForceConflicts); err != nil {
		return report, err
	}
	prev, _, err := d.inventory(ctx, r)
	if err != nil {
		return report, err
	}
	for _, ref := range minus(prev.Objects, r.Inventory.Objects) {
		report.Pruned = append(report.Pruned, kube.Change{Ref: ref, Action: kube.Deleted})
	}
	return report, nil
}

// Delete removes exactly what the target's inventory lists (objects that still
// carry its mark), then the inventory. Namespaces the target rendered itself go
// last, and only when nothing else is left in them; the namespace it deploys
// into is left alone (DeleteNamespace removes it when asked).
func (d *Deployer) Delete(ctx context.Context, r *Resolved) (*Report, error) {
	report, done := d.report(r)
	defer done()
	c := d.cluster()
	inv, _, err := d.inventory(ctx, r)
	if err != nil {
		return report, err
	}
	objects, namespaces := splitNamespaces(inv.Objects)
	if report.Pruned, err = c.DeleteOwned(ctx, inv, objects, time.Minute); err != nil {
		return report, err
	}
	if inv.Stored {
		if err := c.DeleteInventory(ctx, inv); err != nil {
			return report, err
		}
	}
	for _, ns := range namespaces {
		if err := d.deleteNamespaceIfEmpty(ctx, ns.Name, report); err != nil {
			return report, err
		}
	}
	return report, nil
}

// DeleteNamespace deletes the target's namespace if it holds nothing (after
// Delete, say); otherwise it says what keeps it.
func (d *Deployer) DeleteNamespace(ctx context.Context, r *Resolved) (*Report, error) {
	report, done := d.report(r)
	defer done()
	exists, err := d.cluster().NamespaceExists(ctx, r.Namespace)
	if err != nil || !exists {
		return report, err
	}
	return report, d.deleteNamespaceIfEmpty(ctx, r.Namespace, report)
}

func (d *Deployer) deleteNamespaceIfEmpty(ctx context.Context, name string, report *Report) error {
	c := d.cluster()
	held, err := c.NamespaceContents(ctx, name)
	if err != nil {
		return err
	}
	ref := kube.NamespaceRef(name)
	if len(held) > 0 {
		report.Pruned = append(report.Pruned, kube.Change{Ref: ref, Action: kube.Skipped})
		report.Notes = append(report.Notes, fmt.Sprintf("%s left alone: it still holds %s", ref, describeRefs(held, 5)))
		return nil
	}
	if err := c.DeleteNamespace(ctx, name); err != nil {
		return err
	}
	report.Pruned = append(report.Pruned, kube.Change{Ref: ref, Action: kube.Deleted})
	return nil
}

func describeRefs(refs []kube.Ref, n int) string {
	var parts []string
	for i, r := range refs {
		if i == n {
			parts = append(parts, fmt.Sprintf("and %d more", len(refs)-n))
			break
		}
		parts = append(parts, r.String())
	}
	return strings.Join(parts, ", ")
}

// inventory loads the target's inventory, less the namespace it deploys into:
// older versions recorded that namespace as the first target's own, but it
// belongs to every target deploying there.
// stored is what the inventory's ConfigMap lists as it is.
func (d *Deployer) inventory(ctx context.Context, r *Resolved) (inv *kube.Inventory, stored []kube.Ref, err error) {
	inv, err = d.cluster().LoadInventory(ctx, r.Target, r.Namespace)
	if err != nil {
		return nil, nil, err
	}
	stored = inv.Objects
	if !contains(r.Inventory.Objects, kube.NamespaceRef(r.Namespace)) {
		inv.Objects = minus(inv.Objects, []kube.Ref{kube.NamespaceRef(r.Namespace)})
	}
	return inv, stored, nil
}

// saveInventory records objects as the inventory unless they are what stored
// lists already (an unchanged deploy writes nothing), and updates stored.
func (d *Deployer) saveInventory(ctx context.Context, inv *kube.Inventory, objects []kube.Ref, stored *[]kube.Ref) error {
	if len(minus(objects, *stored)) == 0 && len(minus(*stored, objects)) == 0 {
		return nil
	}
	rec := *inv
	rec.Objects = append([]kube.Ref(nil), objects...)
	if err := d.cluster().SaveInventory(ctx, &rec); err != nil {
		return err
	}
	*stored = rec.Objects
	return nil
}

// scoped returns r with every object in its kind's scope, as the cluster keys
// it (cluster-scoped custom resources lose the namespace Resolve gave them), and
// fails on the first kind the cluster does not serve, unless a CRD among the
// objects defines it (its scope then says). r is not changed.
func (d *Deployer) scoped(r *Resolved) (*Resolved, error) {
	defined := map[string]bool{} // group/kind -> namespaced
	for _, o := range r.Objects {
		if o.GetKind() == "CustomResourceDefinition" {
			group, _, _ := unstructured.NestedString(o.Object, "spec", "group")
			kind, _, _ := unstructured.NestedString(o.Object, "spec", "names", "kind")
			scope, _, _ := unstructured.NestedString(o.Object, "spec", "scope")
			defined[group+"/"+kind] = scope != "Cluster"
		}
	}
	out := *r
	out.Objects = make([]*unstructured.Unstructured, len(r.Objects))
	out.Hashes = map[string]string{}
	inv := *r.Inventory
	inv.Objects = nil
	for i, o := range r.Objects {
		key, err := objectKey(d.cluster(), o, defined)
		if err != nil {
			return nil, err
		}
		obj := o.DeepCopy()
		obj.SetNamespace(key.Namespace)
		out.Objects[i] = obj
		out.Hashes[key.Key()] = r.Hashes[kube.RefOf(o).Key()]
		inv.Objects = append(inv.Objects, key)
	}
	out.Inventory = &inv
	return &out, nil
}

func objectKey(c Cluster, o *unstructured.Unstructured, defined map[string]bool) (kube.Ref, error) {
	gvk := o.GroupVersionKind()
	if namespaced, ok := defined[gvk.Group+"/"+gvk.Kind]; ok {
		return kube.ScopedRef(kube.RefOf(o), namespaced), nil
	}
	return c.Key(o)
}

func splitNamespaces(refs []kube.Ref) (objects, namespaces []kube.Ref) {
	for _, ref := range refs {
		if ref.Kind == "Namespace" && ref.Group == "" {
			namespaces = append(namespaces, ref)
		} else {
			objects = append(objects, ref)
		}
	}
	return objects, namespaces
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
