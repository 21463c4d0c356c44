package kube

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/discovery/cached/memory"
	fakediscovery "k8s.io/client-go/discovery/fake"
	fakedynamic "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/restmapper"
	clienttesting "k8s.io/client-go/testing"
)

// servedClients are clients whose discovery serves ConfigMaps (namespaced) and
// example.com/v1 Widgets (cluster-scoped, as from a CRD installed earlier).
func servedClients() *Clients {
	disco := &fakediscovery.FakeDiscovery{Fake: &clienttesting.Fake{Resources: []*metav1.APIResourceList{
		{GroupVersion: "v1", APIResources: []metav1.APIResource{{Name: "configmaps", Kind: "ConfigMap", Namespaced: true, Verbs: []string{"get", "list"}}}},
		{GroupVersion: "example.com/v1", APIResources: []metav1.APIResource{{Name: "widgets", Kind: "Widget", Namespaced: false, Verbs: []string{"get", "list"}}}},
	}}}
	return &Clients{
		Mapper:   restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(disco)),
		Dynamic:  fakedynamic.NewSimpleDynamicClient(runtime.NewScheme()),
		Requests: &RequestCounter{},
	}
}

func object(apiVersion, kind, namespace, name string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": apiVersion, "kind": kind, "metadata": map[string]any{"name": name}}}
	if namespace != "" {
		u.SetNamespace(namespace)
	}
	return u
}

func TestKeyIsScopedAndPure(t *testing.T) {
	c := servedClients()
	tests := []struct {
		name string
		obj  *unstructured.Unstructured
		want Ref
	}{
		{"a cluster-scoped custom resource given a namespace", object("example.com/v1", "Widget", "shop-ann", "w"),
			Ref{Group: "example.com", Version: "v1", Kind: "Widget", Name: "w"}},
		{"a namespaced object", object("v1", "ConfigMap", "shop-ann", "c"),
			Ref{Version: "v1", Kind: "ConfigMap", Namespace: "shop-ann", Name: "c"}},
		{"a namespaced object without a namespace", object("v1", "ConfigMap", "", "c"),
			Ref{Version: "v1", Kind: "ConfigMap", Namespace: "default", Name: "c"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := tt.obj.DeepCopy()
			got, err := c.Key(tt.obj)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("Key (-want +got):\n%s", d)
			}
			if _, err := c.Resource(tt.obj); err != nil {
				t.Fatal(err)
			}
			n, err := c.Normalize(tt.obj)
			if err != nil {
				t.Fatal(err)
			}
			if RefOf(n) != got {
				t.Errorf("Normalize gives %v, Key %v", RefOf(n), got)
			}
			if d := cmp.Diff(before.Object, tt.obj.Object); d != "" {
				t.Errorf("Key, Resource or Normalize changed the object (-before +after):\n%s", d)
			}
		})
	}
}

func TestKeyOfAnUnservedKind(t *testing.T) {
	_, err := servedClients().Key(object("example.com/v1", "Gadget", "", "g"))
	if _, ok := err.(*UnknownKindError); !ok {
		t.Errorf("Key of an unserved kind: %v, want an UnknownKindError", err)
	}
}
