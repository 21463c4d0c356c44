package oci

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
)

// Meta is the small part of an OCI image layout: the top manifest's descriptor
// and every blob but the layers (indexes, manifests, configs). Image rules write it
// next to the layout (<name>.oci-meta.json), so that a machine that builds with a
// remote cache and does not download the layers (Build without the Bytes) can
// still read everything about the image, and push it with the layers streamed
// from where they are.
type Meta struct {
	// Top describes the image manifest or index the layout holds.
	Top v1.Descriptor `json:"top"`
	// Blobs are the small blobs, by digest ("sha256:...").
	Blobs map[string][]byte `json:"blobs"`
}

// MetaSuffix ends the name of every metadata file image rules write.
const MetaSuffix = ".oci-meta.json"

// WriteMeta writes the metadata of the layout at layoutDir (written by WriteLayout)
// to path.
func WriteMeta(path, layoutDir string) error {
	idx, err := readLayoutIndex(layoutDir)
	if err != nil {
		return fmt.Errorf("%s is not an OCI image layout: %w", layoutDir, err)
	}
	if len(idx.manifest.Manifests) != 1 {
		return fmt.Errorf("%s holds %d manifests, want 1", layoutDir, len(idx.manifest.Manifests))
	}
	m := Meta{Top: idx.manifest.Manifests[0], Blobs: map[string][]byte{}}
	if err := collectSmallBlobs(dirStore(layoutDir), m.Top, m.Blobs); err != nil {
		return err
	}
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

// collectSmallBlobs adds the manifest or index d and what it references, but
// layers, to blobs.
func collectSmallBlobs(store blobStore, d v1.Descriptor, blobs map[string][]byte) error {
	raw, err := store.read(d.Digest)
	if err != nil {
		return err
	}
	blobs[d.Digest.String()] = raw
	if d.MediaType.IsIndex() {
		im, err := v1.ParseIndexManifest(bytesReader(raw))
		if err != nil {
			return fmt.Errorf("%s: index %s: %w", store, d.Digest, err)
		}
		for _, child := range im.Manifests {
			if err := collectSmallBlobs(store, child, blobs); err != nil {
				return err
			}
		}
		return nil
	}
	m, err := v1.ParseManifest(bytesReader(raw))
	if err != nil {
		return fmt.Errorf("%s: manifest %s: %w", store, d.Digest, err)
	}
	cfg, err := store.read(m.Config.Digest)
	if err != nil {
		return err
	}
	blobs[m.Config.Digest.String()] = cfg
	return nil
}

// LayerOpener streams a layer blob the metadata does not hold.
type LayerOpener func(h v1.Hash) (io.ReadCloser, error)

// LoadMeta reads the image or index whose metadata is at path; its layers are
// read through open, and only when a push asks for their bytes.
func LoadMeta(path string, open LayerOpener) (v1.Image, v1.ImageIndex, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	var m Meta
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	store := &metaStore{path: path, blobs: m.Blobs, opener: open}
	raw, err := store.read(m.Top.Digest)
	if err != nil {
		return nil, nil, err
	}
	if m.Top.MediaType.IsIndex() {
		idx, err := parseIndex(store, raw, m.Top.MediaType)
		return nil, idx, err
	}
	img, err := partial.CompressedToImage(&layoutImage{store: store, raw: raw, mediaType: m.Top.MediaType})
	return img, nil, err
}

// metaStore serves the small blobs from a Meta and streams layers through opener.
type metaStore struct {
	path   string
	blobs  map[string][]byte
	opener LayerOpener
}

func (s *metaStore) String() string { return s.path }

func (s *metaStore) read(h v1.Hash) ([]byte, error) {
	b, ok := s.blobs[h.String()]
	if !ok {
		return nil, fmt.Errorf("%s: no blob %s in the image metadata", s.path, h)
	}
	return b, nil
}

func (s *metaStore) open(h v1.Hash) (io.ReadCloser, error) {
	if b, ok := s.blobs[h.String()]; ok {
		return io.NopCloser(bytesReader(b)), nil
	}
	if s.opener == nil {
		return nil, fmt.Errorf("%s: layer %s is not local and no source was given", s.path, h)
	}
	return s.opener(h)
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }
