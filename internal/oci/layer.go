package oci

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/pgzip"
)

// gzipBlockSize is the unit pgzip compresses in parallel. It is part of the
// layers' bytes: changing it changes every digest.
const gzipBlockSize = 1 << 20

// Compression of a layer blob.
type Compression string

const (
	Gzip         Compression = "gzip"
	Uncompressed Compression = "none"
)

// FileSource is one input of a layer: a file or directory at Src in the build,
// placed at Dest in the image.
type FileSource struct {
	Src  string `json:"src"`
	Dest string `json:"dest"`
	// Mode is the permission bits of regular files (directories under a tree
	// source get 0755). Zero means 0644, or 0755 when the source is executable.
	Mode fs.FileMode `json:"mode,omitempty"`
	// Executable requires the source to be an executable file (a binary).
	Executable bool `json:"executable,omitempty"`
}

// LayerSpec describes a layer made of files, or taken from an existing tar file.
type LayerSpec struct {
	// Group names the input group (a rule attribute) in error messages.
	Group string       `json:"group"`
	Files []FileSource `json:"files,omitempty"`
	Tar   string       `json:"tar,omitempty"`
	// Origin names the tar as the user knows it (its label), in error messages.
	Origin      string      `json:"origin,omitempty"`
	Compression Compression `json:"compression,omitempty"`
	// MTime is the modification time of every entry, in seconds since the epoch
	// (SOURCE_DATE_EPOCH when the user stamps, else 0).
	MTime int64 `json:"mtime"`
}

// Entry is one path a layer writes, for detecting layers that disagree.
type Entry struct {
	// Path is absolute and clean: the same file has one Path in every layer.
	Path string `json:"path"`
	// Type is "file", "dir", "symlink", "hardlink" (to a file of a lower layer;
	// a hard link to a file of the same layer is that "file"), "char", "block"
	// or "fifo".
	Type string `json:"type"`
	Mode uint32 `json:"mode"`
	// Digest is the sha256 of a file's content, a symlink's target, or a hard
	// link's target path.
	Digest string `json:"digest,omitempty"`
}

// LayerDescriptor records a built layer blob: enough to assemble an image without
// reading the blob again.
type LayerDescriptor struct {
	Group     string          `json:"group"`
	MediaType types.MediaType `json:"mediaType"`
	Digest    string          `json:"digest"`
	DiffID    string          `json:"diffID"`
	Size      int64           `json:"size"`
	Entries   []Entry         `json:"entries"`
}

// BuildLayer writes the layer blob described by spec to blobPath and returns its
// descriptor. Entries are sorted, owned by 0:0, stamped with spec.MTime, and
// parent directories are added, so the result depends only on the inputs' contents.
func BuildLayer(spec LayerSpec, blobPath string) (*LayerDescriptor, error) {
	out, err := os.Create(blobPath)
	if err != nil {
		return nil, err
	}
	defer out.Close()
	digest, diffID := sha256.New(), sha256.New()
	size := &countingWriter{}
	compressed := io.MultiWriter(out, digest, size)

	var tarStream io.Writer
	var gz *pgzip.Writer
	mediaType := types.OCIUncompressedLayer
	switch spec.Compression {
	case Gzip, "":
		// BestSpeed: layers are rebuilt on every change of their inputs, and pushed
		// over fast links (a local registry) as often as over slow ones. pgzip
		// compresses fixed-size blocks in parallel: the bytes depend on the block
		// size, never on the number of cores.
		gz, _ = pgzip.NewWriterLevel(compressed, pgzip.BestSpeed)
		if err := gz.SetConcurrency(gzipBlockSize, max(runtime.GOMAXPROCS(0), 1)); err != nil {
			return nil, err
		}
		tarStream = io.MultiWriter(gz, diffID)
		mediaType = types.OCILayer
	case Uncompressed:
		tarStream = io.MultiWriter(compressed, diffID)
	default:
		return nil, fmt.Errorf("%s: unknown compression %q (want %q or %q)", spec.Group, spec.Compression, Gzip, Uncompressed)
	}

	var entries []Entry
	if spec.Tar != "" {
		entries, err = copyTar(spec, tarStream)
	} else {
		entries, err = writeFiles(spec, tarStream)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", spec.Group, err)
	}
	if gz != nil {
		if err := gz.Close(); err != nil {
			return nil, err
		}
	}
	if err := out.Close(); err != nil {
		return nil, err
	}
	return &LayerDescriptor{
		Group:     spec.Group,
		MediaType: mediaType,
		Digest:    "sha256:" + hex.EncodeToString(digest.Sum(nil)),
		DiffID:    "sha256:" + hex.EncodeToString(diffID.Sum(nil)),
		Size:      size.n,
		Entries:   entries,
	}, nil
}

