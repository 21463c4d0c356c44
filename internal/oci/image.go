package oci

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// LayerInput is a layer built by BuildLayer: its blob and descriptor files.
type LayerInput struct {
	Blob       string `json:"blob"`
	Descriptor string `json:"descriptor"`
}

// Config is the part of the image configuration a user sets.
type Config struct {
	Entrypoint   []string          `json:"entrypoint,omitempty"`
	Cmd          []string          `json:"cmd,omitempty"`
	Env          map[string]string `json:"env,omitempty"`
	User         string            `json:"user,omitempty"`
	WorkingDir   string            `json:"workdir,omitempty"`
	Labels       map[string]string `json:"labels,omitempty"`
	ExposedPorts []string          `json:"exposed_ports,omitempty"`
}

// ImageSpec describes an image: a base, layers on top, and configuration.
type ImageSpec struct {
	// Base is an OCI image layout directory or an image tarball; empty is scratch.
	Base string `json:"base,omitempty"`
	// BaseLayers are descriptors of the base's layers when we built them, so that
	// conflicts with the base are reported too.
	BaseLayers  []string          `json:"base_layers,omitempty"`
	Layers      []LayerInput      `json:"layers,omitempty"`
	Config      Config            `json:"config"`
	Annotations map[string]string `json:"annotations,omitempty"`
	OS          string            `json:"os"`
	Arch        string            `json:"arch"`
	Variant     string            `json:"variant,omitempty"`
	// Created is the image's creation time in seconds since the epoch (fixed, for
	// reproducibility: 0, or SOURCE_DATE_EPOCH when the user stamps).
	Created int64 `json:"created"`
}

// Built is an assembled image and where its blobs already are on disk.
type Built struct {
	Image v1.Image
	// Blobs maps a digest to a file that holds that blob, so writing a layout can
	// link instead of copying.
	Blobs map[v1.Hash]string
}

// BuildImage assembles the image described by spec.
func BuildImage(spec ImageSpec) (*Built, error) {
	base, baseBlobs, err := loadBase(spec)
	if err != nil {
		return nil, err
	}
	descs := make([]*LayerDescriptor, 0, len(spec.Layers))
	for _, li := range spec.Layers {
		d, err := ReadLayerDescriptor(li.Descriptor)
		if err != nil {
			return nil, err
		}
		descs = append(descs, d)
	}
	if err := checkConflicts(spec.BaseLayers, descs); err != nil {
		return nil, err
	}

	created := v1.Time{Time: time.Unix(spec.Created, 0).UTC()}
	blobs := baseBlobs
	adds := make([]mutate.Addendum, 0, len(descs))
	for i, d := range descs {
		l, err := LayerFromBlob(spec.Layers[i].Blob, d)
		if err != nil {
			return nil, err
		}
		digest, _ := l.Digest()
		blobs[digest] = spec.Layers[i].Blob
		adds = append(adds, mutate.Addendum{
			Layer:     l,
			MediaType: d.MediaType,
			History:   v1.History{Created: created, CreatedBy: "slipway: " + d.Group},
		})
	}
	img, err := mutate.Append(base, adds...)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	applyConfig(cf, spec)
	cf.Created = created
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, err
	}
	if len(spec.Annotations) > 0 {
		img = mutate.Annotations(img, spec.Annotations).(v1.Image)
	}
	return &Built{Image: img, Blobs: blobs}, nil
}

