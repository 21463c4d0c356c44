package gazelle

import (
	"log"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/bazelbuild/bazel-gazelle/config"
	"github.com/bazelbuild/bazel-gazelle/label"
	"github.com/bazelbuild/bazel-gazelle/language"
	"github.com/bazelbuild/bazel-gazelle/rule"
)

// keptImagesAttr is the private attribute of a generated manifests rule holding the
// keys of the existing rule's `# keep` images entries (map[string]bool): Resolve
// leaves those names alone.
const keptImagesAttr = "_slipway_kept_images"

// hadImagesAttr is the private attribute of a generated manifests rule saying
// whether the existing rule has images (bool).
const hadImagesAttr = "_slipway_had_images"

// GenerateRules writes the image, manifests and dev targets of one directory.
func (l *slipwayLang) GenerateRules(args language.GenerateArgs) language.GenerateResult {
	sc := getSlipwayConfig(args.Config)
	var res language.GenerateResult
	if renderedElsewhere(args) {
		// A Helm chart or kustomization: its targets are hand-written (or another
		// extension's); only count them for the dev target.
		l.addDeployables(args, nil)
		l.generateDev(args, sc, &res)
		return res
	}
	files := manifestFiles(args, sc)
	var uses []imageUse
	for _, f := range files {
		u, err := scanManifest(filepath.Join(args.Dir, filepath.FromSlash(f)), path.Join(args.Rel, f))
		if err != nil {
			log.Printf("%v (its images are not inferred)", err)
		}
		uses = append(uses, u...)
	}
	if sc.service || len(files) > 0 {
		for _, r := range imageRules(args, sc, uses) {
			res.Gen = append(res.Gen, r)
			res.Imports = append(res.Imports, nil)
		}
	}
	var manifests *rule.Rule
	if len(files) > 0 {
		manifests = manifestsRule(sc, findRule(args.File, manifestsKind, sc.manifestsName), files)
		res.Gen = append(res.Gen, manifests)
		res.Imports = append(res.Imports, uses)
	} else if empty := emptyManifests(args.File, sc); empty != nil {
		res.Empty = append(res.Empty, empty)
	}
	l.addDeployables(args, manifests)
	l.generateDev(args, sc, &res)
	return res
}

// renderedElsewhere reports whether the directory holds a Helm chart or a
// kustomization (a target of such a kind, Chart.yaml or kustomization.yaml).
func renderedElsewhere(args language.GenerateArgs) bool {
	if args.File != nil {
		for _, r := range args.File.Rules {
			if r.Kind() == helmChartKind || r.Kind() == kustomizationKind {
				return true
			}
		}
	}
	for _, f := range args.RegularFiles {
		switch f {
		case "Chart.yaml", "kustomization.yaml", "kustomization.yml", "Kustomization":
			return true
		}
	}
	return false
}

