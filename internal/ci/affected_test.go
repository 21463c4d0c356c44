package ci

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestCompare(t *testing.T) {
	base := Snapshot{
		"//cart:deploy":   {Images: map[string]string{"//cart:image": "sha256:a"}, Objects: map[string]string{"apps/Deployment/dev/cart": "h1", "/ConfigMap/dev/cart": "c1"}},
		"//orders:deploy": {Images: map[string]string{"//orders:image": "sha256:o"}, Objects: map[string]string{"apps/Deployment/dev/orders": "h2"}},
		"//old:deploy":    {Objects: map[string]string{"/ConfigMap/dev/old": "x"}},
	}
	head := Snapshot{
		"//cart:deploy":   {Images: map[string]string{"//cart:image": "sha256:b"}, Objects: map[string]string{"apps/Deployment/dev/cart": "h9", "/Secret/dev/cart": "s1"}},
		"//orders:deploy": {Images: map[string]string{"//orders:image": "sha256:o"}, Objects: map[string]string{"apps/Deployment/dev/orders": "h2"}},
		"//new:deploy":    {Objects: map[string]string{"/ConfigMap/dev/new": "y"}},
	}
	want := []Change{
		{Target: "//cart:deploy", Status: "changed",
			Images: []ImageChange{{Label: "//cart:image", Before: "sha256:a", After: "sha256:b"}},
			Objects: []ObjectChange{
				{Kind: "ConfigMap", Namespace: "dev", Name: "cart", Change: "removed"},
				{Kind: "Secret", Namespace: "dev", Name: "cart", Change: "added"},
				{Kind: "Deployment", Namespace: "dev", Name: "cart", Change: "changed"},
			}},
		{Target: "//new:deploy", Status: "added", Objects: []ObjectChange{{Kind: "ConfigMap", Namespace: "dev", Name: "new", Change: "added"}}},
		{Target: "//old:deploy", Status: "removed", Objects: []ObjectChange{{Kind: "ConfigMap", Namespace: "dev", Name: "old", Change: "removed"}}},
	}
	if diff := cmp.Diff(want, Compare(base, head)); diff != "" {
		t.Errorf("Compare (-want +got):\n%s", diff)
	}
	if got := Compare(head, head); len(got) != 0 {
		t.Errorf("a snapshot compared with itself: %v", got)
	}
}
