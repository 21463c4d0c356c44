// Package manifest renders and validates Kubernetes manifests at build time (image
// references become digests, namespaces and labels are applied) and describes the
// result in an inventory that slipway's apply, diff, delete and dev commands read.
package manifest

// Source is one YAML input file.
type Source struct {
	// Path is where the action reads the file.
	Path string `json:"path"`
	// Name is the file as the user knows it (workspace-relative), for messages.
	Name string `json:"name"`
}

// ImageInput is an image target the manifests may refer to.
type ImageInput struct {
	// Refs are the references, as written in the YAML, that mean this image.
	Refs []string `json:"refs"`
	// Label is the image target's label; the YAML may also name it directly.
	Label      string `json:"label"`
	Repository string `json:"repository"`
	// Registry the image is pushed to, when known at build time.
	Registry string `json:"registry,omitempty"`
	// DigestFile holds the image's digest.
	DigestFile string `json:"digest_file"`
}

// RenderSpec is the input of a render action.
type RenderSpec struct {
	Target  string       `json:"target"`
	Package string       `json:"package"`
	Sources []Source     `json:"sources"`
	Images  []ImageInput `json:"images"`
	// Namespace for namespaced objects that set none. May hold "{user}", which
	// slipway replaces with $USER when it deploys (per-developer namespaces).
	Namespace string            `json:"namespace,omitempty"`
	Labels    map[string]string `json:"labels,omitempty"`
	// Strict makes a container image that matches no image an error.
	Strict bool `json:"strict,omitempty"`
}

// UnknownRegistry is the registry host of rendered image references whose registry
// is decided when deploying (the push destination); slipway replaces it then.
const UnknownRegistry = "registry.slipway.invalid"

// Inventory describes a rendered manifests target.
type Inventory struct {
	Target    string        `json:"target"`
	Namespace string        `json:"namespace,omitempty"`
	Objects   []ObjectRef   `json:"objects"`
	Images    []ImageOutput `json:"images"`
}

// ObjectRef identifies one rendered object and its content.
type ObjectRef struct {
	Group     string `json:"group"`
	Version   string `json:"version"`
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
	// Hash is the sha256 of the rendered object (canonical JSON).
	Hash string `json:"hash"`
	// DefaultNamespace: the namespace came from the target's namespace, so a
	// deploy-time namespace override applies to it.
	DefaultNamespace bool `json:"defaultNamespace,omitempty"`
}

// ImageOutput is an image as the rendered manifests refer to it.
type ImageOutput struct {
	Label      string `json:"label"`
	Repository string `json:"repository"`
	Registry   string `json:"registry,omitempty"`
	Digest     string `json:"digest"`
	// Reference is exactly what the rendered YAML holds.
	Reference string `json:"reference"`
	// Uses counts the containers that run this image.
	Uses int `json:"uses"`
}
