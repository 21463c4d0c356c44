package oci

import (
	"archive/tar"
	"compress/gzip"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// writeTree creates files (path -> content; a trailing "*" in the path makes it executable).
func writeTree(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for p, content := range files {
		mode := os.FileMode(0o644)
		if strings.HasSuffix(p, "*") {
			p, mode = strings.TrimSuffix(p, "*"), 0o755
		}
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
	}
}

// tarListing lists a layer blob's tar headers, one line each.
func tarListing(t *testing.T, blob string) string {
	t.Helper()
	f, err := os.Open(blob)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var r io.Reader = f
	if isGzip(f) {
		gz, err := gzip.NewReader(f)
		if err != nil {
			t.Fatal(err)
		}
		r = gz
	}
	tr := tar.NewReader(r)
	var b strings.Builder
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%c %04o %d:%d %q %q size=%d mtime=%d format=%v pax=%v",
			h.Typeflag, h.Mode, h.Uid, h.Gid, h.Uname+"/"+h.Gname, h.Name, h.Size, h.ModTime.Unix(), h.Format, h.PAXRecords)
		if h.Linkname != "" {
			fmt.Fprintf(&b, " link=%q", h.Linkname)
		}
		b.WriteString("\n")
	}
	return b.String()
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s differs (-want +got; run with -update if intended):\n%s", path, diff)
	}
}

func TestLayerHeadersGolden(t *testing.T) {
	src := t.TempDir()
	writeTree(t, src, map[string]string{
		"bin/server*":          "#!/bin/true\n",
		"static/index.html":    "<h1>hi</h1>\n",
		"static/css/site.css":  "body{}\n",
		"config/settings.json": "{}\n",
	})
	spec := LayerSpec{
		Group: "files",
		Files: []FileSource{
			{Src: filepath.Join(src, "bin/server"), Dest: "/app/server"},
			{Src: filepath.Join(src, "static"), Dest: "/app/static"},
			{Src: filepath.Join(src, "config/settings.json"), Dest: "/etc/app/settings.json", Mode: 0o600},
		},
		MTime: 0,
	}
	blob := filepath.Join(t.TempDir(), "layer")
	d, err := BuildLayer(spec, blob)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "files_layer.headers", tarListing(t, blob))
	if d.MediaType != "application/vnd.oci.image.layer.v1.tar+gzip" {
		t.Errorf("media type = %s, want gzip OCI layer", d.MediaType)
	}
	st, _ := os.Stat(blob)
	if d.Size != st.Size() {
		t.Errorf("descriptor size %d, blob has %d bytes", d.Size, st.Size())
	}
}

