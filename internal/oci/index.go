package oci

import (
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

func emptyIndex() v1.ImageIndex {
	return mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
}

// BuildIndex makes an OCI image index of the images in the given layouts, each
// described by its own config's platform. Two images for one platform are an error.
func BuildIndex(layouts []string) (v1.ImageIndex, map[v1.Hash]string, error) {
	idx := emptyIndex()
	blobs := map[v1.Hash]string{}
	seen := map[string]string{}
	for _, dir := range layouts {
		img, _, err := LoadLayout(dir)
		if err != nil {
			return nil, nil, err
		}
		if img == nil {
			return nil, nil, fmt.Errorf("%s holds an index; an index of indexes is not supported", dir)
		}
		cf, err := img.ConfigFile()
		if err != nil {
			return nil, nil, err
		}
		p := Platform{OS: cf.OS, Arch: cf.Architecture, Variant: cf.Variant}
		if prev, ok := seen[p.String()]; ok {
			return nil, nil, fmt.Errorf("two images for platform %s: %s and %s", p, prev, dir)
		}
		seen[p.String()] = dir
		layers, err := img.Layers()
		if err != nil {
			return nil, nil, err
		}
		for _, l := range layers {
			if d, err := l.Digest(); err == nil {
				blobs[d] = blobPath(dir, d)
			}
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add: img,
			Descriptor: v1.Descriptor{
				Platform: &v1.Platform{OS: p.OS, Architecture: p.Arch, Variant: p.Variant},
			},
		})
	}
	return idx, blobs, nil
}
