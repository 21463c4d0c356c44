// Package render renders Helm charts and Kustomize kustomizations at build time,
// inside a Bazel action: only the declared input files are read (never the
// network, a cluster or the host), and the output is byte-for-byte reproducible.
// Image values are filled in with the built images' digests.
package render

import (
	"fmt"
	"os"
	"strings"
)

// File is one input file of a render action.
type File struct {
	// Path is where the action reads the file.
	Path string `json:"path"`
	// Name is the file as the user knows it (workspace-relative), for messages
	// and for its place in the chart or kustomization tree.
	Name string `json:"name"`
}

// Image is a built image a chart value or a kustomization image receives.
type Image struct {
	// Key is a Helm value path (e.g. "image" or "worker.image") or a
	// Kustomize image name as the top kustomization sees it.
	Key string `json:"key"`
	// Label is the image target, for messages.
	Label      string `json:"label"`
	Registry   string `json:"registry,omitempty"`
	Repository string `json:"repository"`
	// DigestFile holds the image's digest, sha256:...
	DigestFile string `json:"digest_file"`
}

// UnknownRegistry stands for a registry decided when deploying; it must equal
// internal/manifest.UnknownRegistry (the manifests step matches on it).
const UnknownRegistry = "registry.slipway.invalid"

// resolvedImage is an Image with its digest read.
type resolvedImage struct {
	Image
	host   string // registry, or UnknownRegistry
	digest string
}

// name is registry/repository, without tag or digest.
func (r resolvedImage) name() string { return r.host + "/" + r.Repository }

// reference is registry/repository@digest.
func (r resolvedImage) reference() string { return r.name() + "@" + r.digest }

func resolveImages(images []Image) ([]resolvedImage, error) {
	var out []resolvedImage
	for _, img := range images {
		b, err := os.ReadFile(img.DigestFile)
		if err != nil {
			return nil, fmt.Errorf("image %s: %w", img.Label, err)
		}
		r := resolvedImage{Image: img, host: img.Registry, digest: strings.TrimSpace(string(b))}
		if r.host == "" {
			r.host = UnknownRegistry
		}
		if !strings.HasPrefix(r.digest, "sha256:") {
			return nil, fmt.Errorf("image %s: digest file %s holds %q, expected a sha256 digest", img.Label, img.DigestFile, r.digest)
		}
		out = append(out, r)
	}
	return out, nil
}