// manifestFiles are the directory's files matching the manifest globs, relative
// to it and sorted. Files in subdirectories that are packages of their own are not.
func manifestFiles(args language.GenerateArgs, sc *slipwayConfig) []string {
	var out []string
	for _, g := range sc.globs {
		if !strings.Contains(g, "/") {
			for _, f := range args.RegularFiles {
				if ok, _ := path.Match(g, f); ok {
					out = append(out, f)
				}
			}
			continue
		}
		matches, err := filepath.Glob(filepath.Join(args.Dir, filepath.FromSlash(g)))
		if err != nil {
			log.Printf("%s: # gazelle:%s %s: %v", args.Rel, globsDirective, g, err)
			continue
		}
		for _, m := range matches {
			rel, err := filepath.Rel(args.Dir, m)
			if err != nil || isPackage(args.Config, filepath.Dir(m)) {
				continue
			}
			if fi, err := os.Stat(m); err == nil && fi.Mode().IsRegular() {
				out = append(out, filepath.ToSlash(rel))
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// isPackage reports whether dir holds a BUILD file.
func isPackage(c *config.Config, dir string) bool {
	for _, name := range c.ValidBuildFileNames {
		if fi, err := os.Stat(filepath.Join(dir, name)); err == nil && !fi.IsDir() {
			return true
		}
	}
	return false
}

// goBinaries are the names of the directory's go_binary targets, generated or existing.
func goBinaries(args language.GenerateArgs) []string {
	var names []string
	for _, r := range args.OtherGen {
		if r.Kind() == "go_binary" {
			names = append(names, r.Name())
		}
	}
	if args.File != nil {
		for _, r := range args.File.Rules {
			if r.Kind() == "go_binary" {
				names = append(names, r.Name())
			}
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// imageRules are an image per go_binary: "image" when there is one, else
// "<binary>_image". Exposed ports are the containerPorts of the containers whose
// image the binary's name names.
func imageRules(args language.GenerateArgs, sc *slipwayConfig, uses []imageUse) []*rule.Rule {
	bins := goBinaries(args)
	var out []*rule.Rule
	for _, bin := range bins {
		name := "image"
		if len(bins) > 1 {
			name = bin + "_image"
		}
		r := rule.NewRule(imageKind, name)
		r.SetAttr("binary", ":"+bin)
		setDict(r, findRule(args.File, imageKind, name), "env", sc.env)
		var ports []string
		for _, u := range uses {
			if imageKey(u.name) == bin {
				ports = append(ports, u.ports...)
			}
		}
		if slices.Sort(ports); len(ports) > 0 {
			r.SetAttr("exposed_ports", slices.Compact(ports))
		}
		if sc.base != "" {
			r.SetAttr("base", sc.base)
		}
		if sc.user != "" {
			r.SetAttr("user", sc.user)
		}
		out = append(out, r)
	}
	return out
}

// manifestsRule is the directory's manifests target; Resolve fills in its images
// from the uses GenerateRules returns as its imports.
func manifestsRule(sc *slipwayConfig, old *rule.Rule, files []string) *rule.Rule {
	r := rule.NewRule(manifestsKind, sc.manifestsName)
	r.SetAttr("srcs", files)
	setDict(r, old, "labels", sc.labels)
	if sc.namespace != "" {
		r.SetAttr("namespace", sc.namespace)
	}
	if old != nil {
		r.SetPrivateAttr(keptImagesAttr, keptKeys(old.Attr("images")))
		r.SetPrivateAttr(hadImagesAttr, old.Attr("images") != nil)
	}
	return r
}

// emptyManifests is the manifests target to delete when the directory has no
// manifest files left: only one whose srcs are all plain files (one rendering a
// chart or another target's output is not ours).
func emptyManifests(f *rule.File, sc *slipwayConfig) *rule.Rule {
	r := findRule(f, manifestsKind, sc.manifestsName)
	if r == nil {
		return nil
	}
	for _, s := range r.AttrStrings("srcs") {
		if strings.HasPrefix(s, ":") || strings.HasPrefix(s, "//") || strings.HasPrefix(s, "@") {
			return nil
		}
	}
	return rule.NewRule(manifestsKind, sc.manifestsName)
}

// findRule is the rule of f with that kind and name, or nil.
func findRule(f *rule.File, kind, name string) *rule.Rule {
	if f == nil {
		return nil
	}
	for _, r := range f.Rules {
		if r.Kind() == kind && r.Name() == name {
			return r
		}
	}
	return nil
}

// addDeployables records the directory's deployables for the dev targets above
// it: the manifests targets (generated or existing), else its Helm charts and
// kustomizations.
func (l *slipwayLang) addDeployables(args language.GenerateArgs, generated *rule.Rule) {
	names := map[string]bool{}
	if generated != nil {
		names[generated.Name()] = true
	}
	var others []string
	if args.File != nil {
		for _, r := range args.File.Rules {
			switch r.Kind() {
			case manifestsKind:
				names[r.Name()] = true
			case helmChartKind, kustomizationKind:
				others = append(others, r.Name())
			}
		}
	}
	if len(names) == 0 {
		for _, n := range others {
			names[n] = true
		}
	}
	for n := range names {
		l.deployables = append(l.deployables, label.New("", args.Rel, n))
	}
}

// generateDev adds the dev target of a package configured to hold one: a pattern
// over the deployables of the package and those beneath it (the narrowest
// `//pkg/...` holding them all), so that the loop follows services added, renamed
// or deleted beneath it without another Gazelle run.
func (l *slipwayLang) generateDev(args language.GenerateArgs, sc *slipwayConfig, res *language.GenerateResult) {
	if sc.devName == "" {
		return
	}
	var pkgs []string
	for _, d := range l.deployables {
		if args.Rel == "" || d.Pkg == args.Rel || strings.HasPrefix(d.Pkg, args.Rel+"/") {
			pkgs = append(pkgs, d.Pkg)
		}
	}
	if len(pkgs) == 0 {
		return
	}
	r := rule.NewRule(devKind, sc.devName)
	r.SetAttr("targets", []string{devPattern(pkgs)})
	res.Gen = append(res.Gen, r)
	res.Imports = append(res.Imports, nil)
}

// devPattern is the target pattern of the deepest package holding every one of
// pkgs: "//a/b/..." for a/b/c and a/b/d, "//..." when they share no directory.
func devPattern(pkgs []string) string {
	common := strings.Split(pkgs[0], "/")
	for _, p := range pkgs[1:] {
		parts := strings.Split(p, "/")
		n := 0
		for n < len(common) && n < len(parts) && common[n] == parts[n] {
			n++
		}
		common = common[:n]
	}
	if prefix := strings.Join(common, "/"); prefix != "" {
		return "//" + prefix + "/..."
	}
	return "//..."
}
