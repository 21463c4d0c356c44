package oci

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Reading OCI image layouts that Bazel hands us. Bazel presents action inputs and
// runfiles as symlinks, file by file; go-containerregistry's layout package refuses
// symlinked blobs (a guard for untrusted layouts), so this reader follows them and
// leaves everything else (digests, descriptors, layers) to go-containerregistry's
// partial package.

// layoutIndex is the image index in a layout's index.json, or one nested in it.
type layoutIndex struct {
	store    blobStore
	raw      []byte
	manifest *v1.IndexManifest
	// mediaType of this index (index.json itself has none of its own).
	mediaType types.MediaType
}

var _ v1.ImageIndex = (*layoutIndex)(nil)

// readLayoutIndex reads dir/index.json.
func readLayoutIndex(dir string) (*layoutIndex, error) {
	raw, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		return nil, err
	}
	return parseIndex(dirStore(dir), raw, types.OCIImageIndex)
}

func parseIndex(store blobStore, raw []byte, mt types.MediaType) (*layoutIndex, error) {
	m, err := v1.ParseIndexManifest(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	return &layoutIndex{store: store, raw: raw, manifest: m, mediaType: mt}, nil
}

func (l *layoutIndex) MediaType() (types.MediaType, error)       { return l.mediaType, nil }
func (l *layoutIndex) Digest() (v1.Hash, error)                  { return partial.Digest(l) }
func (l *layoutIndex) Size() (int64, error)                      { return partial.Size(l) }
func (l *layoutIndex) IndexManifest() (*v1.IndexManifest, error) { return l.manifest, nil }
func (l *layoutIndex) RawManifest() ([]byte, error)              { return l.raw, nil }

func (l *layoutIndex) descriptor(h v1.Hash) (*v1.Descriptor, error) {
	for i := range l.manifest.Manifests {
		if l.manifest.Manifests[i].Digest == h {
			return &l.manifest.Manifests[i], nil
		}
	}
	return nil, fmt.Errorf("%s: no manifest %s in the index", l.store, h)
}

func (l *layoutIndex) Image(h v1.Hash) (v1.Image, error) {
	desc, err := l.descriptor(h)
	if err != nil {
		return nil, err
	}
	raw, err := l.store.read(h)
	if err != nil {
		return nil, err
	}
	return partial.CompressedToImage(&layoutImage{store: l.store, raw: raw, mediaType: desc.MediaType})
}

func (l *layoutIndex) ImageIndex(h v1.Hash) (v1.ImageIndex, error) {
	desc, err := l.descriptor(h)
	if err != nil {
		return nil, err
	}
	raw, err := l.store.read(h)
	if err != nil {
		return nil, err
	}
	return parseIndex(l.store, raw, desc.MediaType)
}

// layoutImage is an image manifest in a layout.
type layoutImage struct {
	store     blobStore
	raw       []byte
	mediaType types.MediaType
	manifest  *v1.Manifest
}

var _ partial.CompressedImageCore = (*layoutImage)(nil)

func (l *layoutImage) RawManifest() ([]byte, error)        { return l.raw, nil }
func (l *layoutImage) MediaType() (types.MediaType, error) { return l.mediaType, nil }

func (l *layoutImage) parsed() (*v1.Manifest, error) {
	if l.manifest == nil {
		m, err := v1.ParseManifest(bytes.NewReader(l.raw))
		if err != nil {
			return nil, err
		}
		l.manifest = m
	}
	return l.manifest, nil
}

func (l *layoutImage) RawConfigFile() ([]byte, error) {
	m, err := l.parsed()
	if err != nil {
		return nil, err
	}
	return l.store.read(m.Config.Digest)
}

func (l *layoutImage) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	m, err := l.parsed()
	if err != nil {
		return nil, err
	}
	if h == m.Config.Digest {
		return &layoutBlob{store: l.store, desc: m.Config}, nil
	}
	for _, d := range m.Layers {
		if d.Digest == h {
			return &layoutBlob{store: l.store, desc: d}, nil
		}
	}
	return nil, fmt.Errorf("%s: no layer %s in manifest", l.store, h)
}

// layoutBlob is a layer (or config) blob in a layout.
type layoutBlob struct {
	store blobStore
	desc  v1.Descriptor
}

func (b *layoutBlob) Digest() (v1.Hash, error)            { return b.desc.Digest, nil }
func (b *layoutBlob) Size() (int64, error)                { return b.desc.Size, nil }
func (b *layoutBlob) MediaType() (types.MediaType, error) { return b.desc.MediaType, nil }
func (b *layoutBlob) Compressed() (io.ReadCloser, error) {
	return b.store.open(b.desc.Digest)
}

// Descriptor keeps annotations and the like of the manifest's own descriptor.
func (b *layoutBlob) Descriptor() (*v1.Descriptor, error) { return &b.desc, nil }

// blobStore holds a layout's blobs: a layout directory, or a layout's metadata
// with its layers elsewhere.
type blobStore interface {
	// read returns a small blob (a manifest, an index, a config).
	read(h v1.Hash) ([]byte, error)
	// open streams a blob of any size.
	open(h v1.Hash) (io.ReadCloser, error)
	// String names the store in errors.
	String() string
}

// dirStore is an OCI image layout directory.
type dirStore string

func (d dirStore) String() string { return string(d) }

func (d dirStore) read(h v1.Hash) ([]byte, error) {
	b, err := os.ReadFile(blobPath(string(d), h))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", d, err)
	}
	return b, nil
}

func (d dirStore) open(h v1.Hash) (io.ReadCloser, error) { return os.Open(blobPath(string(d), h)) }
