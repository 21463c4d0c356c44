package manifest

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s differs (-want +got; -update if intended):\n%s", path, diff)
	}
}

func digestFile(t *testing.T, digest string) string {
	p := filepath.Join(t.TempDir(), "digest")
	if err := os.WriteFile(p, []byte(digest), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func shopSpec(t *testing.T) RenderSpec {
	return RenderSpec{
		Target:  "//examples/shop:deploy",
		Package: "examples/shop",
		Sources: []Source{
			{Path: "testdata/shop/app.yaml", Name: "examples/shop/app.yaml"},
			{Path: "testdata/shop/more.yaml", Name: "examples/shop/more.yaml"},
		},
		Images: []ImageInput{
			{Refs: []string{"frontend"}, Label: "@@//examples/shop/frontend:image", Repository: "examples/shop/frontend", Registry: "127.0.0.1:5000",
				DigestFile: digestFile(t, "sha256:1111111111111111111111111111111111111111111111111111111111111111")},
			{Refs: []string{"worker"}, Label: "//examples/shop:worker", Repository: "examples/shop/worker",
				DigestFile: digestFile(t, "sha256:2222222222222222222222222222222222222222222222222222222222222222")},
			{Refs: []string{"unused"}, Label: "//examples/shop:unused", Repository: "examples/shop/unused",
				DigestFile: digestFile(t, "sha256:3333333333333333333333333333333333333333333333333333333333333333")},
		},
		Namespace: "dev-{user}",
		Labels:    map[string]string{"app.kubernetes.io/part-of": "shop"},
	}
}

func TestRenderGolden(t *testing.T) {
	res, err := Render(shopSpec(t))
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "testdata/shop/rendered.yaml", res.YAML)
	var inv bytes.Buffer
	if err := WriteInventory(&inv, res.Inventory); err != nil {
		t.Fatal(err)
	}
	golden(t, "testdata/shop/inventory.json", inv.Bytes())
	want := []string{"//examples/shop:deploy: image //examples/shop:unused (unused) is used by no container"}
	if diff := cmp.Diff(want, res.Warnings); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
}

func TestRenderIsDeterministic(t *testing.T) {
	a, err := Render(shopSpec(t))
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		b, err := Render(shopSpec(t))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a.YAML, b.YAML) || !cmp.Equal(a.Inventory, b.Inventory) {
			t.Fatal("two renders of the same inputs differ")
		}
	}
}

func TestRenderErrors(t *testing.T) {
	tests := []struct {
		name, yaml string
		strict     bool
		want       string
	}{
		{
			name: "syntax error names file and line of the offending key",
			yaml: "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n data: oops\n",
			want: "deploy.yaml:5:2: did not find expected key",
		},
		{
			name: "missing fields name document and fields",
			yaml: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\nkind: Secret\nmetadata: {}\n",
			want: "deploy.yaml:5: document 2: missing apiVersion, metadata.name",
		},
		{
			name: "not a mapping",
			yaml: "- a\n- b\n",
			want: "deploy.yaml:1: document 1: not an object (a YAML mapping), but a list",
		},
		{
			name: "duplicate object",
			yaml: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n",
			want: "deploy.yaml:5: document 2: ConfigMap ns/a is defined twice (first at deploy.yaml:1: document 1)",
		},
		{
			name:   "strict: unknown image names the field and its line",
			yaml:   "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - {name: c, image: nginx}\n",
			strict: true,
			want:   `deploy.yaml:6:22: document 1 (Pod p): spec.containers[0].image: "nginx" matches no image in the images attribute (strict mode)`,
		},
		{
			name: "a label that names no image",
			yaml: "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - {name: c, image: '//other:image'}\n",
			want: `spec.containers[0].image: "//other:image" is a label, but no image in the images attribute has it (they are: //pkg:app)`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "deploy.yaml")
			if err := os.WriteFile(p, []byte(tt.yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := Render(RenderSpec{
				Target: "//pkg:deploy", Package: "pkg", Namespace: "ns", Strict: tt.strict,
				Sources: []Source{{Path: p, Name: "deploy.yaml"}},
				Images:  []ImageInput{{Refs: []string{"app"}, Label: "//pkg:app", Repository: "pkg/app", DigestFile: digestFile(t, "sha256:ab")}},
			})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestImageFields(t *testing.T) {
	obj := map[string]any{"spec": map[string]any{"jobTemplate": map[string]any{"spec": map[string]any{"template": map[string]any{"spec": map[string]any{
		"initContainers": []any{map[string]any{"name": "i", "image": "a"}},
		"containers":     []any{map[string]any{"name": "c", "image": "b"}, map[string]any{"name": "noimage"}},
	}}}}}}
	var got []string
	for _, f := range ImageFields(obj) {
		got = append(got, f.Path+"="+f.Image())
	}
	want := []string{
		"spec.jobTemplate.spec.template.spec.containers[0].image=b",
		"spec.jobTemplate.spec.template.spec.initContainers[0].image=a",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// A chart rendered with the target's "{user}" namespace as its release
// namespace writes it into objects: they follow the target's namespace.
func TestRenderUserNamespaceFromChart(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "chart.yaml")
	yaml := "apiVersion: v1\nkind: Service\nmetadata: {name: a, namespace: \"dev-{user}\"}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: b, namespace: other}\n"
	if err := os.WriteFile(src, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := Render(RenderSpec{Target: "//pkg:deploy", Package: "pkg", Namespace: "dev-{user}", Sources: []Source{{Path: src, Name: "pkg/chart.yaml"}}})
	if err != nil {
		t.Fatal(err)
	}
	var got []bool
	for _, o := range res.Inventory.Objects {
		got = append(got, o.DefaultNamespace)
	}
	if diff := cmp.Diff([]bool{true, false}, got); diff != "" {
		t.Errorf("DefaultNamespace of a (dev-{user}) and b (other) (-want +got):\n%s", diff)
	}
}
