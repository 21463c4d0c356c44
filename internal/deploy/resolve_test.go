package deploy

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/slipway-dev/slipway/internal/kube"
	"github.com/slipway-dev/slipway/internal/manifest"
)

const digest = "sha256:1111111111111111111111111111111111111111111111111111111111111111"

func testTarget() *Target {
	pod := func(name, image, ns string) *unstructured.Unstructured {
		u := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "v1", "kind": "Pod",
			"metadata": map[string]any{"name": name, "namespace": ns},
			"spec":     map[string]any{"containers": []any{map[string]any{"name": "c", "image": image}}},
		}}
		return u
	}
	rendered := manifest.UnknownRegistry + "/shop/web@" + digest
	return &Target{
		Spec: Spec{Target: "//shop:deploy"},
		Objects: []*unstructured.Unstructured{
			pod("web", rendered, "dev-{user}"),
			pod("other", "nginx:1", "fixed"),
		},
		Inventory: manifest.Inventory{
			Target:    "//shop:deploy",
			Namespace: "dev-{user}",
			Objects: []manifest.ObjectRef{
				{Version: "v1", Kind: "Pod", Namespace: "dev-{user}", Name: "web", DefaultNamespace: true},
				{Version: "v1", Kind: "Pod", Namespace: "fixed", Name: "other"},
			},
			Images: []manifest.ImageOutput{{Label: "//shop:web", Repository: "shop/web", Digest: digest, Reference: rendered, Uses: 1}},
		},
		Layouts: map[string]string{"//shop:web": "/layouts/web"},
	}
}

func image(u *unstructured.Unstructured) string {
	return manifest.ImageFields(u.Object)[0].Image()
}

func TestResolve(t *testing.T) {
	tests := []struct {
		name          string
		settings      Settings
		wantNamespace string
		wantImage     string
		wantPush      string
	}{
		{
			name:          "per-developer namespace and discovered registry",
			settings:      Settings{User: "Alice.Smith", Registries: Registries{Push: "localhost:5001", Pull: "kind-registry:5000"}},
			wantNamespace: "dev-alice-smith",
			wantImage:     "kind-registry:5000/shop/web@" + digest,
			wantPush:      "localhost:5001/shop/web",
		},
		{
			name:          "namespace flag wins",
			settings:      Settings{Namespace: "review-42", Registries: Registries{Push: "127.0.0.1:5000", Override: true}},
			wantNamespace: "review-42",
			wantImage:     "127.0.0.1:5000/shop/web@" + digest,
			wantPush:      "127.0.0.1:5000/shop/web",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Resolve(testTarget(), tt.settings)
			if err != nil {
				t.Fatal(err)
			}
			if r.Namespace != tt.wantNamespace || r.Objects[0].GetNamespace() != tt.wantNamespace {
				t.Errorf("namespace = %q (object: %q), want %q", r.Namespace, r.Objects[0].GetNamespace(), tt.wantNamespace)
			}
			if got := r.Objects[1].GetNamespace(); got != "fixed" {
				t.Errorf("an object with its own namespace moved to %q", got)
			}
			if got := image(r.Objects[0]); got != tt.wantImage {
				t.Errorf("image = %q, want %q", got, tt.wantImage)
			}
			if got := image(r.Objects[1]); got != "nginx:1" {
				t.Errorf("a foreign image changed to %q", got)
			}
			if got := r.Images[0].Repository.String(); got != tt.wantPush {
				t.Errorf("push repository = %q, want %q", got, tt.wantPush)
			}
			for _, o := range r.Objects {
				if o.GetLabels()[kube.InventoryLabel] != r.Inventory.ID || o.GetAnnotations()[kube.HashAnnotation] != r.Hashes[kube.RefOf(o).Key()] {
					t.Errorf("%s is not marked with the inventory and its hash: %v %v", o.GetName(), o.GetLabels(), o.GetAnnotations())
				}
			}
			wantRefs := []kube.Ref{
				{Version: "v1", Kind: "Pod", Namespace: tt.wantNamespace, Name: "web"},
				{Version: "v1", Kind: "Pod", Namespace: "fixed", Name: "other"},
			}
			if diff := cmp.Diff(wantRefs, r.Inventory.Objects); diff != "" {
				t.Errorf("inventory (-want +got):\n%s", diff)
			}
		})
	}
}

func TestResolveNeedsARegistry(t *testing.T) {
	_, err := Resolve(testTarget(), Settings{User: "bob"})
	if err == nil || !strings.Contains(err.Error(), "no registry for image //shop:web") {
		t.Errorf("err = %v, want one naming the image without a registry", err)
	}
}

func TestResolveHashFollowsContent(t *testing.T) {
	a, _ := Resolve(testTarget(), Settings{User: "bob", Registries: Registries{Push: "r:1"}})
	b, _ := Resolve(testTarget(), Settings{User: "bob", Registries: Registries{Push: "r:2"}})
	c, _ := Resolve(testTarget(), Settings{User: "bob", Registries: Registries{Push: "r:1"}})
	web := kube.RefOf(a.Objects[0]).Key()
	other := kube.RefOf(a.Objects[1]).Key()
	if a.Hashes[web] == b.Hashes[web] {
		t.Error("a different image reference kept the hash")
	}
	if a.Hashes[other] != b.Hashes[other] || a.Hashes[web] != c.Hashes[web] {
		t.Error("the same content got a different hash")
	}
}