func applyConfig(cf *v1.ConfigFile, spec ImageSpec) {
	c := &cf.Config
	if len(spec.Config.Entrypoint) > 0 {
		c.Entrypoint = spec.Config.Entrypoint
		// A new entrypoint makes the base's arguments meaningless (as in Dockerfiles).
		c.Cmd = nil
	}
	if len(spec.Config.Cmd) > 0 {
		c.Cmd = spec.Config.Cmd
	}
	c.Env = mergeEnv(c.Env, spec.Config.Env)
	if spec.Config.User != "" {
		c.User = spec.Config.User
	}
	if spec.Config.WorkingDir != "" {
		c.WorkingDir = spec.Config.WorkingDir
	}
	if len(spec.Config.Labels) > 0 {
		if c.Labels == nil {
			c.Labels = map[string]string{}
		}
		for k, v := range spec.Config.Labels {
			c.Labels[k] = v
		}
	}
	if len(spec.Config.ExposedPorts) > 0 {
		if c.ExposedPorts == nil {
			c.ExposedPorts = map[string]struct{}{}
		}
		for _, p := range spec.Config.ExposedPorts {
			if !strings.Contains(p, "/") {
				p += "/tcp"
			}
			c.ExposedPorts[p] = struct{}{}
		}
	}
	cf.OS, cf.Architecture, cf.Variant = spec.OS, spec.Arch, spec.Variant
}

// mergeEnv keeps the base's order, replacing values we set, then appends our new
// variables sorted by name.
func mergeEnv(base []string, ours map[string]string) []string {
	if len(ours) == 0 {
		return base
	}
	seen := map[string]bool{}
	out := make([]string, 0, len(base)+len(ours))
	for _, kv := range base {
		k, _, _ := strings.Cut(kv, "=")
		if v, ok := ours[k]; ok {
			kv = k + "=" + v
			seen[k] = true
		}
		out = append(out, kv)
	}
	keys := make([]string, 0, len(ours))
	for k := range ours {
		if !seen[k] {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		out = append(out, k+"="+ours[k])
	}
	return out
}

// loadBase returns the base image (scratch when none) and the files that hold its blobs.
func loadBase(spec ImageSpec) (v1.Image, map[v1.Hash]string, error) {
	blobs := map[v1.Hash]string{}
	if spec.Base == "" {
		scratch := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
		scratch = mutate.ConfigMediaType(scratch, types.OCIConfigJSON)
		return scratch, blobs, nil
	}
	img, err := LoadImage(spec.Base, Platform{OS: spec.OS, Arch: spec.Arch, Variant: spec.Variant})
	if err != nil {
		return nil, nil, fmt.Errorf("attribute base: %w", err)
	}
	if info, err := os.Stat(spec.Base); err == nil && info.IsDir() {
		layers, err := img.Layers()
		if err != nil {
			return nil, nil, err
		}
		for _, l := range layers {
			if d, err := l.Digest(); err == nil {
				blobs[d] = blobPath(spec.Base, d)
			}
		}
	}
	return img, blobs, nil
}

// layerOwner says which input group wrote a path, and what.
type layerOwner struct {
	group string
	entry Entry
}

// checkConflicts fails when two layers write the same path with different content:
// the later one silently wins at run time, which is never what was meant.
func checkConflicts(baseDescriptors []string, layers []*LayerDescriptor) error {
	all := make([]*LayerDescriptor, 0, len(baseDescriptors)+len(layers))
	for _, p := range baseDescriptors {
		d, err := ReadLayerDescriptor(p)
		if err != nil {
			return err
		}
		d.Group = "base (" + d.Group + ")"
		all = append(all, d)
	}
	all = append(all, layers...)
	owners := map[string]layerOwner{}
	for _, d := range all {
		for _, e := range d.Entries {
			prev, ok := owners[e.Path]
			if ok && conflicting(prev.entry, e) {
				return fmt.Errorf("attribute %q and attribute %q both write %s, with different content (%s %s vs %s %s)",
					prev.group, d.Group, e.Path, prev.entry.Type, short(prev.entry.Digest), e.Type, short(e.Digest))
			}
			owners[e.Path] = layerOwner{group: d.Group, entry: e}
		}
	}
	return nil
}

func conflicting(a, b Entry) bool {
	if a.Type == "dir" && b.Type == "dir" {
		return false
	}
	return a.Type != b.Type || a.Digest != b.Digest
}

func short(d string) string {
	if len(d) > 19 {
		return d[:19]
	}
	return d
}
