package gazelle

import "github.com/bazelbuild/bazel-gazelle/rule"

// Kinds of rules the extension generates, as loaded from @slipway//rules:defs.bzl.
const (
	imageKind     = "image"
	manifestsKind = "manifests"
	devKind       = "dev"
)

// deployableKinds are kinds other rule sets (and hand-written BUILD files) use for
// what the dev loop deploys. A directory holding a helmChartKind or
// kustomizationKind target gets no generated manifests target.
const (
	helmChartKind     = "helm_chart"
	kustomizationKind = "kustomization"
)

var slipwayKinds = map[string]rule.KindInfo{
	imageKind: {
		MatchAttrs:    []string{"binary"},
		NonEmptyAttrs: map[string]bool{"binary": true},
		MergeableAttrs: map[string]bool{
			"base":          true,
			"binary":        true,
			"env":           true,
			"exposed_ports": true,
			"user":          true,
		},
	},
	manifestsKind: {
		MatchAttrs:    []string{"srcs"},
		NonEmptyAttrs: map[string]bool{"srcs": true},
		MergeableAttrs: map[string]bool{
			"labels":    true,
			"namespace": true,
			"srcs":      true,
		},
		ResolveAttrs: map[string]bool{
			"images": true,
			"strict": true,
		},
	},
	devKind: {
		NonEmptyAttrs:  map[string]bool{"targets": true},
		MergeableAttrs: map[string]bool{"targets": true},
	},
}

// Kinds describes how Gazelle merges the extension's rules with existing ones.
func (*slipwayLang) Kinds() map[string]rule.KindInfo { return slipwayKinds }

// Loads is the load statement of the extension's rules, for WORKSPACE mode.
func (l *slipwayLang) Loads() []rule.LoadInfo {
	return l.ApparentLoads(func(string) string { return "" })
}

// ApparentLoads is the load statement of the extension's rules, by slipway's
// apparent repository name in the workspace's MODULE.bazel.
func (*slipwayLang) ApparentLoads(moduleToApparentName func(string) string) []rule.LoadInfo {
	repo := moduleToApparentName("slipway")
	if repo == "" {
		repo = "slipway"
	}
	return []rule.LoadInfo{{
		Name:    "@" + repo + "//rules:defs.bzl",
		Symbols: []string{devKind, imageKind, manifestsKind},
	}}
}
