package deploy

import (
	"context"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/slipway-dev/slipway/internal/kube"
)

// Cluster is what deploying needs from a cluster: kube.Clients through
// KubeCluster, a fake in tests.
type Cluster interface {
	// Key is an object's reference in its kind's scope (kube.Clients.Key).
	Key(u *unstructured.Unstructured) (kube.Ref, error)
	// Plan dry-runs applying objs; Apply applies those that differ.
	Plan(ctx context.Context, objs []*unstructured.Unstructured, force bool) ([]kube.Change, error)
	Apply(ctx context.Context, objs []*unstructured.Unstructured, force bool) ([]kube.Change, error)
	NamespaceExists(ctx context.Context, name string) (bool, error)
	CreateNamespace(ctx context.Context, name string) error
	NamespaceContents(ctx context.Context, name string) ([]kube.Ref, error)
	DeleteNamespace(ctx context.Context, name string) error
	LoadInventory(ctx context.Context, target, namespace string) (*kube.Inventory, error)
	SaveInventory(ctx context.Context, inv *kube.Inventory) error
	DeleteInventory(ctx context.Context, inv *kube.Inventory) error
	DeleteOwned(ctx context.Context, inv *kube.Inventory, refs []kube.Ref, timeout time.Duration) ([]kube.Change, error)
	WaitReady(ctx context.Context, refs []kube.Ref, timeout, interval time.Duration, onChange func(kube.Readiness)) ([]kube.Readiness, error)
}

// KubeCluster is a Cluster through kube.Clients.
type KubeCluster struct{ *kube.Clients }

var _ Cluster = KubeCluster{}

func (k KubeCluster) Plan(ctx context.Context, objs []*unstructured.Unstructured, force bool) ([]kube.Change, error) {
	return (&kube.Applier{Clients: k.Clients, ForceConflicts: force}).Plan(ctx, objs)
}

func (k KubeCluster) Apply(ctx context.Context, objs []*unstructured.Unstructured, force bool) ([]kube.Change, error) {
	return (&kube.Applier{Clients: k.Clients, ForceConflicts: force}).Apply(ctx, objs)
}
