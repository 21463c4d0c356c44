//go:build e2e

package e2e

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/slipway-dev/slipway/internal/oci"
)

const layerstestBuild = `load("@slipway//rules:defs.bzl", "image")

filegroup(
    name = "static",
    srcs = glob(["static/**"]),
)

# A grouping target keeps its files' folders, relative to their package; a file
# named by its own label goes in by its base name; a tar's names are cleaned.
image(
    name = "nested",
    files = {
        ":static": "/src/",
        ":static/index.html": "/one/",
        "//layerstest/conf:all": "/etc/app/",
    },
    tars = [":clean.tar"],
)

image(
    name = "stripped",
    files = {":static": "/www/"},
    files_strip_prefix = "static",
)

image(
    name = "strip_misses",
    files = {"//layerstest/conf:all": "/etc/app/"},
    files_strip_prefix = "sub",
)

image(
    name = "collide",
    files = {
        ":static": "/x/",
        "//layerstest/conf:static_too": "/x/",
    },
)

# (Inputs are named *_in.tar: image() makes a <name>.tar target of its own.)
image(name = "escape_by_name", tars = [":escape_by_name_in.tar"])

image(name = "escape_by_hard_link", tars = [":escape_by_hard_link_in.tar"])

image(name = "escape_by_symlink", tars = [":escape_by_symlink_in.tar"])

image(name = "through_a_symlink", tars = [":through_a_symlink_in.tar"])
`

const layerstestConfBuild = `filegroup(
    name = "all",
    srcs = ["app.json", "sub/extra.json"],
    visibility = ["//visibility:public"],
)

filegroup(
    name = "static_too",
    srcs = ["static/css/site.css"],
    visibility = ["//visibility:public"],
)
`

