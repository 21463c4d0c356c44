package render

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path"
	"regexp"
	"strings"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	sigsyaml "sigs.k8s.io/yaml"
)

// KustomizeSpec is the input of a render-kustomize action.
type KustomizeSpec struct {
	// Target is the kustomization target's label, for messages.
	Target string `json:"target"`
	// Dir is the kustomization's directory, workspace-relative.
	Dir string `json:"dir"`
	// Files are every file the kustomization and its bases read.
	Files []File `json:"files"`
	// Images replace the images of that name (as the kustomization outputs
	// them) with the built images' registry/repository@digest.
	Images []Image `json:"images,omitempty"`
}

// wrapperDir holds the kustomization slipway adds over Dir to set the images.
const wrapperDir = "/.slipway-images"

// Kustomize builds the kustomization as `kustomize build` would, from an
// in-memory copy of the declared files (so Bazel's symlinked inputs, and
// nothing undeclared, are what it reads).
func Kustomize(spec KustomizeSpec) ([]byte, error) {
	fs := filesys.MakeFsInMemory()
	for _, f := range spec.Files {
		data, err := os.ReadFile(f.Path)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.Name, err)
		}
		if err := fs.WriteFile("/"+f.Name, data); err != nil {
			return nil, fmt.Errorf("%s: %w", f.Name, err)
		}
	}
	root := "/" + spec.Dir
	if len(spec.Images) > 0 {
		if err := writeImageWrapper(fs, spec); err != nil {
			return nil, err
		}
		root = wrapperDir
	}
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(fs, root)
	if err != nil {
		return nil, kustomizeError(spec, err)
	}
	return m.AsYaml()
}

// writeImageWrapper writes a kustomization whose only resource is spec.Dir and
// whose images entries point at the built digests.
func writeImageWrapper(fs filesys.FileSystem, spec KustomizeSpec) error {
	images, err := resolveImages(spec.Images)
	if err != nil {
		return err
	}
	k := types.Kustomization{
		TypeMeta:  types.TypeMeta{APIVersion: types.KustomizationVersion, Kind: types.KustomizationKind},
		Resources: []string{".." + "/" + spec.Dir},
	}
	for _, img := range images {
		k.Images = append(k.Images, types.Image{Name: img.Key, NewName: img.name(), Digest: img.digest})
	}
	data, err := sigsyaml.Marshal(k)
	if err != nil {
		return err
	}
	return fs.WriteFile(path.Join(wrapperDir, "kustomization.yaml"), data)
}

var quotedPath = regexp.MustCompile(`'(/[^']*)'`)

// kustomizeError names workspace-relative files and, for a file that is not
// there, the kustomization line that refers to it.
func kustomizeError(spec KustomizeSpec, err error) error {
	msg := err.Error()
	for _, m := range quotedPath.FindAllStringSubmatch(msg, -1) {
		missing := strings.TrimPrefix(m[1], "/")
		if where := referringLine(spec, missing); where != "" {
			return fmt.Errorf("%s: %s: %s not found (%s)", spec.Target, where, missing, cleanKustomizeMessage(msg))
		}
	}
	return fmt.Errorf("%s: %s", spec.Target, cleanKustomizeMessage(msg))
}

func cleanKustomizeMessage(msg string) string {
	msg = strings.ReplaceAll(msg, "'"+wrapperDir+"'", "(slipway's image overrides)")
	return strings.ReplaceAll(msg, "'/", "'")
}

// referringLine finds the kustomization file and line naming missing (a
// workspace-relative path), e.g. "pkg/overlay/kustomization.yaml:7".
func referringLine(spec KustomizeSpec, missing string) string {
	for _, f := range spec.Files {
		base := path.Base(f.Name)
		if base != "kustomization.yaml" && base != "kustomization.yml" && base != "Kustomization" {
			continue
		}
		dir := path.Dir(f.Name)
		rel := strings.TrimPrefix(missing, dir+"/")
		if rel == missing && !strings.HasPrefix(missing, dir) {
			rel = relativePath(dir, missing)
		}
		data, err := os.ReadFile(f.Path)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(bytes.NewReader(data))
		for line := 1; sc.Scan(); line++ {
			if containsPathItem(sc.Text(), rel) {
				return fmt.Sprintf("%s:%d", f.Name, line)
			}
		}
	}
	return ""
}

// containsPathItem reports whether a YAML line holds path as a (list) value.
func containsPathItem(line, p string) bool {
	v := strings.TrimSpace(line)
	v = strings.TrimPrefix(v, "- ")
	if i := strings.Index(v, ": "); i >= 0 {
		v = v[i+2:]
	}
	v = strings.Trim(strings.TrimSpace(v), `"'`)
	return v == p || path.Clean(v) == p
}

// relativePath is target relative to dir, both slash-separated and clean.
func relativePath(dir, target string) string {
	d, t := strings.Split(dir, "/"), strings.Split(target, "/")
	i := 0
	for i < len(d) && i < len(t) && d[i] == t[i] {
		i++
	}
	return strings.Repeat("../", len(d)-i) + strings.Join(t[i:], "/")
}
