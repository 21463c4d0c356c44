package oci

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// Platform selects one image out of a multi-platform index.
type Platform struct {
	OS, Arch, Variant string
}

func (p Platform) String() string {
	s := p.OS + "/" + p.Arch
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// LoadImage reads an image from an OCI image layout directory (picking the
// platform's image when the layout holds an index) or from a `docker save` tarball.
func LoadImage(path string, want Platform) (v1.Image, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !info.IsDir() {
		img, err := tarball.ImageFromPath(path, nil)
		if err != nil {
			return nil, fmt.Errorf("%s is not an OCI image layout or image tarball: %w", path, err)
		}
		return img, nil
	}
	if _, err := os.Stat(filepath.Join(path, "index.json")); err != nil {
		return nil, fmt.Errorf("%s is not an OCI image layout (no index.json) or image tarball", path)
	}
	idx, err := readLayoutIndex(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return imageFromIndex(idx, want, path)
}

func imageFromIndex(idx v1.ImageIndex, want Platform, where string) (v1.Image, error) {
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	var images []v1.Descriptor
	for _, d := range m.Manifests {
		switch {
		case d.MediaType.IsIndex():
			inner, err := idx.ImageIndex(d.Digest)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", where, err)
			}
			return imageFromIndex(inner, want, where)
		case d.MediaType.IsImage():
			images = append(images, d)
		}
	}
	switch {
	case len(images) == 0:
		return nil, fmt.Errorf("%s holds no image", where)
	case len(images) == 1 && images[0].Platform == nil:
		return idx.Image(images[0].Digest)
	}
	var found []string
	for _, d := range images {
		if d.Platform == nil {
			continue
		}
		p := Platform{OS: d.Platform.OS, Arch: d.Platform.Architecture, Variant: d.Platform.Variant}
		if p.OS == want.OS && p.Arch == want.Arch && (want.Variant == "" || p.Variant == want.Variant) {
			return idx.Image(d.Digest)
		}
		found = append(found, p.String())
	}
	if len(images) == 1 {
		return idx.Image(images[0].Digest)
	}
	return nil, fmt.Errorf("%s has no image for %s (it has: %s)", where, want, strings.Join(found, ", "))
}

// LoadLayout reads the single image or index an OCI layout written by WriteLayout holds.
func LoadLayout(path string) (v1.Image, v1.ImageIndex, error) {
	idx, err := readLayoutIndex(path)
	if err != nil {
		return nil, nil, fmt.Errorf("%s is not an OCI image layout: %w", path, err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, nil, err
	}
	if len(m.Manifests) != 1 {
		return nil, nil, fmt.Errorf("%s holds %d manifests, want 1", path, len(m.Manifests))
	}
	d := m.Manifests[0]
	if d.MediaType.IsIndex() {
		inner, err := idx.ImageIndex(d.Digest)
		return nil, inner, err
	}
	img, err := idx.Image(d.Digest)
	return img, nil, err
}

func blobPath(layoutDir string, h v1.Hash) string {
	return filepath.Join(layoutDir, "blobs", h.Algorithm, h.Hex)
}

// WriteLayout writes an OCI image layout at dir holding img or idx (exactly one).
// Blobs already on disk (blobs) are hard-linked, not copied, when they can be.
func WriteLayout(dir string, img v1.Image, idx v1.ImageIndex, blobs map[v1.Hash]string) error {
	if err := os.MkdirAll(filepath.Join(dir, "blobs", "sha256"), 0o755); err != nil {
		return err
	}
	for h, src := range blobs {
		if err := linkOrCopy(src, blobPath(dir, h)); err != nil {
			return err
		}
	}
	p, err := layout.Write(dir, emptyIndex())
	if err != nil {
		return err
	}
	switch {
	case img != nil && idx == nil:
		return p.AppendImage(img)
	case idx != nil && img == nil:
		return p.AppendIndex(idx)
	}
	return errors.New("WriteLayout: want exactly one of an image or an index")
}

func linkOrCopy(src, dst string) error {
	if real, err := filepath.EvalSymlinks(src); err == nil {
		src = real
	}
	if err := os.Link(src, dst); err == nil || os.IsExist(err) {
		return nil
	}
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o644)
}
