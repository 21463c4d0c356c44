package oci

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// buildLayerFiles builds a layer of files (dest -> content) and returns its input.
func buildLayerFiles(t *testing.T, group string, files map[string]string) LayerInput {
	t.Helper()
	src := t.TempDir()
	var sources []FileSource
	for dest, content := range files {
		p := filepath.Join(src, strings.ReplaceAll(strings.TrimPrefix(dest, "/"), "/", "_"))
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		sources = append(sources, FileSource{Src: p, Dest: dest})
	}
	out := t.TempDir()
	li := LayerInput{Blob: filepath.Join(out, "blob"), Descriptor: filepath.Join(out, "descriptor.json")}
	d, err := BuildLayer(LayerSpec{Group: group, Files: sources}, li.Blob)
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteLayerDescriptor(li.Descriptor, d); err != nil {
		t.Fatal(err)
	}
	return li
}

func writeImage(t *testing.T, spec ImageSpec) (string, v1.Image) {
	t.Helper()
	built, err := BuildImage(spec)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "layout")
	if err := WriteLayout(dir, built.Image, nil, built.Blobs); err != nil {
		t.Fatal(err)
	}
	img, idx, err := LoadLayout(dir)
	if err != nil || idx != nil {
		t.Fatalf("LoadLayout: %v, index %v", err, idx)
	}
	return dir, img
}

func TestBuildImageConfig(t *testing.T) {
	files := buildLayerFiles(t, "files", map[string]string{"/etc/app.conf": "a=1\n"})
	binary := buildLayerFiles(t, "binary", map[string]string{"/app/server": "\x7fELF"})
	spec := ImageSpec{
		Layers: []LayerInput{files, binary},
		Config: Config{
			Entrypoint:   []string{"/app/server"},
			Env:          map[string]string{"B": "2", "A": "1"},
			User:         "65532",
			WorkingDir:   "/app",
			Labels:       map[string]string{"team": "shop"},
			ExposedPorts: []string{"8080", "53/udp"},
		},
		Annotations: map[string]string{"org.opencontainers.image.source": "https://example.com/repo"},
		OS:          "linux",
		Arch:        "arm64",
	}
	_, img := writeImage(t, spec)
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	want := v1.Config{
		Entrypoint:   []string{"/app/server"},
		Env:          []string{"A=1", "B=2"},
		User:         "65532",
		WorkingDir:   "/app",
		Labels:       map[string]string{"team": "shop"},
		ExposedPorts: map[string]struct{}{"8080/tcp": {}, "53/udp": {}},
	}
	if diff := cmp.Diff(want, cf.Config); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}
	if cf.OS != "linux" || cf.Architecture != "arm64" || cf.Created.Unix() != 0 {
		t.Errorf("os/arch/created = %s/%s/%d, want linux/arm64/0", cf.OS, cf.Architecture, cf.Created.Unix())
	}
	var createdBy []string
	for _, h := range cf.History {
		createdBy = append(createdBy, h.CreatedBy)
	}
	if diff := cmp.Diff([]string{"slipway: files", "slipway: binary"}, createdBy); diff != "" {
		t.Errorf("history (-want +got):\n%s", diff)
	}
	m, _ := img.Manifest()
	if m.MediaType != "application/vnd.oci.image.manifest.v1+json" || m.Annotations["org.opencontainers.image.source"] == "" {
		t.Errorf("manifest media type %s, annotations %v", m.MediaType, m.Annotations)
	}
	if len(m.Layers) != 2 {
		t.Fatalf("%d layers, want 2", len(m.Layers))
	}
}

func TestBuildImageIsReproducible(t *testing.T) {
	spec := func() ImageSpec {
		return ImageSpec{
			Layers: []LayerInput{buildLayerFiles(t, "binary", map[string]string{"/app/x": "same"})},
			Config: Config{Env: map[string]string{"Z": "1", "A": "2", "M": "3"}},
			OS:     "linux", Arch: "amd64",
		}
	}
	_, a := writeImage(t, spec())
	_, b := writeImage(t, spec())
	da, _ := a.Digest()
	db, _ := b.Digest()
	if da != db {
		t.Errorf("same inputs, different digests: %s vs %s", da, db)
	}
}

