package kube

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
)

// Marks on every object slipway applies: the inventory it belongs to (a label, so
// objects can be selected by it) and the target that rendered it.
const (
	InventoryLabel   = "slipway.dev/inventory"
	TargetAnnotation = "slipway.dev/target"
	// HashAnnotation holds the content hash of the object as rendered, so tools can
	// tell what a deploy would change without asking the server.
	HashAnnotation = "slipway.dev/hash"
)

// InventoryID identifies the objects one target deployed into one namespace: two
// developers' namespaces, or two targets, never share an inventory.
func InventoryID(target, namespace string) string {
	sum := sha256.Sum256([]byte(target + "\x00" + namespace))
	return hex.EncodeToString(sum[:])[:20]
}

// Inventory is what one target applied, kept in a ConfigMap next to the objects.
type Inventory struct {
	ID        string
	Target    string
	Namespace string // where the ConfigMap lives
	Objects   []Ref
	// Stored: the inventory's ConfigMap exists (LoadInventory found it).
	Stored bool
}

func (inv *Inventory) configMapName() string { return "slipway-inventory-" + inv.ID }

// LoadInventory reads the inventory of target in namespace (empty when none).
func (c *Clients) LoadInventory(ctx context.Context, target, namespace string) (*Inventory, error) {
	inv := &Inventory{ID: InventoryID(target, namespace), Target: target, Namespace: namespace}
	cm, err := c.Typed.CoreV1().ConfigMaps(namespace).Get(ctx, inv.configMapName(), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return inv, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading inventory ConfigMap %s/%s: %w", namespace, inv.configMapName(), err)
	}
	if err := json.Unmarshal([]byte(cm.Data["objects"]), &inv.Objects); err != nil {
		return nil, fmt.Errorf("inventory ConfigMap %s/%s: %w", namespace, inv.configMapName(), err)
	}
	inv.Stored = true
	return inv, nil
}

// SaveInventory writes the inventory ConfigMap (server-side apply, so it is idempotent).
func (c *Clients) SaveInventory(ctx context.Context, inv *Inventory) error {
	sort.Slice(inv.Objects, func(i, j int) bool { return inv.Objects[i].Key() < inv.Objects[j].Key() })
	objects, err := json.Marshal(inv.Objects)
	if err != nil {
		return err
	}
	cm := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1",
		"kind":       "ConfigMap",
		"metadata": map[string]any{
			"name":        inv.configMapName(),
			"namespace":   inv.Namespace,
			"labels":      map[string]any{InventoryLabel: inv.ID},
			"annotations": map[string]any{TargetAnnotation: inv.Target},
		},
		"data": map[string]any{"target": inv.Target, "objects": string(objects)},
	}}
	_, err = c.Dynamic.Resource(corev1.SchemeGroupVersion.WithResource("configmaps")).Namespace(inv.Namespace).
		Apply(ctx, cm.GetName(), cm, metav1.ApplyOptions{FieldManager: FieldManager, Force: true})
	if err != nil {
		return fmt.Errorf("saving inventory ConfigMap %s/%s: %w", inv.Namespace, cm.GetName(), err)
	}
	return nil
}

// DeleteInventory removes the inventory ConfigMap.
func (c *Clients) DeleteInventory(ctx context.Context, inv *Inventory) error {
	err := c.Typed.CoreV1().ConfigMaps(inv.Namespace).Delete(ctx, inv.configMapName(), metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	return nil
}

// Mark labels and annotates an object as belonging to an inventory.
func Mark(u *unstructured.Unstructured, inv *Inventory, hash string) {
	labels := u.GetLabels()
	if labels == nil {
		labels = map[string]string{}
	}
	labels[InventoryLabel] = inv.ID
	u.SetLabels(labels)
	ann := u.GetAnnotations()
	if ann == nil {
		ann = map[string]string{}
	}
	ann[TargetAnnotation] = inv.Target
	if hash != "" {
		ann[HashAnnotation] = hash
	}
	u.SetAnnotations(ann)
}

// DeleteOwned deletes the objects refs names that still carry the inventory's
// label, and skips (reporting them) any that do not: an object someone else
// created under the same name is never ours to delete. It waits until the deleted
// objects are gone, up to timeout.
func (c *Clients) DeleteOwned(ctx context.Context, inv *Inventory, refs []Ref, timeout time.Duration) ([]Change, error) {
	var changes []Change
	var gone []Ref
	// Namespaces last: deleting one takes everything in it along.
	sort.SliceStable(refs, func(i, j int) bool { return refs[i].Kind != "Namespace" && refs[j].Kind == "Namespace" })
	for _, ref := range refs {
		ri, err := c.ResourceFor(ref)
		if err != nil {
			if _, ok := err.(*UnknownKindError); ok {
				continue // its CRD is gone, and the object with it
			}
			return changes, err
		}
		live, err := ri.Get(ctx, ref.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return changes, fmt.Errorf("%s: %w", ref, err)
		}
		if live.GetLabels()[InventoryLabel] != inv.ID {
			changes = append(changes, Change{Ref: ref, Action: Skipped})
			continue
		}
		policy := metav1.DeletePropagationBackground
		err = ri.Delete(ctx, ref.Name, metav1.DeleteOptions{
			PropagationPolicy: &policy,
			// Only the object we just looked at: not one recreated since by someone else.
			Preconditions: &metav1.Preconditions{UID: ptr(live.GetUID())},
		})
		if err != nil && !apierrors.IsNotFound(err) {
			return changes, fmt.Errorf("deleting %s: %w", ref, err)
		}
		changes = append(changes, Change{Ref: ref, Action: Deleted})
		gone = append(gone, ref)
	}
	return changes, c.waitGone(ctx, gone, timeout)
}

func (c *Clients) waitGone(ctx context.Context, refs []Ref, timeout time.Duration) error {
	for _, ref := range refs {
		ri, err := c.ResourceFor(ref)
		if err != nil {
			continue
		}
		err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
			_, err := ri.Get(ctx, ref.Name, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				return true, nil
			}
			return false, err
		})
		if err != nil {
			return fmt.Errorf("%s: still there after %s: %w", ref, timeout, err)
		}
	}
	return nil
}

func ptr[T any](v T) *T { return &v }
