package oci

import (
	"io"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

// openCounter streams layers from a layout directory, counting what it opens.
type openCounter struct {
	dir    string
	opened []string
}

func (o *openCounter) open(h v1.Hash) (io.ReadCloser, error) {
	o.opened = append(o.opened, h.String())
	return os.Open(blobPath(o.dir, h))
}

func layerDigests(t *testing.T, img v1.Image) []string {
	t.Helper()
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range m.Layers {
		out = append(out, l.Digest.String())
	}
	return out
}

func TestMetaReadsTheImageWithoutItsLayers(t *testing.T) {
	dir, img := writeImage(t, ImageSpec{
		Layers: []LayerInput{
			buildLayerFiles(t, "files", map[string]string{"/etc/x": "x"}),
			buildLayerFiles(t, "binary", map[string]string{"/app/x": "y"}),
		},
		OS: "linux", Arch: "amd64",
	})
	meta := filepath.Join(t.TempDir(), "image"+MetaSuffix)
	if err := WriteMeta(meta, dir); err != nil {
		t.Fatal(err)
	}
	o := &openCounter{dir: dir}
	got, idx, err := LoadMeta(meta, o.open)
	if err != nil || idx != nil {
		t.Fatalf("LoadMeta: %v, index %v", err, idx)
	}
	want, _ := img.Digest()
	if d, _ := got.Digest(); d != want {
		t.Errorf("digest %s, want %s", d, want)
	}
	if _, err := got.ConfigFile(); err != nil {
		t.Errorf("config: %v", err)
	}
	if len(o.opened) != 0 {
		t.Errorf("reading the manifest and config opened layers %v", o.opened)
	}
	// validate reads every layer: the bytes come through the opener.
	if err := validate.Image(got); err != nil {
		t.Errorf("validate: %v", err)
	}
	opened := append([]string(nil), o.opened...)
	sort.Strings(opened)
	layers := layerDigests(t, img)
	sort.Strings(layers)
	if diff := cmp.Diff(layers, compact(opened)); diff != "" {
		t.Errorf("opened (-want +got):\n%s", diff)
	}
}

func compact(s []string) []string {
	var out []string
	for i, x := range s {
		if i == 0 || s[i-1] != x {
			out = append(out, x)
		}
	}
	return out
}

func TestMetaOfAnIndex(t *testing.T) {
	var layouts []string
	for _, arch := range []string{"amd64", "arm64"} {
		dir, _ := writeImage(t, ImageSpec{
			Layers: []LayerInput{buildLayerFiles(t, "binary", map[string]string{"/app/x": arch})},
			OS:     "linux", Arch: arch,
		})
		layouts = append(layouts, dir)
	}
	idx, blobs, err := BuildIndex(layouts)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "index")
	if err := WriteLayout(dir, nil, idx, blobs); err != nil {
		t.Fatal(err)
	}
	meta := filepath.Join(t.TempDir(), "index"+MetaSuffix)
	if err := WriteMeta(meta, dir); err != nil {
		t.Fatal(err)
	}
	o := &openCounter{dir: dir}
	img, got, err := LoadMeta(meta, o.open)
	if err != nil || img != nil {
		t.Fatalf("LoadMeta: %v, image %v", err, img)
	}
	want, _ := idx.Digest()
	if d, _ := got.Digest(); d != want {
		t.Errorf("digest %s, want %s", d, want)
	}
	if err := validate.Index(got); err != nil {
		t.Errorf("validate: %v", err)
	}
	opened := append([]string(nil), o.opened...)
	sort.Strings(opened)
	if len(compact(opened)) != 2 {
		t.Errorf("opened %v, want the two images' layers", compact(opened))
	}
}

func TestMetaNamesAMissingLayerSource(t *testing.T) {
	dir, _ := writeImage(t, ImageSpec{
		Layers: []LayerInput{buildLayerFiles(t, "binary", map[string]string{"/app/x": "y"})},
		OS:     "linux", Arch: "amd64",
	})
	meta := filepath.Join(t.TempDir(), "image"+MetaSuffix)
	if err := WriteMeta(meta, dir); err != nil {
		t.Fatal(err)
	}
	img, _, err := LoadMeta(meta, nil)
	if err != nil {
		t.Fatal(err)
	}
	layers, _ := img.Layers()
	if _, err := layers[0].Compressed(); err == nil {
		t.Errorf("a layer without a source opened")
	}
}