// tarFile is a tar holding headers exactly as given (regular files get content "x").
func tarFile(t *testing.T, headers ...tar.Header) string {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, h := range headers {
		if h.Typeflag == tar.TypeReg {
			h.Size = 1
		}
		h.Format = tar.FormatPAX
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if h.Size > 0 {
			if _, err := tw.Write([]byte("x")); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func layersWorkspace(t *testing.T) *workspace {
	w := newWorkspace(t, "layerstest")
	w.write("layerstest/BUILD.bazel", layerstestBuild)
	w.write("layerstest/static/index.html", "<h1>hi</h1>\n")
	w.write("layerstest/static/css/site.css", "body{}\n")
	w.write("layerstest/static/css/img/logo.svg", "<svg/>\n")
	w.write("layerstest/conf/BUILD.bazel", layerstestConfBuild)
	w.write("layerstest/conf/app.json", "{}\n")
	w.write("layerstest/conf/sub/extra.json", "[]\n")
	w.write("layerstest/conf/static/css/site.css", "p{}\n")
	w.write("layerstest/clean.tar", tarFile(t,
		tar.Header{Name: "./etc/", Typeflag: tar.TypeDir, Mode: 0o755},
		tar.Header{Name: "./etc//motd", Typeflag: tar.TypeReg, Mode: 0o644},
		tar.Header{Name: "/usr/bin/tool", Typeflag: tar.TypeReg, Mode: 0o755},
		tar.Header{Name: "usr/bin/link", Typeflag: tar.TypeSymlink, Linkname: "/etc/motd", Mode: 0o777},
	))
	w.write("layerstest/escape_by_name_in.tar", tarFile(t, tar.Header{Name: "../../etc/evil", Typeflag: tar.TypeReg, Mode: 0o644}))
	w.write("layerstest/escape_by_hard_link_in.tar", tarFile(t, tar.Header{Name: "shadow", Typeflag: tar.TypeLink, Linkname: "../../etc/shadow"}))
	w.write("layerstest/escape_by_symlink_in.tar", tarFile(t,
		tar.Header{Name: "a/", Typeflag: tar.TypeDir, Mode: 0o755},
		tar.Header{Name: "a/up", Typeflag: tar.TypeSymlink, Linkname: "../../etc", Mode: 0o777},
	))
	w.write("layerstest/through_a_symlink_in.tar", tarFile(t,
		tar.Header{Name: "etc", Typeflag: tar.TypeSymlink, Linkname: "/host/etc", Mode: 0o777},
		tar.Header{Name: "etc/passwd", Typeflag: tar.TypeReg, Mode: 0o644},
	))
	return w
}

// imagePaths lists the paths each layer of an image layout writes (with a
// symlink's or hard link's target), layer by layer.
func imagePaths(t *testing.T, layout string) [][]string {
	t.Helper()
	img, _, err := oci.LoadLayout(layout)
	if err != nil {
		t.Fatal(err)
	}
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	var out [][]string
	for _, l := range layers {
		out = append(out, layerPaths(t, l))
	}
	return out
}

func layerPaths(t *testing.T, l v1.Layer) []string {
	t.Helper()
	rc, err := l.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	var paths []string
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return paths
		}
		if err != nil {
			t.Fatal(err)
		}
		p := h.Name
		if h.Linkname != "" {
			p += " -> " + h.Linkname
		}
		paths = append(paths, p)
	}
}

// image.files keeps folders (a glob of static/** used to lose them), and tar
// layers hold cleaned names.
func TestImageFilesKeepFoldersAndTarNamesAreClean(t *testing.T) {
	w := layersWorkspace(t)
	w.mustBazel("build", "//layerstest:nested", "//layerstest:stripped")

	nested := imagePaths(t, w.bin("layerstest/nested"))
	wantTar := []string{"etc/", "etc/motd", "usr/bin/tool", "usr/bin/link -> /etc/motd"}
	wantFiles := []string{
		"etc/", "etc/app/", "etc/app/app.json", "etc/app/sub/", "etc/app/sub/extra.json",
		"one/", "one/index.html",
		"src/", "src/static/", "src/static/css/", "src/static/css/img/", "src/static/css/img/logo.svg",
		"src/static/css/site.css", "src/static/index.html",
	}
	if len(nested) != 2 || !slices.Equal(nested[0], wantTar) || !slices.Equal(nested[1], wantFiles) {
		t.Errorf("layers of //layerstest:nested:\n got %q\nwant %q", nested, [][]string{wantTar, wantFiles})
	}

	stripped := imagePaths(t, w.bin("layerstest/stripped"))
	want := []string{"www/", "www/css/", "www/css/img/", "www/css/img/logo.svg", "www/css/site.css", "www/index.html"}
	if len(stripped) != 1 || !slices.Equal(stripped[0], want) {
		t.Errorf("layers of //layerstest:stripped:\n got %q\nwant %q", stripped, [][]string{want})
	}
}

// Inputs that would escape the image root, or collide, fail the build with an
// error naming the input and the entry.
func TestImageLayerInputsThatEscapeOrCollideAreNamedErrors(t *testing.T) {
	w := layersWorkspace(t)
	tests := []struct {
		target string
		want   string
	}{
		{"//layerstest:escape_by_name", `//layerstest:escape_by_name_in.tar: entry "../../etc/evil" is outside the image root`},
		{"//layerstest:escape_by_hard_link", `//layerstest:escape_by_hard_link_in.tar: hard link "shadow" points to "../../etc/shadow", outside the image root`},
		{"//layerstest:escape_by_symlink", `//layerstest:escape_by_symlink_in.tar: symlink "a/up" points to "../../etc", which climbs above the image root from /a`},
		{"//layerstest:through_a_symlink", `//layerstest:through_a_symlink_in.tar: entry "etc/passwd" is under "etc", a symlink in the same tar`},
		{"//layerstest:collide", "attribute files: layerstest/static/css/site.css and layerstest/conf/static/css/site.css are both placed at /x/static/css/site.css"},
		{"//layerstest:strip_misses", `attribute files: layerstest/conf/app.json (from //layerstest/conf:all) is not under files_strip_prefix "sub" of its package`},
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			_, stderr, err := w.bazel("build", tt.target)
			if err == nil {
				t.Fatalf("bazel build %s succeeded", tt.target)
			}
			if !strings.Contains(stderr, tt.want) {
				t.Errorf("error output lacks %q:\n%s", tt.want, tailLines(stderr, 15))
			}
		})
	}
}
