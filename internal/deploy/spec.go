// Package deploy deploys rendered manifests targets: it pushes their images,
// resolves namespaces and registries, applies what changed, prunes what is gone,
// and waits for readiness. The .apply/.diff/.delete/.show run targets, `slipway ci`
// and the dev loop all deploy through it.
package deploy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/fluxcd/pkg/ssa/utils"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/slipway-dev/slipway/internal/manifest"
)

// ManifestsRule is the rule class of manifests targets: the deployables.
const ManifestsRule = "manifests_rule"

// FileRef names a Bazel output both ways: from the execution root and from runfiles.
type FileRef struct {
	Path      string `json:"path"`
	Rlocation string `json:"rlocation"`
	ShortPath string `json:"short_path"`
}

// ImageSpec is an image a manifests target deploys.
type ImageSpec struct {
	Label      string  `json:"label"`
	Repository string  `json:"repository"`
	Registry   string  `json:"registry,omitempty"`
	Layout     FileRef `json:"layout"`
	Digest     FileRef `json:"digest"`
	// LiveUpdate is set for images with live_update: only the dev loop reads it.
	LiveUpdate *LiveUpdateSpec `json:"live_update,omitempty"`
}

// LiveUpdateSpec is an image's live_update: its binary's label and path.
type LiveUpdateSpec struct {
	Binary     string `json:"binary"`
	BinaryPath string `json:"binary_path"`
}

// Spec is the deploy spec a manifests rule writes (<name>.deploy.json).
type Spec struct {
	Target          string      `json:"target"`
	YAML            FileRef     `json:"yaml"`
	Inventory       FileRef     `json:"inventory"`
	Images          []ImageSpec `json:"images"`
	AllowedContexts []string    `json:"allowed_contexts"`
	// ForceConflicts takes over fields other field managers own.
	ForceConflicts bool `json:"force_conflicts,omitempty"`
	// PortForwards is the port_forwards attribute: local port -> KIND/NAME:PORT.
	PortForwards map[string]string `json:"port_forwards,omitempty"`
	// LiveAgent is the live-update agent's image, when an image has live_update
	// (the dev loop deploys it; nothing else does).
	LiveAgent *ImageSpec `json:"live_agent,omitempty"`
}

// Files locates a spec's files.
type Files interface {
	Path(FileRef) string
}

// Runfiles finds files in a run target's runfiles tree.
type Runfiles string

func (r Runfiles) Path(f FileRef) string { return filepath.Join(string(r), f.Rlocation) }

// ExecRoot finds files under Bazel's execution root (bazel info execution_root).
type ExecRoot string

func (e ExecRoot) Path(f FileRef) string { return filepath.Join(string(e), f.Path) }

// Target is a manifests target, loaded.
type Target struct {
	Spec      Spec
	Objects   []*unstructured.Unstructured
	Inventory manifest.Inventory
	// Layouts are the images' OCI layout directories, by label.
	Layouts map[string]string
}

// ReadSpec reads a deploy spec file.
func ReadSpec(path string) (*Spec, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var s Spec
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &s, nil
}

// Load reads the rendered objects and inventory of a spec.
func Load(spec *Spec, files Files) (*Target, error) {
	t := &Target{Spec: *spec, Layouts: map[string]string{}}
	y, err := os.ReadFile(files.Path(spec.YAML))
	if err != nil {
		return nil, fmt.Errorf("%s: rendered manifests: %w", spec.Target, err)
	}
	if t.Objects, err = utils.ReadObjects(bytes.NewReader(y)); err != nil {
		return nil, fmt.Errorf("%s: %w", spec.YAML.ShortPath, err)
	}
	inv, err := os.ReadFile(files.Path(spec.Inventory))
	if err != nil {
		return nil, fmt.Errorf("%s: inventory: %w", spec.Target, err)
	}
	if err := json.Unmarshal(inv, &t.Inventory); err != nil {
		return nil, fmt.Errorf("%s: %w", spec.Inventory.ShortPath, err)
	}
	if len(t.Objects) != len(t.Inventory.Objects) {
		return nil, fmt.Errorf("%s: %d objects rendered but %d in the inventory (stale outputs? rebuild)", spec.Target, len(t.Objects), len(t.Inventory.Objects))
	}
	for _, img := range spec.Images {
		t.Layouts[img.Label] = files.Path(img.Layout)
	}
	return t, nil
}
