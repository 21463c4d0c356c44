package manifest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	sigsyaml "sigs.k8s.io/yaml"
)

// Result is a rendered manifests target.
type Result struct {
	YAML      []byte
	Inventory Inventory
	// Warnings are problems worth saying that do not fail the build.
	Warnings []string
}

// image is an ImageInput with its digest read.
type image struct {
	ImageInput
	digest    string
	reference string
	uses      int
}

// Render validates and renders the spec's sources.
func Render(spec RenderSpec) (*Result, error) {
	images, byRef, byLabel, err := loadImages(spec)
	if err != nil {
		return nil, err
	}
	var docs []Document
	for _, src := range spec.Sources {
		data, err := os.ReadFile(src.Path)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", src.Name, err)
		}
		d, err := ParseFile(src, data)
		if err != nil {
			return nil, err
		}
		docs = append(docs, d...)
	}

	res := &Result{Inventory: Inventory{Target: spec.Target, Namespace: spec.Namespace}}
	seen := map[string]string{} // object key -> where
	var out bytes.Buffer
	for _, doc := range expandLists(docs) {
		if doc.Object == nil {
			continue
		}
		obj := doc.Object
		ref, err := identify(doc)
		if err != nil {
			return nil, err
		}
		// A chart rendered with the target's "{user}" namespace as its release
		// namespace wrote it literally: it is the target's namespace too.
		userNamespace := ref.Namespace != "" && ref.Namespace == spec.Namespace && strings.Contains(spec.Namespace, "{user}")
		if spec.Namespace != "" && (ref.Namespace == "" || userNamespace) && !IsClusterScoped(ref.Group, ref.Kind) {
			ref.Namespace, ref.DefaultNamespace = spec.Namespace, true
			setNested(obj, spec.Namespace, "metadata", "namespace")
		}
		key := strings.Join([]string{ref.Group, ref.Kind, ref.Namespace, ref.Name}, "/")
		if prev, ok := seen[key]; ok {
			return nil, fmt.Errorf("%s: %s %s is defined twice (first at %s)", doc.where(), ref.Kind, describeName(ref), prev)
		}
		seen[key] = doc.where()
		addLabels(obj, spec.Labels)
		if err := substituteImages(doc, obj, spec, byRef, byLabel); err != nil {
			return nil, err
		}
		canonical, err := json.Marshal(obj)
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(canonical)
		ref.Hash = "sha256:" + hex.EncodeToString(sum[:])
		y, err := sigsyaml.JSONToYAML(canonical)
		if err != nil {
			return nil, err
		}
		if out.Len() > 0 {
			out.WriteString("---\n")
		}
		out.Write(y)
		res.Inventory.Objects = append(res.Inventory.Objects, ref)
	}
	for _, img := range images {
		if img.uses == 0 {
			res.Warnings = append(res.Warnings, fmt.Sprintf("%s: image %s (%s) is used by no container", spec.Target, canonicalLabel(img.Label, spec.Package), strings.Join(img.Refs, ", ")))
		}
		res.Inventory.Images = append(res.Inventory.Images, ImageOutput{
			Label: canonicalLabel(img.Label, spec.Package), Repository: img.Repository, Registry: img.Registry,
			Digest: img.digest, Reference: img.reference, Uses: img.uses,
		})
	}
	res.YAML = out.Bytes()
	return res, nil
}

func loadImages(spec RenderSpec) ([]*image, map[string]*image, map[string]*image, error) {
	var images []*image
	byRef, byLabel := map[string]*image{}, map[string]*image{}
	for _, in := range spec.Images {
		b, err := os.ReadFile(in.DigestFile)
		if err != nil {
			return nil, nil, nil, err
		}
		img := &image{ImageInput: in, digest: strings.TrimSpace(string(b))}
		registry := in.Registry
		if registry == "" {
			registry = UnknownRegistry
		}
		img.reference = registry + "/" + in.Repository + "@" + img.digest
		images = append(images, img)
		byLabel[canonicalLabel(in.Label, spec.Package)] = img
		for _, r := range in.Refs {
			byRef[r] = img
		}
	}
	return images, byRef, byLabel, nil
}

