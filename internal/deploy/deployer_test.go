package deploy

import (
	"context"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/slipway-dev/slipway/internal/kube"
	"github.com/slipway-dev/slipway/internal/manifest"
)

// fakeCluster keeps objects, namespaces and inventories in maps, and logs
// every write.
type fakeCluster struct {
	namespaced  map[string]bool // kind -> namespaced; kinds not listed are not served
	live        map[string]*unstructured.Unstructured
	namespaces  map[string]bool
	inventories map[string]*kube.Inventory // by ID
	writes      []string
}

func newFakeCluster() *fakeCluster {
	return &fakeCluster{
		namespaced: map[string]bool{"ConfigMap": true, "Deployment": true, "Namespace": false, "Widget": false},
		live:       map[string]*unstructured.Unstructured{}, namespaces: map[string]bool{},
		inventories: map[string]*kube.Inventory{},
	}
}

func (f *fakeCluster) Key(u *unstructured.Unstructured) (kube.Ref, error) {
	namespaced, ok := f.namespaced[u.GetKind()]
	if !ok {
		return kube.Ref{}, &kube.UnknownKindError{Ref: kube.RefOf(u)}
	}
	return kube.ScopedRef(kube.RefOf(u), namespaced), nil
}

func (f *fakeCluster) Plan(_ context.Context, objs []*unstructured.Unstructured, _ bool) ([]kube.Change, error) {
	var out []kube.Change
	for _, o := range objs {
		c := kube.Change{Ref: kube.RefOf(o), Action: kube.Unchanged, Desired: o}
		switch live := f.live[c.Ref.Key()]; {
		case live == nil:
			c.Action = kube.Created
		case !equality.Semantic.DeepEqual(live.Object, o.Object):
			c.Action = kube.Configured
		}
		out = append(out, c)
	}
	return out, nil
}

func (f *fakeCluster) Apply(ctx context.Context, objs []*unstructured.Unstructured, force bool) ([]kube.Change, error) {
	changes, _ := f.Plan(ctx, objs, force)
	for i, c := range changes {
		if c.Action != kube.Unchanged {
			f.live[c.Ref.Key()] = objs[i].DeepCopy()
			f.writes = append(f.writes, "apply "+c.Ref.String())
		}
	}
	return changes, nil
}

func (f *fakeCluster) NamespaceExists(_ context.Context, name string) (bool, error) {
	return f.namespaces[name], nil
}

func (f *fakeCluster) CreateNamespace(_ context.Context, name string) error {
	f.namespaces[name] = true
	f.writes = append(f.writes, "create namespace "+name)
	return nil
}

func (f *fakeCluster) NamespaceContents(_ context.Context, name string) ([]kube.Ref, error) {
	var out []kube.Ref
	for _, u := range f.live {
		if u.GetNamespace() == name {
			out = append(out, kube.RefOf(u))
		}
	}
	for _, inv := range f.inventories {
		if inv.Namespace == name {
			out = append(out, kube.Ref{Version: "v1", Kind: "ConfigMap", Namespace: name, Name: "slipway-inventory-" + inv.ID})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key() < out[j].Key() })
	return out, nil
}

func (f *fakeCluster) DeleteNamespace(_ context.Context, name string) error {
	delete(f.namespaces, name)
	for k, u := range f.live {
		if u.GetNamespace() == name {
			delete(f.live, k)
		}
	}
	f.writes = append(f.writes, "delete namespace "+name)
	return nil
}

func (f *fakeCluster) LoadInventory(_ context.Context, target, namespace string) (*kube.Inventory, error) {
	id := kube.InventoryID(target, namespace)
	if inv := f.inventories[id]; inv != nil {
		c := *inv
		c.Objects = append([]kube.Ref(nil), inv.Objects...)
		c.Stored = true
		return &c, nil
	}
	return &kube.Inventory{ID: id, Target: target, Namespace: namespace}, nil
}

func (f *fakeCluster) SaveInventory(_ context.Context, inv *kube.Inventory) error {
	c := *inv
	c.Objects = append([]kube.Ref(nil), inv.Objects...)
	f.inventories[inv.ID] = &c
	f.writes = append(f.writes, "save inventory "+inv.Target)
	return nil
}

func (f *fakeCluster) DeleteInventory(_ context.Context, inv *kube.Inventory) error {
	delete(f.inventories, inv.ID)
	f.writes = append(f.writes, "delete inventory "+inv.Target)
	return nil
}

func (f *fakeCluster) DeleteOwned(_ context.Context, inv *kube.Inventory, refs []kube.Ref, _ time.Duration) ([]kube.Change, error) {
	var out []kube.Change
	for _, ref := range refs {
		live := f.live[ref.Key()]
		switch {
		case live == nil:
		case live.GetLabels()[kube.InventoryLabel] != inv.ID:
			out = append(out, kube.Change{Ref: ref, Action: kube.Skipped})
		default:
			delete(f.live, ref.Key())
			f.writes = append(f.writes, "delete "+ref.String())
			out = append(out, kube.Change{Ref: ref, Action: kube.Deleted})
		}
	}
	return out, nil
}

