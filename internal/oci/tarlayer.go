package oci

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
)

// A tar input is rewritten entry by entry, never copied byte for byte, so that
// the names a runtime extracts are exactly the names checked here (a tar can
// carry one name in its USTAR fields and another in a PAX record, and tools
// disagree on which wins). Contents, modes, owners, times and extended
// attributes are kept; names are cleaned and made relative to the image root
// ("/etc/x", "./etc//x" and "etc/x" are all etc/x); global PAX headers are
// dropped (they would rename or re-time every later entry in some tools).
//
// What "escapes the root" means for each kind of entry:
//   - a name (of any entry) escapes when, cleaned, it climbs above the root
//     ("../x", "a/../../x"); an absolute name does not, it is relative to the root;
//   - a hard link's target is a path in the image, like a name: the same rule;
//   - a symlink's target is only text until something follows it. An absolute
//     target resolves inside the container's root at run time (and nothing
//     follows links while building), so it is legal. A relative target is
//     resolved against the link's directory and must not climb above the root:
//     extracted on a host (a registry mirror, `tar -x` of an export), such a
//     link points at the host's files;
//   - no entry may be written through a symlink of the same tar ("etc" -> "/host"
//     then "etc/passwd"), nor placed under a file of the same tar: extractors
//     that follow links would write outside the root;
//   - a hard link to a symlink of the same tar is that symlink, checked from the
//     hard link's directory.
//
// Links through symlinks of lower layers cannot be seen here; container
// runtimes resolve them inside the root.

// copyTar rewrites the tar file spec.Tar into the layer stream w and lists its entries.
func copyTar(spec LayerSpec, w io.Writer) ([]Entry, error) {
	origin := spec.Origin
	if origin == "" {
		origin = spec.Tar
	}
	f, err := os.Open(spec.Tar)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var raw io.Reader = f
	if isGzip(f) {
		gz, err := gzip.NewReader(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", origin, err)
		}
		raw = gz
	}
	tr := tar.NewReader(raw)
	// Headers and small files make many small writes: batch them for the compressor.
	buffered := bufio.NewWriterSize(w, 1<<20)
	tw := tar.NewWriter(buffered)
	c := newTarCopier()
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		// Go's own check of names (GODEBUG=tarinsecurepath=0) is ours to make.
		if err != nil && !errors.Is(err, tar.ErrInsecurePath) {
			return nil, fmt.Errorf("%s is not a tar file: %w", origin, err)
		}
		if err := c.copyEntry(tw, hdr, tr); err != nil {
			return nil, fmt.Errorf("%s: %w", origin, err)
		}
	}
	if err := c.finish(); err != nil {
		return nil, fmt.Errorf("%s: %w", origin, err)
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := buffered.Flush(); err != nil {
		return nil, err
	}
	return c.entries, nil
}

// tarCopier checks and records the entries of one tar as they are rewritten.
type tarCopier struct {
	entries []Entry
	written []string       // the name of entries[i] as the tar wrote it
	byPath  map[string]int // Entry.Path -> index in entries
	links   []int          // indexes of hard links, resolved by finish
}

func newTarCopier() *tarCopier { return &tarCopier{byPath: map[string]int{}} }

// cleanEntryName returns a tar name relative to the image root, clean ("." for
// the root itself), and whether it stays inside the root.
func cleanEntryName(name string) (string, bool) {
	c := path.Clean(strings.TrimLeft(name, "/"))
	return c, c != ".." && !strings.HasPrefix(c, "../")
}

func entryPath(clean string) string {
	if clean == "." {
		return "/"
	}
	return "/" + clean
}

// kinds of the tar types a layer holds, as Entry.Type.
var entryTypes = map[byte]string{
	tar.TypeReg: "file", tar.TypeGNUSparse: "file", tar.TypeCont: "file",
	tar.TypeDir: "dir", tar.TypeSymlink: "symlink", tar.TypeLink: "hardlink",
	tar.TypeChar: "char", tar.TypeBlock: "block", tar.TypeFifo: "fifo",
}

func (c *tarCopier) copyEntry(tw *tar.Writer, hdr *tar.Header, content io.Reader) error {
	if hdr.Typeflag == tar.TypeXGlobalHeader {
		return nil
	}
	typ, ok := entryTypes[hdr.Typeflag]
	if !ok {
		return fmt.Errorf("entry %q has tar type %q, which an image layer cannot hold", hdr.Name, hdr.Typeflag)
	}
	name, inside := cleanEntryName(hdr.Name)
	if !inside {
		return fmt.Errorf("entry %q is outside the image root (it resolves to %s)", hdr.Name, name)
	}
	if name == "." && typ != "dir" {
		return fmt.Errorf("entry %q names the image root, which must be a directory (it is a %s)", hdr.Name, typ)
	}
	e := Entry{Path: entryPath(name), Type: typ, Mode: uint32(hdr.Mode & 0o7777)}
	out := rewrittenHeader(hdr, name)
	switch typ {
	case "symlink":
		if err := checkSymlink(hdr.Name, name, hdr.Linkname); err != nil {
			return err
		}
		e.Digest = hdr.Linkname
	case "hardlink":
		target, inside := cleanEntryName(hdr.Linkname)
		if !inside {
			return fmt.Errorf("hard link %q points to %q, outside the image root", hdr.Name, hdr.Linkname)
		}
		if target == "." {
			return fmt.Errorf("hard link %q points to %q, the image root (a directory)", hdr.Name, hdr.Linkname)
		}
		out.Linkname, e.Digest = target, entryPath(target)
	}
	if err := tw.WriteHeader(out); err != nil {
		return fmt.Errorf("entry %q: %w", hdr.Name, err)
	}
	if typ == "file" {
		h := sha256.New()
		if _, err := io.Copy(io.MultiWriter(tw, h), content); err != nil {
			return fmt.Errorf("entry %q: %w", hdr.Name, err)
		}
		e.Digest = "sha256:" + hex.EncodeToString(h.Sum(nil))
	}
	return c.record(hdr.Name, e)
}