// substituteImages replaces every container image that names one of our images
// with its registry/repository@digest reference.
func substituteImages(doc Document, obj map[string]any, spec RenderSpec, byRef, byLabel map[string]*image) error {
	for _, f := range ImageFields(obj) {
		written := f.Image()
		img := byRef[written]
		if img == nil && isLabel(written) {
			label := canonicalLabel(written, spec.Package)
			if img = byLabel[label]; img == nil {
				return fmt.Errorf("%s (%s): %s: %q is a label, but no image in the images attribute has it (they are: %s)",
					doc.whereField(f.Keys), describeObject(obj), f.Path, written, strings.Join(sortedLabels(byLabel), ", "))
			}
		}
		if img == nil {
			img = byRef[stripTagOrDigest(written)] // "hello:latest" means image "hello"
		}
		if img == nil {
			if spec.Strict {
				return fmt.Errorf("%s (%s): %s: %q matches no image in the images attribute (strict mode)", doc.whereField(f.Keys), describeObject(obj), f.Path, written)
			}
			continue
		}
		img.uses++
		f.SetImage(img.reference)
	}
	return nil
}

// identify checks the fields every object needs and returns its reference.
func identify(doc Document) (ObjectRef, error) {
	obj := doc.Object
	apiVersion, _ := obj["apiVersion"].(string)
	kind, _ := obj["kind"].(string)
	name, _ := nested(obj, "metadata", "name").(string)
	namespace, _ := nested(obj, "metadata", "namespace").(string)
	var missing []string
	if apiVersion == "" {
		missing = append(missing, "apiVersion")
	}
	if kind == "" {
		missing = append(missing, "kind")
	}
	if name == "" {
		missing = append(missing, "metadata.name")
	}
	if len(missing) > 0 {
		return ObjectRef{}, fmt.Errorf("%s: missing %s", doc.where(), strings.Join(missing, ", "))
	}
	group, version := "", apiVersion
	if i := strings.LastIndex(apiVersion, "/"); i >= 0 {
		group, version = apiVersion[:i], apiVersion[i+1:]
	}
	return ObjectRef{Group: group, Version: version, Kind: kind, Namespace: namespace, Name: name}, nil
}

// expandLists replaces each kind: List document by its items.
func expandLists(docs []Document) []Document {
	var out []Document
	for _, d := range docs {
		items, isList := d.Object["items"].([]any)
		if d.Object == nil || d.Object["kind"] != "List" || !isList {
			out = append(out, d)
			continue
		}
		for i, it := range items {
			if m, ok := it.(map[string]any); ok {
				item := Document{Source: d.Source, Index: d.Index, Line: d.Line, Object: m, node: fieldNode(d.node, []any{"items", i})}
				if item.node != nil {
					item.Line = item.node.Line
				}
				out = append(out, item)
			}
		}
	}
	return out
}

// addLabels adds common labels to an object and to its pod template, never to
// selectors (which are immutable on most workloads).
func addLabels(obj map[string]any, labels map[string]string) {
	if len(labels) == 0 {
		return
	}
	targets := [][]string{{"metadata", "labels"}}
	if _, ok := nested(obj, "spec", "template", "metadata").(map[string]any); ok || nested(obj, "spec", "template", "spec") != nil {
		targets = append(targets, []string{"spec", "template", "metadata", "labels"})
	}
	if nested(obj, "spec", "jobTemplate", "spec", "template") != nil {
		targets = append(targets, []string{"spec", "jobTemplate", "spec", "template", "metadata", "labels"})
	}
	for _, path := range targets {
		for k, v := range labels {
			setNested(obj, v, append(path, k)...)
		}
	}
}

func nested(obj map[string]any, path ...string) any {
	var cur any = obj
	for _, p := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[p]
	}
	return cur
}

func setNested(obj map[string]any, value any, path ...string) {
	cur := obj
	for _, p := range path[:len(path)-1] {
		next, ok := cur[p].(map[string]any)
		if !ok {
			next = map[string]any{}
			cur[p] = next
		}
		cur = next
	}
	cur[path[len(path)-1]] = value
}

func describeObject(obj map[string]any) string {
	kind, _ := obj["kind"].(string)
	name, _ := nested(obj, "metadata", "name").(string)
	return kind + " " + name
}

func describeName(r ObjectRef) string {
	if r.Namespace != "" {
		return r.Namespace + "/" + r.Name
	}
	return r.Name
}

func sortedLabels(m map[string]*image) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// WriteInventory writes inv as indented JSON.
func WriteInventory(w io.Writer, inv Inventory) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(inv)
}