type countingWriter struct{ n int64 }

func (c *countingWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

// layerFile is one regular file, directory or symlink to write.
type layerFile struct {
	dest string // clean, relative, no leading slash
	src  string // for regular files
	mode fs.FileMode
	typ  byte
}

// writeFiles expands the spec's sources (walking directories), adds parent
// directories, and writes everything as a sorted tar stream.
func writeFiles(spec LayerSpec, w io.Writer) ([]Entry, error) {
	files := layerFiles{}
	for _, s := range spec.Files {
		if err := files.addSource(s); err != nil {
			return nil, err
		}
	}
	if err := files.addParents(); err != nil {
		return nil, err
	}
	return files.write(w, time.Unix(spec.MTime, 0).UTC())
}

// layerFiles are the entries of a files layer, by destination (clean, relative).
type layerFiles map[string]layerFile

func (lf layerFile) describe() string {
	if lf.typ == tar.TypeDir {
		return lf.src + " (a folder)"
	}
	return lf.src + " (a file)"
}

// add places f; two inputs at one path are an error unless both are folders.
func (files layerFiles) add(f layerFile) error {
	prev, ok := files[f.dest]
	switch {
	case !ok:
	case prev.typ == tar.TypeDir && f.typ == tar.TypeDir:
		return nil // a folder of two trees: their contents merge
	case prev.typ != f.typ:
		return fmt.Errorf("two inputs are placed at /%s: %s and %s", f.dest, prev.describe(), f.describe())
	case prev.src != f.src:
		return fmt.Errorf("two inputs are placed at /%s: %s and %s", f.dest, prev.src, f.src)
	}
	files[f.dest] = f
	return nil
}

// addSource places one source: a file at its destination, or a directory's tree under it.
func (files layerFiles) addSource(s FileSource) error {
	dest, err := cleanDest(s.Dest)
	if err != nil {
		return err
	}
	info, err := os.Stat(s.Src)
	if err != nil {
		return fmt.Errorf("input %s (for /%s): %w", s.Src, dest, err)
	}
	if s.Executable && (info.IsDir() || info.Mode().Perm()&0o111 == 0) {
		return fmt.Errorf("%s is not an executable file (placed at /%s)", s.Src, dest)
	}
	if !info.IsDir() {
		return files.add(layerFile{dest: dest, src: s.Src, mode: fileMode(s.Mode, info), typ: tar.TypeReg})
	}
	// A directory (a tree artifact or source folder): keep its shape.
	return filepath.WalkDir(s.Src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(s.Src, p)
		target := path.Join(dest, filepath.ToSlash(rel))
		if d.IsDir() {
			return files.add(layerFile{dest: target, src: p, mode: 0o755, typ: tar.TypeDir})
		}
		// Bazel presents inputs as symlinks: follow them to the content.
		info, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("input %s: %w", p, err)
		}
		if info.IsDir() {
			return fmt.Errorf("input %s: a symlink to a directory inside a directory input is not supported", p)
		}
		return files.add(layerFile{dest: target, src: p, mode: fileMode(s.Mode, info), typ: tar.TypeReg})
	})
}