// rewrittenHeader is hdr with its name cleaned, in a fresh header (as
// archive/tar asks of headers read and written again).
func rewrittenHeader(hdr *tar.Header, name string) *tar.Header {
	out := &tar.Header{
		Typeflag: hdr.Typeflag, Name: name, Linkname: hdr.Linkname,
		Mode: hdr.Mode, Uid: hdr.Uid, Gid: hdr.Gid, Uname: hdr.Uname, Gname: hdr.Gname,
		ModTime: hdr.ModTime, AccessTime: hdr.AccessTime, ChangeTime: hdr.ChangeTime,
		Devmajor: hdr.Devmajor, Devminor: hdr.Devminor,
		// Records of fields above (path, size, ...) and of sparse maps are
		// ignored by the writer: the header's fields win.
		PAXRecords: hdr.PAXRecords,
		Format:     tar.FormatPAX,
	}
	switch hdr.Typeflag {
	case tar.TypeReg, tar.TypeGNUSparse, tar.TypeCont:
		// Sparse files are read expanded, and written as the plain files they are.
		out.Typeflag, out.Size = tar.TypeReg, hdr.Size
	case tar.TypeDir:
		out.Name = name + "/" // "./" for the root
	}
	return out
}

// checkSymlink fails when a relative symlink target climbs above the root from
// the link's directory. Absolute targets resolve inside the container's root.
func checkSymlink(written, name, target string) error {
	if path.IsAbs(target) {
		return nil
	}
	from := path.Dir(name)
	if _, inside := cleanEntryName(path.Join(from, target)); !inside {
		return fmt.Errorf("symlink %q points to %q, which climbs above the image root from %s", written, target, entryPath(from))
	}
	return nil
}

// record adds an entry; the same path twice must be the same thing.
func (c *tarCopier) record(written string, e Entry) error {
	if i, ok := c.byPath[e.Path]; ok {
		if conflicting(c.entries[i], e) {
			return fmt.Errorf("entries %q and %q are both %s, with different content (%s %s vs %s %s)",
				c.written[i], written, e.Path, c.entries[i].Type, short(c.entries[i].Digest), e.Type, short(e.Digest))
		}
		c.entries[i], c.written[i] = e, written
		return nil
	}
	c.byPath[e.Path] = len(c.entries)
	if e.Type == "hardlink" {
		c.links = append(c.links, len(c.entries))
	}
	c.entries = append(c.entries, e)
	c.written = append(c.written, written)
	return nil
}

// finish checks what needs the whole tar: no entry (or hard link target) under
// a symlink or file of the tar, and hard links resolved to what they link.
func (c *tarCopier) finish() error {
	for i, e := range c.entries {
		if err := c.checkParents(e.Path); err != nil {
			return fmt.Errorf("entry %q is under %w", c.written[i], err)
		}
	}
	for _, i := range c.links {
		if err := c.resolveHardLink(i); err != nil {
			return err
		}
	}
	return nil
}

// checkParents fails when a parent directory of p is something else in the tar.
func (c *tarCopier) checkParents(p string) error {
	for dir := path.Dir(p); dir != "/"; dir = path.Dir(dir) {
		if j, ok := c.byPath[dir]; ok && c.entries[j].Type != "dir" {
			return fmt.Errorf("%q, a %s in the same tar", c.written[j], c.entries[j].Type)
		}
	}
	return nil
}

// resolveHardLink makes the entry of a hard link to a file of the same tar that
// file (same content, same mode), and checks one to a symlink as a symlink.
func (c *tarCopier) resolveHardLink(i int) error {
	link, written := &c.entries[i], c.written[i]
	target := link.Digest
	if err := c.checkParents(target); err != nil {
		return fmt.Errorf("hard link %q points to %q, under %w", written, strings.TrimPrefix(target, "/"), err)
	}
	j, ok := c.byPath[target]
	if !ok {
		return nil // a file of a lower layer
	}
	switch to := c.entries[j]; to.Type {
	case "dir":
		return fmt.Errorf("hard link %q points to %q, a directory", written, c.written[j])
	case "symlink":
		if err := checkSymlink(written, strings.TrimPrefix(link.Path, "/"), to.Digest); err != nil {
			return fmt.Errorf("%w (through hard link to %q)", err, c.written[j])
		}
		*link = Entry{Path: link.Path, Type: to.Type, Mode: to.Mode, Digest: to.Digest}
	case "hardlink":
		// A chain: its end is checked on its own.
	default:
		*link = Entry{Path: link.Path, Type: to.Type, Mode: to.Mode, Digest: to.Digest}
	}
	return nil
}
