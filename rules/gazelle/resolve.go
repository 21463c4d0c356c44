package gazelle

import (
	"fmt"
	"log"
	"slices"
	"strings"

	"github.com/bazelbuild/bazel-gazelle/config"
	"github.com/bazelbuild/bazel-gazelle/label"
	"github.com/bazelbuild/bazel-gazelle/repo"
	"github.com/bazelbuild/bazel-gazelle/resolve"
	"github.com/bazelbuild/bazel-gazelle/rule"
)

// Imports indexes image targets by the name a manifest would give their image: the
// binary's name (an image without a binary: the target's name).
func (*slipwayLang) Imports(_ *config.Config, r *rule.Rule, f *rule.File) []resolve.ImportSpec {
	if r.Kind() != imageKind {
		return nil
	}
	name := r.Name()
	if b := r.AttrString("binary"); b != "" {
		if l, err := label.Parse(b); err == nil {
			name = l.Name
		}
	}
	return []resolve.ImportSpec{{Lang: languageName, Imp: name}}
}

// Resolve fills in a generated manifests target's images: each image name of its
// YAML maps to the directive's target (# gazelle:slipway_image), else the image
// target of the same package indexed under that name, else the only one elsewhere.
// strict is set when every name the YAML uses has a target.
func (*slipwayLang) Resolve(c *config.Config, ix *resolve.RuleIndex, _ *repo.RemoteCache, r *rule.Rule, imports interface{}, from label.Label) {
	uses, _ := imports.([]imageUse)
	if r.Kind() != manifestsKind {
		return
	}
	sc := getSlipwayConfig(c)
	kept, _ := r.PrivateAttr(keptImagesAttr).(map[string]bool)
	images := map[string]string{}
	all := true
	for _, u := range firstUses(uses) {
		if kept[u.name] {
			continue
		}
		target, err := resolveImage(c, ix, sc, u.name, from)
		if err != nil {
			log.Printf("%v: %v", u, err)
		}
		if target == "" {
			all = false
			continue
		}
		images[u.name] = target
	}
	// Set even when empty if the rule had images: the merge then drops the existing
	// entries (but # keep ones).
	if had, _ := r.PrivateAttr(hadImagesAttr).(bool); had || len(images) > 0 {
		r.SetAttr("images", stringDict(images))
	}
	r.DelAttr("strict")
	if all && len(uses) > 0 {
		r.SetAttr("strict", true)
	}
}

// firstUses keeps the first use of each image name.
func firstUses(uses []imageUse) []imageUse {
	seen := map[string]bool{}
	var out []imageUse
	for _, u := range uses {
		if !seen[u.name] {
			seen[u.name] = true
			out = append(out, u)
		}
	}
	return out
}

// resolveImage is the target for one image name, relative to from's package, or ""
// (with an error saying why, unless the name is plainly an external image).
func resolveImage(c *config.Config, ix *resolve.RuleIndex, sc *slipwayConfig, name string, from label.Label) (string, error) {
	if t, ok := sc.imageOverride[name]; ok {
		l, err := label.Parse(t)
		if err != nil {
			return "", fmt.Errorf("# gazelle:%s %s %s: %v", imageDirective, name, t, err)
		}
		return l.Abs(from.Repo, from.Pkg).Rel(from.Repo, from.Pkg).String(), nil
	}
	if !localImageName(name) {
		return "", nil
	}
	var here, elsewhere []label.Label
	for _, res := range ix.FindRulesByImportWithConfig(c, resolve.ImportSpec{Lang: languageName, Imp: imageKey(name)}, languageName) {
		if res.Label.Repo == from.Repo && res.Label.Pkg == from.Pkg {
			here = append(here, res.Label)
		} else {
			elsewhere = append(elsewhere, res.Label)
		}
	}
	switch {
	case len(here) == 1:
		return here[0].Rel(from.Repo, from.Pkg).String(), nil
	case len(here) == 0 && len(elsewhere) == 1:
		return elsewhere[0].Rel(from.Repo, from.Pkg).String(), nil
	case len(here)+len(elsewhere) == 0:
		return "", fmt.Errorf("image %q matches no image target (no go_binary %q in a service directory); "+
			"left to the cluster (add # gazelle:%s %s //pkg:target to name one)", name, imageKey(name), imageDirective, name)
	}
	candidates := append(here, elsewhere...)
	var names []string
	for _, l := range candidates {
		names = append(names, label.New("", l.Pkg, l.Name).String())
	}
	slices.Sort(names)
	return "", fmt.Errorf("image %q matches several image targets (%s); name one with # gazelle:%s %s //pkg:target",
		name, strings.Join(names, ", "), imageDirective, name)
}
