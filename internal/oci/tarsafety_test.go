package oci

import (
	"archive/tar"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// tarEntry is one entry of a crafted tar: a header and, for regular files, content.
type tarEntry struct {
	name, link, content string
	typ                 byte
}

func tarReg(name, content string) tarEntry {
	return tarEntry{name: name, content: content, typ: tar.TypeReg}
}
func tarDir(name string) tarEntry { return tarEntry{name: name, typ: tar.TypeDir} }
func tarSymlink(name, target string) tarEntry {
	return tarEntry{name: name, link: target, typ: tar.TypeSymlink}
}
func tarHardlink(name, target string) tarEntry {
	return tarEntry{name: name, link: target, typ: tar.TypeLink}
}

// craftTar writes entries, names and link targets exactly as given, to a tar file.
func craftTar(t *testing.T, entries ...tarEntry) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "in.tar")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	tw := tar.NewWriter(f)
	for _, e := range entries {
		mode := map[byte]int64{tar.TypeDir: 0o755, tar.TypeSymlink: 0o777}[e.typ]
		if mode == 0 {
			mode = 0o644
		}
		hdr := &tar.Header{Name: e.name, Linkname: e.link, Typeflag: e.typ, Mode: mode, Size: int64(len(e.content)), Format: tar.FormatPAX}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(e.content)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return p
}

func sha256Of(s string) string {
	h := sha256.Sum256([]byte(s))
	return "sha256:" + hex.EncodeToString(h[:])
}

const evilOrigin = "//pkg:evil.tar"

func buildTarLayer(t *testing.T, tarPath string) (*LayerDescriptor, string, error) {
	t.Helper()
	blob := filepath.Join(t.TempDir(), "blob")
	d, err := BuildLayer(LayerSpec{Group: "tars_0", Tar: tarPath, Origin: evilOrigin, Compression: Uncompressed}, blob)
	return d, blob, err
}

// Entries that would land outside the layer's root, by name, hard link or
// symlink, fail the layer with the tar's label and the entry as written.
func TestTarLayerRejectsEntriesThatEscape(t *testing.T) {
	tests := []struct {
		name    string
		entries []tarEntry
		want    string
	}{
		{"parent traversal", []tarEntry{tarReg("../../etc/evil", "x")},
			`tars_0: //pkg:evil.tar: entry "../../etc/evil" is outside the image root`},
		{"traversal hidden in the middle", []tarEntry{tarDir("a/"), tarReg("a/../../evil", "x")},
			`tars_0: //pkg:evil.tar: entry "a/../../evil" is outside the image root`},
		{"absolute traversal", []tarEntry{tarReg("/../etc/evil", "x")},
			`entry "/../etc/evil" is outside the image root`},
		{"hard link out of the root", []tarEntry{tarHardlink("shadow", "../../etc/shadow")},
			`tars_0: //pkg:evil.tar: hard link "shadow" points to "../../etc/shadow", outside the image root`},
		{"relative symlink climbing above the root", []tarEntry{tarDir("a/"), tarDir("a/b/"), tarSymlink("a/b/up", "../../../etc")},
			`tars_0: //pkg:evil.tar: symlink "a/b/up" points to "../../../etc", which climbs above the image root from /a/b`},
		{"symlink at the root to its parent", []tarEntry{tarSymlink("up", "..")},
			`symlink "up" points to "..", which climbs above the image root from /`},
		{"entry written through a symlink of the same tar", []tarEntry{tarSymlink("etc", "/host/etc"), tarReg("etc/passwd", "root::0:0")},
			`tars_0: //pkg:evil.tar: entry "etc/passwd" is under "etc", a symlink in the same tar`},
		{"symlink after the entry under it", []tarEntry{tarDir("etc/"), tarReg("lnk/x", "x"), tarSymlink("lnk", "/")},
			`entry "lnk/x" is under "lnk", a symlink in the same tar`},
		{"hard link through a symlink of the same tar", []tarEntry{tarSymlink("lnk", "/etc"), tarHardlink("x", "lnk/shadow")},
			`hard link "x" points to "lnk/shadow", under "lnk", a symlink in the same tar`},
		{"hard link to a symlink of the tar, moved to where it climbs out", []tarEntry{tarDir("a/"), tarDir("a/b/"), tarSymlink("a/b/l", "../.."), tarHardlink("l", "a/b/l")},
			`symlink "l" points to "../..", which climbs above the image root from / (through hard link to "a/b/l")`},
		{"hard link to the root", []tarEntry{tarHardlink("x", "/")},
			`hard link "x" points to "/", the image root (a directory)`},
		{"hard link to a directory", []tarEntry{tarDir("etc/"), tarHardlink("x", "etc")},
			`hard link "x" points to "etc/", a directory`},
		{"duplicate once cleaned", []tarEntry{tarReg("/etc/x", "a"), tarReg("./etc//x", "b")},
			`tars_0: //pkg:evil.tar: entries "/etc/x" and "./etc//x" are both /etc/x, with different content`},
		{"a file used as a directory", []tarEntry{tarReg("a", "x"), tarReg("a/b", "y")},
			`entry "a/b" is under "a", a file in the same tar`},
		{"the root as a file", []tarEntry{tarReg(".", "x")},
			`entry "." names the image root, which must be a directory`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := buildTarLayer(t, craftTar(t, tt.entries...))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v\nwant one containing %q", err, tt.want)
			}
		})
	}
}