// The same contents at different paths, with different mtimes and modes on disk,
// give the same layer, byte for byte.
func TestLayerIsReproducible(t *testing.T) {
	build := func(mtimeOnDisk int64) *LayerDescriptor {
		src := t.TempDir()
		writeTree(t, src, map[string]string{"a/b.txt": "b", "c*": "c"})
		for _, p := range []string{"a/b.txt", "c", "a"} {
			if err := os.Chtimes(filepath.Join(src, p), unix(mtimeOnDisk), unix(mtimeOnDisk)); err != nil {
				t.Fatal(err)
			}
		}
		d, err := BuildLayer(LayerSpec{Group: "files", Files: []FileSource{
			{Src: filepath.Join(src, "a"), Dest: "/x/a"},
			{Src: filepath.Join(src, "c"), Dest: "/x/c"},
		}}, filepath.Join(t.TempDir(), "blob"))
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	first, second := build(1_000_000), build(2_000_000)
	if diff := cmp.Diff(first, second); diff != "" {
		t.Errorf("layers differ with only paths and mtimes on disk changed (-first +second):\n%s", diff)
	}
}

func TestLayerStampsSourceDateEpoch(t *testing.T) {
	src := t.TempDir()
	writeTree(t, src, map[string]string{"f": "x"})
	blob := filepath.Join(t.TempDir(), "blob")
	if _, err := BuildLayer(LayerSpec{Group: "files", MTime: 1700000000, Files: []FileSource{{Src: filepath.Join(src, "f"), Dest: "/f"}}}, blob); err != nil {
		t.Fatal(err)
	}
	if got := tarListing(t, blob); !strings.Contains(got, "mtime=1700000000") {
		t.Errorf("listing %q lacks mtime=1700000000", got)
	}
}

func TestLayerFromTar(t *testing.T) {
	src := t.TempDir()
	tarPath := filepath.Join(src, "in.tar")
	f, _ := os.Create(tarPath)
	tw := tar.NewWriter(f)
	_ = tw.WriteHeader(&tar.Header{Name: "etc/", Typeflag: tar.TypeDir, Mode: 0o755})
	_ = tw.WriteHeader(&tar.Header{Name: "etc/motd", Typeflag: tar.TypeReg, Mode: 0o644, Size: 2})
	_, _ = tw.Write([]byte("hi"))
	_ = tw.WriteHeader(&tar.Header{Name: "etc/link", Typeflag: tar.TypeSymlink, Linkname: "motd"})
	_ = tw.Close()
	_ = f.Close()

	d, err := BuildLayer(LayerSpec{Group: "tars_0", Tar: tarPath, Compression: Uncompressed}, filepath.Join(t.TempDir(), "blob"))
	if err != nil {
		t.Fatal(err)
	}
	want := []Entry{
		{Path: "/etc", Type: "dir", Mode: 0o755},
		{Path: "/etc/motd", Type: "file", Mode: 0o644, Digest: "sha256:8f434346648f6b96df89dda901c5176b10a6d83961dd3c1ac88b59b2dc327aa4"},
		{Path: "/etc/link", Type: "symlink", Mode: 0, Digest: "motd"},
	}
	if diff := cmp.Diff(want, d.Entries); diff != "" {
		t.Errorf("entries (-want +got):\n%s", diff)
	}
	// Uncompressed: the blob is the tar itself, so digest and diffID agree.
	if d.Digest != d.DiffID {
		t.Errorf("uncompressed layer: digest %s != diffID %s", d.Digest, d.DiffID)
	}
}

func TestLayerErrors(t *testing.T) {
	src := t.TempDir()
	writeTree(t, src, map[string]string{"f": "x", "notatar": "hello"})
	tests := []struct {
		name string
		spec LayerSpec
		want string
	}{
		{"missing input", LayerSpec{Group: "files", Files: []FileSource{{Src: filepath.Join(src, "nope"), Dest: "/x"}}}, "files: input"},
		{"relative destination", LayerSpec{Group: "files", Files: []FileSource{{Src: filepath.Join(src, "f"), Dest: "x"}}}, "must be an absolute path"},
		{"root destination", LayerSpec{Group: "files", Files: []FileSource{{Src: filepath.Join(src, "f"), Dest: "/"}}}, "root"},
		{"not a tar", LayerSpec{Group: "tars_0", Tar: filepath.Join(src, "notatar")}, "is not a tar file"},
		{"bad compression", LayerSpec{Group: "files", Compression: "zstd"}, "unknown compression"},
		{"binary not executable", LayerSpec{Group: "binary", Files: []FileSource{{Src: filepath.Join(src, "f"), Dest: "/app/x", Executable: true}}}, "binary: " + filepath.Join(src, "f") + " is not an executable file (placed at /app/x)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := BuildLayer(tt.spec, filepath.Join(t.TempDir(), "blob"))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// Parallel compression must not make the bytes depend on the machine's cores.
func TestLayerIsTheSameOnAnyNumberOfCores(t *testing.T) {
	src := t.TempDir()
	big := make([]byte, 5*gzipBlockSize+12345) // several compression blocks
	for i := range big {
		big[i] = byte(i*7 + i/1000)
	}
	if err := os.WriteFile(filepath.Join(src, "bin"), big, 0o755); err != nil {
		t.Fatal(err)
	}
	build := func(procs int) *LayerDescriptor {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
		d, err := BuildLayer(LayerSpec{Group: "binary", Files: []FileSource{{Src: filepath.Join(src, "bin"), Dest: "/app/bin"}}}, filepath.Join(t.TempDir(), "blob"))
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	one, four := build(1), build(4)
	if one.Digest != four.Digest || one.Size != four.Size {
		t.Errorf("1 core: %s (%d bytes); 4 cores: %s (%d bytes)", one.Digest, one.Size, four.Digest, four.Size)
	}
}
