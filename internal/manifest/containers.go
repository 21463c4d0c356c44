package manifest

import (
	"fmt"
	"slices"
	"strings"
)

// containerLists are the pod spec fields that hold containers with images.
var containerLists = map[string]bool{"containers": true, "initContainers": true, "ephemeralContainers": true}

// ImageField is one container image field of an object.
type ImageField struct {
	// Path is the field, e.g. spec.template.spec.containers[0].image.
	Path string
	// Keys is the same path as map keys (string) and list indexes (int).
	Keys      []any
	Container map[string]any
}

// Image returns the field's value.
func (f ImageField) Image() string { s, _ := f.Container["image"].(string); return s }

// SetImage replaces the field's value.
func (f ImageField) SetImage(ref string) { f.Container["image"] = ref }

// ImageFields finds every container image in obj: in pods, in pod templates of
// workloads, and in any custom resource that embeds pod specs the same way.
func ImageFields(obj map[string]any) []ImageField {
	var out []ImageField
	var walk func(v any, path string, keys []any)
	walk = func(v any, path string, keys []any) {
		switch x := v.(type) {
		case map[string]any:
			for _, k := range sortedKeys(x) {
				child, childKeys := joinPath(path, k), append(slices.Clip(keys), k)
				if list, ok := x[k].([]any); ok && containerLists[k] {
					for i, item := range list {
						if c, ok := item.(map[string]any); ok {
							if _, ok := c["image"].(string); ok {
								out = append(out, ImageField{Path: fmt.Sprintf("%s[%d].image", child, i), Keys: append(slices.Clip(childKeys), i, "image"), Container: c})
							}
						}
					}
					continue
				}
				walk(x[k], child, childKeys)
			}
		case []any:
			for i, item := range x {
				walk(item, fmt.Sprintf("%s[%d]", path, i), append(slices.Clip(keys), i))
			}
		}
	}
	walk(obj, "", nil)
	return out
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// isLabel reports whether an image reference is written as a Bazel label.
func isLabel(ref string) bool {
	return strings.HasPrefix(ref, "//") || strings.HasPrefix(ref, ":") || strings.HasPrefix(ref, "@")
}

// canonicalLabel resolves a label written in pkg to //pkg:name form (main repository
// labels lose their @ / @@ prefix; @repo//... labels keep it).
func canonicalLabel(label, pkg string) string {
	switch {
	case strings.HasPrefix(label, ":"):
		label = "//" + pkg + label
	case strings.HasPrefix(label, "@@//"):
		label = label[2:]
	case strings.HasPrefix(label, "@//"):
		label = label[1:]
	}
	if strings.HasPrefix(label, "//") && !strings.Contains(label, ":") {
		// //a/b means //a/b:b
		label += ":" + label[strings.LastIndex(label, "/")+1:]
	}
	return label
}

// stripTagOrDigest returns the repository part of an image reference.
func stripTagOrDigest(ref string) string {
	if i := strings.Index(ref, "@"); i >= 0 {
		ref = ref[:i]
	}
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		ref = ref[:i]
	}
	return ref
}
