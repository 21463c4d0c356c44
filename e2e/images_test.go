//go:build e2e

package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/slipway-dev/slipway/internal/oci"
	"github.com/slipway-dev/slipway/internal/publish"
)

const imagetestBuild = `load("@rules_go//go:def.bzl", "go_binary")
load("@slipway//rules:defs.bzl", "image", "image_index")

go_binary(
    name = "app",
    srcs = ["main.go"],
)

image(
    name = "image",
    binary = ":app",
    env = {"PORT": "8080"},
    exposed_ports = ["8080"],
    files = {":config.json": "/etc/app/config.json"},
)

# The same layers under another repository: pushing it mounts them.
image(
    name = "other",
    binary = ":app",
    files = {":config.json": "/etc/app/config.json"},
    image_labels = {"variant": "other"},
    repository = "imagetest/other",
)

image_index(
    name = "index",
    image = ":image",
    platforms = [
        "@rules_go//go/toolchain:linux_amd64",
        "@rules_go//go/toolchain:linux_arm64",
    ],
)
`

func imageWorkspace(t *testing.T) *workspace {
	w := newWorkspace(t, "imagetest")
	w.write("imagetest/BUILD.bazel", imagetestBuild)
	w.write("imagetest/main.go", goMain("imagetest-v1"))
	w.write("imagetest/config.json", `{"greeting": "hi"}`+"\n")
	return w
}

// layoutDigests lists the manifest, config and layer digests of an image layout.
func layoutDigests(t *testing.T, dir string) []string {
	t.Helper()
	img, idx, err := oci.LoadLayout(dir)
	if err != nil {
		t.Fatal(err)
	}
	if idx != nil {
		d, _ := idx.Digest()
		m, _ := idx.IndexManifest()
		out := []string{"index " + d.String()}
		for _, desc := range m.Manifests {
			out = append(out, fmt.Sprintf("%s/%s %s", desc.Platform.OS, desc.Platform.Architecture, desc.Digest))
		}
		return out
	}
	d, _ := img.Digest()
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	out := []string{"manifest " + d.String(), "config " + m.Config.Digest.String()}
	for i, l := range m.Layers {
		out = append(out, fmt.Sprintf("layer %d %s", i, l.Digest))
	}
	return out
}

// Two builds in two output bases (different paths, no shared cache) give the same
// image and index, layer by layer.
func TestImagesAreReproducibleAcrossOutputBases(t *testing.T) {
	w := imageWorkspace(t)
	w.mustBazel("build", "//imagetest:image", "//imagetest:index")
	first := append(layoutDigests(t, w.bin("imagetest/image")), layoutDigests(t, w.bin("imagetest/index"))...)

	cache, _ := os.UserCacheDir()
	other := &workspace{t: t, dir: w.dir, outputBase: filepath.Join(cache, "slipway", e2eID(), "output-base-2")}
	defer other.bazel("shutdown")
	other.mustBazel("clean") // keeps fetched repositories, drops every output
	other.mustBazel("build", "--disk_cache=", "//imagetest:image", "//imagetest:index")
	second := append(layoutDigests(t, other.bin("imagetest/image")), layoutDigests(t, other.bin("imagetest/index"))...)
	if strings.Join(first, "\n") != strings.Join(second, "\n") {
		t.Errorf("builds in two output bases differ:\nfirst:\n%s\nsecond:\n%s", strings.Join(first, "\n"), strings.Join(second, "\n"))
	}
	if len(first) != 8 { // manifest, config, 2 layers; index + 2 platforms... and one more line
		t.Logf("digests: %v", first)
	}
}

// spawn is the part of a --execution_log_json_file entry the test reads.
type spawn struct {
	Mnemonic    string `json:"mnemonic"`
	TargetLabel string `json:"targetLabel"`
}

// After a one-line change to the Go source, only the binary's compile and link, its
// layer and the image's manifest/config action run.
func TestImageRebuildIsIncremental(t *testing.T) {
	w := imageWorkspace(t)
	w.mustBazel("build", "//imagetest:image")
	// A version never built before, so the disk cache cannot answer for it.
	w.edit("imagetest/main.go", `"imagetest-v1"`, fmt.Sprintf(`"imagetest-%d"`, time.Now().UnixNano()))
	log := filepath.Join(t.TempDir(), "exec.json")
	w.mustBazel("build", "--execution_log_json_file="+log, "//imagetest:image")
	data, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	counts := map[string]int{}
	for {
		var s spawn
		if err := dec.Decode(&s); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		counts[s.Mnemonic+" "+s.TargetLabel]++
	}
	want := map[string]int{
		"GoCompilePkg //imagetest:app": 1,
		"GoLink //imagetest:app":       1,
		"ImageLayer //imagetest:image": 1, // the binary's layer; the files layer is untouched
		"Image //imagetest:image":      1,
	}
	if fmt.Sprint(counts) != fmt.Sprint(want) {
		t.Errorf("actions run after a one-line change:\n got %v\nwant %v", counts, want)
	}
}

// pushJSON runs an image's .push target and decodes its --json result.
func pushJSON(t *testing.T, w *workspace, target, registry string) publish.Result {
	t.Helper()
	out := w.mustBazel("run", "--ui_event_filters=-info,-stdout,-stderr", "--noshow_progress", target, "--", "--json", "--registry="+registry)
	var res publish.Result
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%s printed %q: %v", target, out, err)
	}
	return res
}