func (f *fakeCluster) WaitReady(_ context.Context, refs []kube.Ref, _, _ time.Duration, _ func(kube.Readiness)) ([]kube.Readiness, error) {
	var out []kube.Readiness
	for _, ref := range refs {
		out = append(out, kube.Readiness{Ref: ref})
	}
	return out, nil
}

func (f *fakeCluster) takeWrites() []string {
	w := f.writes
	f.writes = nil
	return w
}

// liveNames lists the live objects as "Kind ns/name", sorted.
func (f *fakeCluster) liveNames() []string {
	var out []string
	for _, u := range f.live {
		out = append(out, kube.RefOf(u).String())
	}
	sort.Strings(out)
	return out
}

// resolved resolves a target of ConfigMaps (and other objects) rendered into ns.
func resolved(t *testing.T, target, ns string, objs ...*unstructured.Unstructured) *Resolved {
	t.Helper()
	tgt := &Target{Spec: Spec{Target: target}}
	tgt.Inventory.Namespace = ns
	for _, o := range objs {
		tgt.Objects = append(tgt.Objects, o)
		tgt.Inventory.Objects = append(tgt.Inventory.Objects, manifestRef(o))
	}
	r, err := Resolve(tgt, Settings{})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func cm(name, value string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": name}, "data": map[string]any{"v": value}}}
}

func actionsOf(changes ...[]kube.Change) map[string]kube.Action {
	out := map[string]kube.Action{}
	for _, cs := range changes {
		for _, c := range cs {
			out[c.Ref.String()] = c.Action
		}
	}
	return out
}

func diff(t *testing.T, what string, want, got any) {
	t.Helper()
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("%s (-want +got):\n%s", what, d)
	}
}

func TestApplyCreatesTheNamespaceForNoTarget(t *testing.T) {
	f := newFakeCluster()
	d := &Deployer{Cluster: f}
	ctx := context.Background()
	r := resolved(t, "//shop/a:deploy", "shop-ann", cm("a", "1"))
	rep, err := d.Apply(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "changes", map[string]kube.Action{"ConfigMap shop-ann/a": kube.Created}, actionsOf(rep.Changes))
	diff(t, "writes", []string{"create namespace shop-ann", "save inventory //shop/a:deploy", "apply ConfigMap shop-ann/a"}, f.takeWrites())
	inv, _ := f.LoadInventory(ctx, "//shop/a:deploy", "shop-ann")
	diff(t, "inventory", []kube.Ref{{Version: "v1", Kind: "ConfigMap", Namespace: "shop-ann", Name: "a"}}, inv.Objects)

	rep, err = d.Apply(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "changes again", map[string]kube.Action{"ConfigMap shop-ann/a": kube.Unchanged}, actionsOf(rep.Changes))
	diff(t, "writes again", []string(nil), f.takeWrites())
}

func TestApplyPrunesWhatIsNoLongerRendered(t *testing.T) {
	f := newFakeCluster()
	d := &Deployer{Cluster: f}
	ctx := context.Background()
	if _, err := d.Apply(ctx, resolved(t, "//a", "ns", cm("keep", "1"), cm("drop", "1"), cm("theirs", "1"))); err != nil {
		t.Fatal(err)
	}
	// Someone else's object now has the name "theirs": not ours to delete.
	foreign := cm("theirs", "x")
	foreign.SetNamespace("ns")
	f.live[kube.RefOf(foreign).Key()] = foreign
	f.takeWrites()
	rep, err := d.Apply(ctx, resolved(t, "//a", "ns", cm("keep", "2")))
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "changes", map[string]kube.Action{"ConfigMap ns/keep": kube.Configured, "ConfigMap ns/drop": kube.Deleted, "ConfigMap ns/theirs": kube.Skipped},
		actionsOf(rep.Changes, rep.Pruned))
	diff(t, "live", []string{"ConfigMap ns/keep", "ConfigMap ns/theirs"}, f.liveNames())
	inv, _ := f.LoadInventory(ctx, "//a", "ns")
	diff(t, "inventory", []kube.Ref{{Version: "v1", Kind: "ConfigMap", Namespace: "ns", Name: "keep"}}, inv.Objects)
}

func TestApplyNeverPrunesTheSharedNamespaceOfAnOldInventory(t *testing.T) {
	f := newFakeCluster()
	d := &Deployer{Cluster: f}
	ctx := context.Background()
	r := resolved(t, "//a", "ns", cm("a", "1"))
	// Written by an older version: the namespace recorded as the target's own.
	f.inventories[r.Inventory.ID] = &kube.Inventory{ID: r.Inventory.ID, Target: "//a", Namespace: "ns",
		Objects: []kube.Ref{kube.NamespaceRef("ns"), {Version: "v1", Kind: "ConfigMap", Namespace: "ns", Name: "a"}}}
	f.namespaces["ns"] = true
	rep, err := d.Apply(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Pruned) > 0 || !f.namespaces["ns"] {
		t.Errorf("pruned %v; namespace exists: %v", rep.Pruned, f.namespaces["ns"])
	}
	diff(t, "inventory", []kube.Ref{{Version: "v1", Kind: "ConfigMap", Namespace: "ns", Name: "a"}}, f.inventories[r.Inventory.ID].Objects)
}

