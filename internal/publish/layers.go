package publish

import (
	"io"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// pushImage is an image as Publish hands it to go-containerregistry: the reader of
// each blob (layers and config) carries the blob's digest, so the transport can
// name a blob whose upload stalls, and each layer that another repository of the
// registry holds (mounts, may be nil) is marked mountable from there. The image's
// own bytes, and so its digest, are untouched.
type pushImage struct {
	v1.Image
	mounts *MountCache
	repo   name.Repository
}

func (m *pushImage) Layers() ([]v1.Layer, error) {
	ls, err := m.Image.Layers()
	if err != nil {
		return nil, err
	}
	out := make([]v1.Layer, len(ls))
	for i, l := range ls {
		out[i] = l
		d, err := l.Digest()
		if err != nil {
			continue
		}
		out[i] = &namedLayer{Layer: l, digest: d.String()}
		if from, ok := m.mounts.source(m.repo, d); ok {
			out[i] = &remote.MountableLayer{Layer: out[i], Reference: from.Digest(d.String())}
		}
	}
	return out, nil
}

// ConfigLayer is the config blob, named like the layers (go-containerregistry
// asks for it through partial.ConfigLayer).
func (m *pushImage) ConfigLayer() (v1.Layer, error) {
	cl, err := partial.ConfigLayer(m.Image)
	if err != nil {
		return nil, err
	}
	d, err := cl.Digest()
	if err != nil {
		return cl, nil
	}
	return &namedLayer{Layer: cl, digest: d.String()}, nil
}

// imageIndex lets pushIndex embed v1.ImageIndex under a field name that does not
// hide the interface's own ImageIndex method.
type imageIndex = v1.ImageIndex

// pushIndex gives each image of an index the pushImage treatment, leaving the
// index's own bytes untouched.
type pushIndex struct {
	imageIndex
	mounts *MountCache
	repo   name.Repository
}

func (m *pushIndex) Image(h v1.Hash) (v1.Image, error) {
	img, err := m.imageIndex.Image(h)
	if err != nil {
		return nil, err
	}
	return &pushImage{Image: img, mounts: m.mounts, repo: m.repo}, nil
}

// namedLayer is a layer whose compressed reader says which blob it reads.
type namedLayer struct {
	v1.Layer
	digest string
}

func (l *namedLayer) Compressed() (io.ReadCloser, error) {
	rc, err := l.Layer.Compressed()
	if err != nil {
		return nil, err
	}
	return &blobReader{ReadCloser: rc, digest: l.digest}, nil
}

// blobReader is the body of a blob upload; the transport reads its digest.
type blobReader struct {
	io.ReadCloser
	digest string
}