func TestPushSendsOnlyWhatIsMissing(t *testing.T) {
	reg := sharedCluster(t).RegistryHost
	w := imageWorkspace(t)
	// A version of its own, so the registry has not seen this image yet.
	w.edit("imagetest/main.go", `"imagetest-v1"`, fmt.Sprintf(`"imagetest-push-%d"`, time.Now().UnixNano()))

	first := pushJSON(t, w, "//imagetest:image.push", reg)
	digest := strings.TrimSpace(w.read("bazel-bin/imagetest/image.digest"))
	if first.AlreadyPresent || first.Digest.String() != digest || first.Reference != reg+"/imagetest@"+digest {
		t.Fatalf("first push: %+v, want a new image %s", first, digest)
	}
	// Read it back by digest.
	ref, _ := name.ParseReference(first.Reference)
	img, err := remote.Image(ref)
	if err != nil {
		t.Fatalf("pulling %s back: %v", first.Reference, err)
	}
	if d, _ := img.Digest(); d.String() != digest {
		t.Errorf("pulled %s, want %s", d, digest)
	}

	// A new process pings the registry first (go-containerregistry races https and
	// http for local registries): two pings and the manifest HEAD.
	again := pushJSON(t, w, "//imagetest:image.push", reg)
	if s := again.Stats; !again.AlreadyPresent || s.BytesUploaded != 0 || s.BlobsUploaded+s.ManifestsPut != 0 || s.Requests > 3 {
		t.Errorf("unchanged push: %+v, want the manifest HEAD (after the pings) and nothing uploaded", again)
	}

	// The same layers in another repository are mounted, not sent.
	// (The registry outlives test runs: the unchanged files layer may be in the other
	// repository already; the new binary layer is not.)
	other := pushJSON(t, w, "//imagetest:other.push", reg)
	if s := other.Stats; s.BlobsMounted < 1 || s.BlobsMounted+s.BlobsPresent != 2 || s.BlobsUploaded != 1 || s.BytesUploaded > 4096 {
		t.Errorf("push to another repository: %+v, want the layers mounted (or present) and only the config sent", other.Stats)
	}

	// A one-line change sends the binary's layer and the config, no more.
	w.edit("imagetest/main.go", `"imagetest-push-`, `"imagetest-push-changed-`)
	changed := pushJSON(t, w, "//imagetest:image.push", reg)
	img2, _, err := oci.LoadLayout(w.bin("imagetest/image"))
	if err != nil {
		t.Fatal(err)
	}
	layers, _ := img2.Layers()
	appLayer, _ := layers[len(layers)-1].Size()
	if changed.Stats.BlobsUploaded != 2 || float64(changed.Stats.BytesUploaded) > 1.05*float64(appLayer) {
		t.Errorf("after a one-line change: %+v; want 2 blobs (layer, config), at most 1.05 x the %d-byte app layer", changed.Stats, appLayer)
	}
}

func TestPushToUnreachableRegistryFailsFast(t *testing.T) {
	w := imageWorkspace(t)
	w.mustBazel("build", "//imagetest:image.push")
	start := time.Now()
	_, stderr, err := w.bazel("run", "//imagetest:image.push", "--", "--registry=127.0.0.1:1")
	if err == nil {
		t.Fatal("pushing to a closed port succeeded")
	}
	if !strings.Contains(stderr, "registry 127.0.0.1:1") {
		t.Errorf("the error does not name the registry:\n%s", tailLines(stderr, 10))
	}
	if d := time.Since(start); d > time.Minute {
		t.Errorf("it took %s to give up", d)
	}
}

func TestBadImageInputsAreNamedErrors(t *testing.T) {
	w := newWorkspace(t, "imagebad")
	w.write("imagebad/main.go", goMain("bad"))
	w.write("imagebad/config.json", "{}\n")
	w.write("imagebad/notimage.txt", "not an image\n")
	w.write("imagebad/BUILD.bazel", `load("@rules_go//go:def.bzl", "go_binary")
load("@slipway//rules:defs.bzl", "image")

go_binary(
    name = "app",
    srcs = ["main.go"],
)

filegroup(
    name = "data",
    srcs = ["config.json"],
)

image(
    name = "not_executable",
    binary = ":data",
)

image(
    name = "conflict",
    binary = ":app",
    binary_path = "/etc/app/config.json",
    files = {":config.json": "/etc/app/config.json"},
)

image(
    name = "bad_arch",
    arch = "amd65",
    binary = ":app",
)

image(
    name = "bad_base",
    base = ":notimage.txt",
    binary = ":app",
)
`)
	tests := []struct {
		target string
		want   []string
	}{
		{"//imagebad:not_executable", []string{"binary: ", "imagebad/config.json is not an executable file"}},
		{"//imagebad:conflict", []string{`attribute "files" and attribute "binary" both write /etc/app/config.json`}},
		{"//imagebad:bad_arch", []string{"attribute arch", "amd65"}},
		{"//imagebad:bad_base", []string{"attribute base", "notimage.txt", "is not an OCI image layout or image tarball"}},
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			_, stderr, err := w.bazel("build", tt.target)
			if err == nil {
				t.Fatalf("bazel build %s succeeded", tt.target)
			}
			for _, want := range tt.want {
				if !strings.Contains(stderr, want) {
					t.Errorf("error output lacks %q:\n%s", want, tailLines(stderr, 15))
				}
			}
		})
	}
}