// addParents gives every parent directory its own entry, so extraction never
// invents owners or modes; a parent that is a file is an error.
func (files layerFiles) addParents() error {
	for _, dest := range slices.Sorted(maps.Keys(files)) {
		for dir := path.Dir(dest); dir != "." && dir != "/"; dir = path.Dir(dir) {
			prev, ok := files[dir]
			if !ok {
				files[dir] = layerFile{dest: dir, mode: 0o755, typ: tar.TypeDir}
				continue
			}
			if prev.typ != tar.TypeDir {
				return fmt.Errorf("%s is placed at /%s, under /%s, where %s is a file", files[dest].src, dest, dir, prev.src)
			}
		}
	}
	return nil
}

// write writes the entries sorted by name, owned by 0:0 and stamped with mtime.
func (files layerFiles) write(w io.Writer, mtime time.Time) ([]Entry, error) {
	names := make([]string, 0, len(files))
	for n := range files {
		if n != "." {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	tw := tar.NewWriter(w)
	entries := make([]Entry, 0, len(names))
	for _, n := range names {
		f := files[n]
		hdr := &tar.Header{
			Typeflag: f.typ,
			Name:     n,
			Mode:     int64(f.mode.Perm()),
			ModTime:  mtime,
			Format:   tar.FormatPAX,
		}
		entry := Entry{Path: "/" + n, Mode: uint32(f.mode.Perm())}
		switch f.typ {
		case tar.TypeDir:
			hdr.Name += "/"
			entry.Type = "dir"
			if err := tw.WriteHeader(hdr); err != nil {
				return nil, err
			}
		case tar.TypeReg:
			entry.Type = "file"
			d, err := writeFile(tw, hdr, f.src)
			if err != nil {
				return nil, err
			}
			entry.Digest = d
		}
		entries = append(entries, entry)
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return entries, nil
}

func writeFile(tw *tar.Writer, hdr *tar.Header, src string) (string, error) {
	f, err := os.Open(src)
	if err != nil {
		return "", err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return "", err
	}
	hdr.Size = info.Size()
	if err := tw.WriteHeader(hdr); err != nil {
		return "", err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tw, h), f)
	if err != nil {
		return "", fmt.Errorf("reading %s: %w", src, err)
	}
	if n != hdr.Size {
		return "", fmt.Errorf("%s changed size while being read", src)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

func isGzip(f *os.File) bool {
	var magic [2]byte
	n, _ := f.ReadAt(magic[:], 0)
	return n == 2 && magic[0] == 0x1f && magic[1] == 0x8b
}

func fileMode(mode fs.FileMode, info fs.FileInfo) fs.FileMode {
	if mode != 0 {
		return mode
	}
	if info.Mode().Perm()&0o111 != 0 {
		return 0o755
	}
	return 0o644
}

// cleanDest turns an absolute image path into a tar entry name.
func cleanDest(dest string) (string, error) {
	if !strings.HasPrefix(dest, "/") {
		return "", fmt.Errorf("destination %q must be an absolute path in the image", dest)
	}
	c := strings.TrimPrefix(path.Clean(dest), "/")
	if c == "" {
		return "", fmt.Errorf("destination %q names the image's root, not a file", dest)
	}
	return c, nil
}

// ReadLayerDescriptor reads a descriptor written by WriteLayerDescriptor.
func ReadLayerDescriptor(p string) (*LayerDescriptor, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	var d LayerDescriptor
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return &d, nil
}

// WriteLayerDescriptor writes d as JSON to p.
func WriteLayerDescriptor(p string, d *LayerDescriptor) error {
	b, err := json.MarshalIndent(d, "", " ")
	if err != nil {
		return err
	}
	return os.WriteFile(p, append(b, '\n'), 0o644)
}
