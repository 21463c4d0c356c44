package liveupdate

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite the golden files")

var testImages = []Image{{
	Label: "//shop/catalog:image", Binary: "//shop/catalog:catalog", BinaryPath: "/app/catalog",
	Reference: "registry:5000/shop/catalog@sha256:aaaa", Digest: "sha256:aaaa",
	Entrypoint: []string{"/app/catalog"}, Cmd: []string{"--port=8080"},
}}

const testAgent = "registry:5000/slipway/agent@sha256:bbbb"

// TestRewriteGolden rewrites testdata/NAME.in.yaml and compares the result with
// testdata/NAME.golden.yaml (go test -update writes them).
func TestRewriteGolden(t *testing.T) {
	ins, err := filepath.Glob("testdata/*.in.yaml")
	if err != nil || len(ins) == 0 {
		t.Fatalf("no testdata: %v", err)
	}
	for _, in := range ins {
		name := strings.TrimSuffix(filepath.Base(in), ".in.yaml")
		t.Run(name, func(t *testing.T) {
			obj := readObject(t, in)
			syncs, err := Rewrite(obj, testImages, testAgent)
			if err != nil {
				t.Fatal(err)
			}
			got, err := yaml.Marshal(map[string]any{"object": obj.Object, "syncs": syncs})
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", name+".golden.yaml")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("%s (-want +got):\n%s", golden, diff)
			}
		})
	}
}

func readObject(t *testing.T, path string) *unstructured.Unstructured {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := yaml.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return &unstructured.Unstructured{Object: m}
}

func TestRewriteRefusesAContainerWithNothingToRun(t *testing.T) {
	obj := readObject(t, "testdata/deployment.in.yaml")
	images := []Image{testImages[0]}
	images[0].Entrypoint, images[0].Cmd = nil, nil
	before, _ := yaml.Marshal(obj.Object)
	_, err := Rewrite(obj, images, testAgent)
	if !errors.Is(err, ErrNoCommand) {
		t.Errorf("Rewrite: %v, want %v", err, ErrNoCommand)
	}
	if after, _ := yaml.Marshal(obj.Object); !bytes.Equal(before, after) {
		t.Errorf("the object changed:\n%s", after)
	}
}
