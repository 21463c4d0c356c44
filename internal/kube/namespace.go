package kube

import (
	"context"
	"fmt"
	"sort"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// ManagedByLabel marks namespaces slipway created for targets' objects: they
// belong to no single target's inventory.
const ManagedByLabel = "app.kubernetes.io/managed-by"

// NamespaceRef is the reference of a namespace.
func NamespaceRef(name string) Ref {
	return Ref{Version: "v1", Kind: "Namespace", Name: name}
}

// NamespaceExists reports whether the namespace exists.
func (c *Clients) NamespaceExists(ctx context.Context, name string) (bool, error) {
	_, err := c.Typed.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("namespace %s: %w", name, err)
	}
	return true, nil
}

// CreateNamespace creates a namespace, labeled as made by slipway.
func (c *Clients) CreateNamespace(ctx context.Context, name string) error {
	ns := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Namespace",
		"metadata": map[string]any{"name": name, "labels": map[string]any{ManagedByLabel: FieldManager}}}}
	ri, err := c.ResourceFor(NamespaceRef(name))
	if err != nil {
		return err
	}
	if _, err := ri.Apply(ctx, name, ns, metav1.ApplyOptions{FieldManager: FieldManager}); err != nil {
		return fmt.Errorf("creating namespace %s: %w", name, err)
	}
	return nil
}

// DeleteNamespace deletes a namespace (and so whatever it still holds).
func (c *Clients) DeleteNamespace(ctx context.Context, name string) error {
	err := c.Typed.CoreV1().Namespaces().Delete(ctx, name, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting namespace %s: %w", name, err)
	}
	return nil
}

// NamespaceContents lists the objects a namespace holds that someone put there:
// every listable kind the cluster serves, less what the cluster makes itself
// (events, endpoints, the default ServiceAccount and root CA ConfigMap), objects
// another object owns, and objects being deleted.
func (c *Clients) NamespaceContents(ctx context.Context, name string) ([]Ref, error) {
	lists, err := c.Typed.Discovery().ServerPreferredNamespacedResources()
	if err != nil && len(lists) == 0 {
		return nil, fmt.Errorf("namespace %s: listing the kinds it may hold: %w", name, err)
	}
	var out []Ref
	for _, list := range lists {
		gv, err := schema.ParseGroupVersion(list.GroupVersion)
		if err != nil {
			continue
		}
		for _, res := range list.APIResources {
			if !listable(res) || clusterMade[gv.Group+"/"+res.Kind] {
				continue
			}
			items, err := c.Dynamic.Resource(gv.WithResource(res.Name)).Namespace(name).List(ctx, metav1.ListOptions{})
			if apierrors.IsNotFound(err) || apierrors.IsMethodNotSupported(err) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("namespace %s: listing %s: %w", name, res.Name, err)
			}
			for i := range items.Items {
				if u := &items.Items[i]; !made(u, res.Kind) {
					out = append(out, Ref{Group: gv.Group, Version: gv.Version, Kind: res.Kind, Namespace: name, Name: u.GetName()})
				}
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key() < out[j].Key() })
	return out, nil
}

// clusterMade are kinds (group/kind) the cluster makes in every namespace or
// for other objects.
var clusterMade = map[string]bool{
	"/Event": true, "events.k8s.io/Event": true, "/Endpoints": true, "discovery.k8s.io/EndpointSlice": true,
}

func listable(res metav1.APIResource) bool {
	for _, v := range res.Verbs {
		if v == "list" {
			return true
		}
	}
	return false
}

// made reports objects that no one put there by hand or by a deploy.
func made(u *unstructured.Unstructured, kind string) bool {
	switch {
	case u.GetDeletionTimestamp() != nil, len(u.GetOwnerReferences()) > 0:
		return true
	case kind == "ConfigMap" && u.GetName() == "kube-root-ca.crt":
		return true
	case kind == "ServiceAccount" && u.GetName() == "default":
		return true
	}
	return false
}
