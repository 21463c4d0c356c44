package main

import (
	"fmt"
	"os"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/slipway-dev/slipway/internal/oci"
)

func layerVerb(args []string) error {
	fs := newFlags("layer")
	spec := fs.String("spec", "", "layer spec (JSON)")
	blob := fs.String("blob", "", "output: the layer blob")
	descriptor := fs.String("descriptor", "", "output: the layer descriptor (JSON)")
	if err := parse(fs, args, "spec", "blob", "descriptor"); err != nil {
		return err
	}
	var s oci.LayerSpec
	if err := readJSON(*spec, &s); err != nil {
		return err
	}
	d, err := oci.BuildLayer(s, *blob)
	if err != nil {
		return err
	}
	return oci.WriteLayerDescriptor(*descriptor, d)
}

func imageVerb(args []string) error {
	fs := newFlags("image")
	spec := fs.String("spec", "", "image spec (JSON)")
	layoutDir := fs.String("layout", "", "output: OCI image layout directory")
	digest := fs.String("digest", "", "output: the manifest digest")
	meta := fs.String("meta", "", "output: the layout's metadata (every blob but the layers)")
	if err := parse(fs, args, "spec", "layout", "digest", "meta"); err != nil {
		return err
	}
	var s oci.ImageSpec
	if err := readJSON(*spec, &s); err != nil {
		return err
	}
	built, err := oci.BuildImage(s)
	if err != nil {
		return err
	}
	if err := oci.WriteLayout(*layoutDir, built.Image, nil, built.Blobs); err != nil {
		return err
	}
	if err := oci.WriteMeta(*meta, *layoutDir); err != nil {
		return err
	}
	return writeDigest(*digest, built.Image.Digest)
}

func indexVerb(args []string) error {
	fs := newFlags("index")
	var images stringList
	fs.Var(&images, "image", "an image's OCI layout directory (repeated)")
	layoutDir := fs.String("layout", "", "output: OCI image layout directory")
	digest := fs.String("digest", "", "output: the index digest")
	meta := fs.String("meta", "", "output: the layout's metadata (every blob but the layers)")
	if err := parse(fs, args, "image", "layout", "digest", "meta"); err != nil {
		return err
	}
	idx, blobs, err := oci.BuildIndex(images)
	if err != nil {
		return err
	}
	if err := oci.WriteLayout(*layoutDir, nil, idx, blobs); err != nil {
		return err
	}
	if err := oci.WriteMeta(*meta, *layoutDir); err != nil {
		return err
	}
	return writeDigest(*digest, idx.Digest)
}

func tarballVerb(args []string) error {
	fs := newFlags("tarball")
	layoutDir := fs.String("layout", "", "the image's OCI layout directory")
	tag := fs.String("tag", "", "the tag `docker load` gives the image")
	out := fs.String("out", "", "output: the tarball")
	if err := parse(fs, args, "layout", "tag", "out"); err != nil {
		return err
	}
	img, _, err := oci.LoadLayout(*layoutDir)
	if err != nil {
		return err
	}
	if img == nil {
		return fmt.Errorf("%s holds an index; `docker load` takes one image", *layoutDir)
	}
	ref, err := name.NewTag(*tag)
	if err != nil {
		return fmt.Errorf("--tag: %w", err)
	}
	f, err := os.Create(*out)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := tarball.Write(ref, img, f); err != nil {
		return err
	}
	return f.Close()
}

func writeDigest(path string, digest func() (v1.Hash, error)) error {
	d, err := digest()
	if err != nil {
		return err
	}
	return os.WriteFile(path, []byte(d.String()), 0o644)
}