func TestBuildImageOnBase(t *testing.T) {
	baseDir, base := writeImage(t, ImageSpec{
		Layers: []LayerInput{buildLayerFiles(t, "files", map[string]string{"/etc/ssl/certs/ca.pem": "CA"})},
		Config: Config{Env: map[string]string{"PATH": "/usr/bin", "LANG": "C"}, Entrypoint: []string{"/bin/sh"}, Cmd: []string{"-c", "true"}},
		OS:     "linux", Arch: "amd64",
	})
	_, img := writeImage(t, ImageSpec{
		Base:   baseDir,
		Layers: []LayerInput{buildLayerFiles(t, "binary", map[string]string{"/app/server": "bin"})},
		Config: Config{Env: map[string]string{"PATH": "/app:/usr/bin"}, Entrypoint: []string{"/app/server"}},
		OS:     "linux", Arch: "amd64",
	})
	baseLayers, _ := base.Layers()
	layers, _ := img.Layers()
	if len(layers) != 2 {
		t.Fatalf("%d layers, want base's 1 + ours 1", len(layers))
	}
	bd, _ := baseLayers[0].Digest()
	d0, _ := layers[0].Digest()
	if bd != d0 {
		t.Errorf("first layer %s is not the base's %s", d0, bd)
	}
	cf, _ := img.ConfigFile()
	if diff := cmp.Diff([]string{"LANG=C", "PATH=/app:/usr/bin"}, cf.Config.Env); diff != "" {
		t.Errorf("env keeps the base's order, replacing ours (-want +got):\n%s", diff)
	}
	if cf.Config.Cmd != nil {
		t.Errorf("a new entrypoint drops the base's cmd, got %v", cf.Config.Cmd)
	}
}

func TestBuildImageConflicts(t *testing.T) {
	files := buildLayerFiles(t, "files", map[string]string{"/app/server": "config", "/etc/a": "same"})
	binary := buildLayerFiles(t, "binary", map[string]string{"/app/server": "binary"})
	_, err := BuildImage(ImageSpec{Layers: []LayerInput{files, binary}, OS: "linux", Arch: "amd64"})
	if err == nil || !strings.Contains(err.Error(), `attribute "files" and attribute "binary" both write /app/server`) {
		t.Errorf("err = %v, want a conflict naming both attributes and the path", err)
	}
	// The same content in two layers is fine (and so are shared directories).
	again := buildLayerFiles(t, "binary", map[string]string{"/etc/a": "same"})
	if _, err := BuildImage(ImageSpec{Layers: []LayerInput{files, again}, OS: "linux", Arch: "amd64"}); err != nil {
		t.Errorf("identical content in two layers: %v", err)
	}
}

func TestBuildImageBadBase(t *testing.T) {
	notImage := filepath.Join(t.TempDir(), "notimage.tar")
	if err := os.WriteFile(notImage, []byte("not a tarball"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, base := range []string{notImage, t.TempDir()} {
		_, err := BuildImage(ImageSpec{Base: base, OS: "linux", Arch: "amd64"})
		if err == nil || !strings.Contains(err.Error(), "attribute base:") || !strings.Contains(err.Error(), base) {
			t.Errorf("base %s: err = %v, want one naming the attribute and path", base, err)
		}
	}
}

func TestIndexAndPlatformSelection(t *testing.T) {
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
	for _, arch := range []string{"arm64", "amd64"} {
		img, err := LoadImage(dir, Platform{OS: "linux", Arch: arch})
		if err != nil {
			t.Fatal(err)
		}
		cf, _ := img.ConfigFile()
		if cf.Architecture != arch {
			t.Errorf("picked %s for %s", cf.Architecture, arch)
		}
	}
	if _, err := LoadImage(dir, Platform{OS: "linux", Arch: "s390x"}); err == nil || !strings.Contains(err.Error(), "linux/amd64, linux/arm64") {
		t.Errorf("missing platform: err = %v, want the list of platforms present", err)
	}
	if _, _, err := BuildIndex([]string{layouts[0], layouts[0]}); err == nil || !strings.Contains(err.Error(), "two images for platform linux/amd64") {
		t.Errorf("duplicate platform: err = %v", err)
	}
}

func TestWriteLayoutLinksBlobs(t *testing.T) {
	layer := buildLayerFiles(t, "binary", map[string]string{"/app/x": "payload"})
	built, err := BuildImage(ImageSpec{Layers: []LayerInput{layer}, OS: "linux", Arch: "amd64"})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "layout")
	if err := WriteLayout(dir, built.Image, nil, built.Blobs); err != nil {
		t.Fatal(err)
	}
	layers, _ := built.Image.Layers()
	d, _ := layers[0].Digest()
	a, _ := os.Stat(layer.Blob)
	b, err := os.Stat(filepath.Join(dir, "blobs", "sha256", d.Hex))
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(a, b) {
		t.Errorf("layout blob is a copy, want a hard link to the layer output")
	}
}

// Bazel hands layouts to actions and run targets as trees of symlinks, file by file.
func TestLoadLayoutThroughSymlinks(t *testing.T) {
	dir, img := writeImage(t, ImageSpec{
		Layers: []LayerInput{buildLayerFiles(t, "binary", map[string]string{"/app/x": "y"})},
		OS:     "linux", Arch: "amd64",
	})
	linked := filepath.Join(t.TempDir(), "linked")
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(linked, rel), 0o755)
		}
		return os.Symlink(p, filepath.Join(linked, rel))
	})
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := LoadLayout(linked)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := img.Digest()
	if d, _ := got.Digest(); d != want {
		t.Errorf("digest through symlinks %s, want %s", d, want)
	}
	layers, err := got.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("layers: %v, %v", layers, err)
	}
	rc, err := layers[0].Compressed()
	if err != nil {
		t.Fatalf("reading a symlinked blob: %v", err)
	}
	rc.Close()
}
