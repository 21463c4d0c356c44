package oci

import (
	"fmt"
	"io"
	"os"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// blobLayer is a layer whose blob was built by BuildLayer: its digests come from the
// descriptor, so assembling an image never reads or hashes the blob again.
type blobLayer struct {
	path      string
	digest    v1.Hash
	diffID    v1.Hash
	size      int64
	mediaType types.MediaType
}

var _ partial.CompressedLayer = (*blobLayer)(nil)

func (l *blobLayer) Digest() (v1.Hash, error)            { return l.digest, nil }
func (l *blobLayer) DiffID() (v1.Hash, error)            { return l.diffID, nil }
func (l *blobLayer) Size() (int64, error)                { return l.size, nil }
func (l *blobLayer) MediaType() (types.MediaType, error) { return l.mediaType, nil }
func (l *blobLayer) Compressed() (io.ReadCloser, error)  { return os.Open(l.path) }

// LayerFromBlob returns the layer whose blob is at blobPath, described by d.
func LayerFromBlob(blobPath string, d *LayerDescriptor) (v1.Layer, error) {
	digest, err := v1.NewHash(d.Digest)
	if err != nil {
		return nil, fmt.Errorf("layer %s: %w", blobPath, err)
	}
	diffID, err := v1.NewHash(d.DiffID)
	if err != nil {
		return nil, fmt.Errorf("layer %s: %w", blobPath, err)
	}
	return partial.CompressedToLayer(&blobLayer{path: blobPath, digest: digest, diffID: diffID, size: d.Size, mediaType: d.MediaType})
}