func TestApplyKeysClusterScopedCustomResourcesWithoutNamespace(t *testing.T) {
	f := newFakeCluster()
	d := &Deployer{Cluster: f}
	w := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "example.com/v1", "kind": "Widget", "metadata": map[string]any{"name": "w"}}}
	r := resolved(t, "//a", "ns", w)
	if got := r.Objects[0].GetNamespace(); got != "ns" {
		t.Fatalf("Resolve (offline) put the Widget in %q; the test wants it namespaced by mistake", got)
	}
	rep, err := d.Apply(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "changes", map[string]kube.Action{"Widget w": kube.Created}, actionsOf(rep.Changes))
	diff(t, "inventory", []kube.Ref{{Group: "example.com", Version: "v1", Kind: "Widget", Name: "w"}}, f.inventories[r.Inventory.ID].Objects)
	if r.Objects[0].GetNamespace() != "ns" {
		t.Error("Apply changed the resolved object it was given")
	}
}

func TestApplyRefusesUnservedKinds(t *testing.T) {
	f := newFakeCluster()
	g := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "example.com/v1", "kind": "Gadget", "metadata": map[string]any{"name": "g"}}}
	_, err := (&Deployer{Cluster: f}).Apply(context.Background(), resolved(t, "//a", "ns", cm("a", "1"), g))
	if _, ok := err.(*kube.UnknownKindError); !ok {
		t.Errorf("error %v, want an UnknownKindError", err)
	}
	diff(t, "writes", []string(nil), f.takeWrites())
}

func TestDeleteLeavesTheSharedNamespaceAndOthersObjects(t *testing.T) {
	f := newFakeCluster()
	d := &Deployer{Cluster: f}
	ctx := context.Background()
	a, b := resolved(t, "//a", "shop", cm("a", "1")), resolved(t, "//b", "shop", cm("b", "1"))
	for _, r := range []*Resolved{a, b} {
		if _, err := d.Apply(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	byHand := cm("by-hand", "1")
	byHand.SetNamespace("shop")
	f.live[kube.RefOf(byHand).Key()] = byHand

	rep, err := d.Delete(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "delete a", map[string]kube.Action{"ConfigMap shop/a": kube.Deleted}, actionsOf(rep.Pruned))
	diff(t, "live", []string{"ConfigMap shop/b", "ConfigMap shop/by-hand"}, f.liveNames())
	if !f.namespaces["shop"] || f.inventories[b.Inventory.ID] == nil {
		t.Fatalf("namespace %v, b's inventory %v: want both kept", f.namespaces["shop"], f.inventories[b.Inventory.ID])
	}

	if _, err := d.Delete(ctx, b); err != nil {
		t.Fatal(err)
	}
	rep, err = d.DeleteNamespace(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "delete namespace while it holds by-hand", map[string]kube.Action{"Namespace shop": kube.Skipped}, actionsOf(rep.Pruned))
	if len(rep.Notes) != 1 || !strings.Contains(rep.Notes[0], "ConfigMap shop/by-hand") {
		t.Errorf("notes %q do not name what keeps the namespace", rep.Notes)
	}
	delete(f.live, kube.RefOf(byHand).Key())
	rep, err = d.DeleteNamespace(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "delete the empty namespace", map[string]kube.Action{"Namespace shop": kube.Deleted}, actionsOf(rep.Pruned))
}

func TestDeleteOfNothingWritesNothing(t *testing.T) {
	f := newFakeCluster()
	f.namespaces["ns"] = true
	rep, err := (&Deployer{Cluster: f}).Delete(context.Background(), resolved(t, "//a", "ns", cm("a", "1")))
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "writes", []string(nil), f.takeWrites())
	diff(t, "pruned", []kube.Change(nil), rep.Pruned)
}

func TestDeployWaitsForWhatChanged(t *testing.T) {
	f := newFakeCluster()
	d := &Deployer{Cluster: f, ReadyTimeout: time.Minute}
	ctx := context.Background()
	if _, err := d.Apply(ctx, resolved(t, "//a", "ns", cm("a", "1"), cm("b", "1"))); err != nil {
		t.Fatal(err)
	}
	rep, err := d.Deploy(ctx, resolved(t, "//a", "ns", cm("a", "2"), cm("b", "1")))
	if err != nil {
		t.Fatal(err)
	}
	var waited []string
	for _, r := range rep.Readiness {
		waited = append(waited, r.Ref.String())
	}
	diff(t, "waited for", []string{"ConfigMap ns/a"}, waited)
}

// manifestRef is the inventory entry the build writes for an object that takes
// the target's namespace.
func manifestRef(o *unstructured.Unstructured) manifest.ObjectRef {
	gvk := o.GroupVersionKind()
	return manifest.ObjectRef{Group: gvk.Group, Version: gvk.Version, Kind: gvk.Kind, Name: o.GetName(), DefaultNamespace: true}
}
