// Package gazelle is a Gazelle extension that writes slipway's targets from
// convention: an image per go_binary of a service directory, a manifests target
// per directory of Kubernetes YAML (its images inferred from the YAML's image
// names), and a dev target over them. See docs/gazelle.md.
//
// Combine it with Gazelle's Go extension, after it:
//
//	gazelle_binary(name = "gazelle_bin", languages = ["@gazelle//language/go", "@slipway//rules/gazelle"])
package gazelle

import (
	"github.com/bazelbuild/bazel-gazelle/config"
	"github.com/bazelbuild/bazel-gazelle/label"
	"github.com/bazelbuild/bazel-gazelle/language"
	"github.com/bazelbuild/bazel-gazelle/rule"
)

// languageName is the extension's name: its key in config.Config.Exts and the
// language of its import specs.
const languageName = "slipway"

// slipwayLang is the extension. It remembers the deployables of the directories
// generated so far (Gazelle visits subdirectories first) for the dev targets.
type slipwayLang struct {
	deployables []label.Label
}

// NewLanguage returns the extension, for gazelle_binary.
func NewLanguage() language.Language { return &slipwayLang{} }

// Name is the extension's name.
func (*slipwayLang) Name() string { return languageName }

// Fix has nothing to migrate.
func (*slipwayLang) Fix(*config.Config, *rule.File) {}

// Embeds: slipway's rules embed nothing.
func (*slipwayLang) Embeds(*rule.Rule, label.Label) []label.Label { return nil }