// Names are cleaned and made relative to the root in the blob itself, so what
// was checked is what a runtime extracts; legal links are kept.
func TestTarLayerNormalizesNames(t *testing.T) {
	tarPath := craftTar(t,
		tarDir("./"),
		tarDir("/etc/"),
		tarReg("/etc/motd", "hi"),
		tarReg("./etc//app.conf", "a=1"),
		tarDir("usr/"),
		tarDir("usr/./lib/"),
		tarReg("usr/share/../lib/x", "x"),
		tarSymlink("etc/abs", "/usr/lib/x"),
		tarSymlink("usr/lib/rel", "../../etc/motd"),
		tarHardlink("usr/motd", "/etc/motd"),
		tarHardlink("usr/elsewhere", "./lower/layer/file"),
		tarDir("etc/"), // the same directory again: not a conflict
	)
	d, blob, err := buildTarLayer(t, tarPath)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "tar_normalized.headers", tarListing(t, blob))
	want := []Entry{
		{Path: "/", Type: "dir", Mode: 0o755},
		{Path: "/etc", Type: "dir", Mode: 0o755},
		{Path: "/etc/motd", Type: "file", Mode: 0o644, Digest: sha256Of("hi")},
		{Path: "/etc/app.conf", Type: "file", Mode: 0o644, Digest: sha256Of("a=1")},
		{Path: "/usr", Type: "dir", Mode: 0o755},
		{Path: "/usr/lib", Type: "dir", Mode: 0o755},
		{Path: "/usr/lib/x", Type: "file", Mode: 0o644, Digest: sha256Of("x")},
		{Path: "/etc/abs", Type: "symlink", Mode: 0o777, Digest: "/usr/lib/x"},
		{Path: "/usr/lib/rel", Type: "symlink", Mode: 0o777, Digest: "../../etc/motd"},
		// A hard link to a file of the same tar is that file's content.
		{Path: "/usr/motd", Type: "file", Mode: 0o644, Digest: sha256Of("hi")},
		// One to a file of a lower layer is known by its target only.
		{Path: "/usr/elsewhere", Type: "hardlink", Mode: 0o644, Digest: "/lower/layer/file"},
	}
	if diff := cmp.Diff(want, d.Entries); diff != "" {
		t.Errorf("entries (-want +got):\n%s", diff)
	}
}

// Conflicts between layers compare cleaned names: a tar's "/etc/app.conf" and
// the files layer's /etc/app.conf are the same file.
func TestTarLayerConflictsUseCleanedNames(t *testing.T) {
	tarPath := craftTar(t, tarReg("/etc/app.conf", "from the tar"))
	out := t.TempDir()
	tarLayer := LayerInput{Blob: filepath.Join(out, "blob"), Descriptor: filepath.Join(out, "descriptor.json")}
	d, err := BuildLayer(LayerSpec{Group: "tars_0", Tar: tarPath, Origin: evilOrigin}, tarLayer.Blob)
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteLayerDescriptor(tarLayer.Descriptor, d); err != nil {
		t.Fatal(err)
	}
	files := buildLayerFiles(t, "files", map[string]string{"/etc/app.conf": "from files"})
	_, err = BuildImage(ImageSpec{Layers: []LayerInput{tarLayer, files}, OS: "linux", Arch: "amd64"})
	want := `attribute "tars_0" and attribute "files" both write /etc/app.conf`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("err = %v, want one containing %q", err, want)
	}
}

// The rewrite keeps what the tar says about each file (owners, times, extended
// attributes, long names), reads gzipped input, and drops global headers.
func TestTarLayerKeepsMetadata(t *testing.T) {
	long := strings.Repeat("d", 120) + "/file"
	p := filepath.Join(t.TempDir(), "in.tar.gz")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	gz := gzip.NewWriter(f)
	tw := tar.NewWriter(gz)
	mtime := time.Unix(1700000000, 0)
	headers := []*tar.Header{
		// A global header that some extractors would apply as the name of every entry.
		{Typeflag: tar.TypeXGlobalHeader, PAXRecords: map[string]string{"path": "../../evil", "comment": "made by git archive"}},
		{Typeflag: tar.TypeReg, Name: "/" + long, Mode: 0o4755, Uid: 1000, Gid: 1001, Uname: "dev", Gname: "staff", ModTime: mtime, Size: 2, Format: tar.FormatGNU},
		{Typeflag: tar.TypeReg, Name: "./bin/ping", Mode: 0o755, ModTime: mtime, Size: 2,
			PAXRecords: map[string]string{"SCHILY.xattr.user.note": "kept"}, Format: tar.FormatPAX},
	}
	for _, h := range headers {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Size > 0 {
			if _, err := tw.Write([]byte("hi")); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, c := range []io.Closer{tw, gz, f} {
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
	}
	d, blob, err := buildTarLayer(t, p)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "tar_metadata.headers", tarListing(t, blob))
	want := []Entry{
		{Path: "/" + long, Type: "file", Mode: 0o4755, Digest: sha256Of("hi")},
		{Path: "/bin/ping", Type: "file", Mode: 0o755, Digest: sha256Of("hi")},
	}
	if diff := cmp.Diff(want, d.Entries); diff != "" {
		t.Errorf("entries (-want +got):\n%s", diff)
	}
}
