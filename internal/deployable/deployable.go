// Package deployable finds, builds and loads deployables (manifests targets) with
// Bazel, the same way for the dev loop, `slipway ci` and `slipway affected`: one
// query expression, one set of build flags, one way to read a built target's
// outputs, one wording of build failures.
package deployable

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/slipway-dev/slipway/internal/bazel"
	"github.com/slipway-dev/slipway/internal/deploy"
)

// OutputGroup is the output group of manifests targets that holds everything a
// deploy reads: rendered objects, inventory, deploy spec, image layouts.
const OutputGroup = "deploy"

// Built is a manifests target built by Bazel and loaded.
type Built struct {
	Label  string
	Spec   *deploy.Spec
	Target *deploy.Target
}

// KindExpr is the query expression of the manifests targets the patterns match.
func KindExpr(patterns []string) string {
	return fmt.Sprintf(`kind("%s", set(%s))`, deploy.ManifestsRule, strings.Join(patterns, " "))
}

// DepsExpr is the query expression of those targets and every main-repository
// target they depend on: the graph the dev loop indexes.
func DepsExpr(patterns []string) string {
	return fmt.Sprintf(`filter("^//", deps(%s))`, KindExpr(patterns))
}

// LiveBinaryGroup is the output group of image targets with live_update that
// holds the binary alone, as placed in the image: what the dev loop builds to
// sync it into running containers.
const LiveBinaryGroup = "live_binary"

// DevBuildFlags are the flags of the dev loop's builds: deployables' deploy
// outputs and live-update images' binaries, in one invocation.
func DevBuildFlags(flags []string) []string {
	return append(append([]string(nil), flags...), "--output_groups="+OutputGroup+","+LiveBinaryGroup)
}

// BuildFlags are the flags of a build of deployables: the user's, then the
// output group. cquery runs with the user's flags alone, which keep the analysis.
func BuildFlags(flags []string) []string {
	return append(append([]string(nil), flags...), "--output_groups="+OutputGroup)
}

// Labels are the manifests targets in a graph, sorted; an error names the
// patterns when there are none.
func Labels(g *bazel.Graph, patterns []string) ([]string, error) {
	var labels []string
	for label, kind := range g.Kinds {
		if kind == deploy.ManifestsRule {
			labels = append(labels, label)
		}
	}
	if len(labels) == 0 {
		return nil, fmt.Errorf("no manifests targets in %s", strings.Join(patterns, " "))
	}
	sort.Strings(labels)
	return labels, nil
}

// Discover resolves wildcard patterns (//services/..., :all) to the manifests
// targets they match, with one cquery (with the build's flags, so the analysis
// is shared): the build then covers the deployables alone, not every library
// and test the patterns also match. Plain labels are returned as they are.
func Discover(ctx context.Context, b bazel.Client, patterns, flags []string) ([]string, error) {
	wild := false
	for _, p := range patterns {
		if IsPattern(p) {
			wild = true
		}
	}
	if !wild {
		return patterns, nil
	}
	g, err := b.CQuery(ctx, KindExpr(patterns), flags)
	if err != nil {
		return nil, err
	}
	return Labels(g, patterns)
}

// IsPattern tells a wildcard target pattern from a label.
func IsPattern(p string) bool {
	return strings.HasSuffix(p, "...") || strings.HasSuffix(p, ":all") || strings.HasSuffix(p, ":*")
}

// Build builds the deploy outputs of every manifests target the patterns match,
// in one Bazel invocation, and loads them. A failed build is an error that names
// each failed target and says why.
func Build(ctx context.Context, b bazel.Client, patterns, flags []string) ([]*Built, error) {
	labels, err := Discover(ctx, b, patterns, flags)
	if err != nil {
		return nil, err
	}
	res, err := b.Build(ctx, labels, BuildFlags(flags))
	if err != nil {
		return nil, err
	}
	if !res.Success {
		var failed []string
		for _, label := range labels {
			if t := res.Targets[label]; t == nil || !t.Success {
				failed = append(failed, label+": "+Failure(t, res))
			}
		}
		return nil, fmt.Errorf("bazel build failed:\n%s", strings.Join(failed, "\n"))
	}
	execRoot, err := b.ExecRoot(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]*Built, 0, len(labels))
	for _, label := range labels {
		built, err := Load(label, res.Targets[label], deploy.ExecRoot(execRoot))
		if err != nil {
			return nil, err
		}
		out = append(out, built)
	}
	return out, nil
}

// Failure says why a target did not build: its own errors, else Bazel's.
func Failure(t *bazel.TargetResult, res *bazel.BuildResult) string {
	switch {
	case t != nil && len(t.Errors) > 0:
		return strings.Join(t.Errors, "\n")
	case res.Output != "":
		return res.Output
	}
	return "build failed"
}

// Load reads a built manifests target's deploy spec and outputs.
func Load(label string, t *bazel.TargetResult, files deploy.Files) (*Built, error) {
	if t == nil {
		return nil, fmt.Errorf("%s: not built", label)
	}
	var specPath string
	for _, f := range t.OutputGroups[OutputGroup] {
		if strings.HasSuffix(f, ".deploy.json") {
			specPath = f
		}
	}
	if specPath == "" {
		return nil, fmt.Errorf("%s built no deploy spec: is it a manifests target?", label)
	}
	spec, err := deploy.ReadSpec(specPath)
	if err != nil {
		return nil, err
	}
	target, err := deploy.Load(spec, files)
	if err != nil {
		return nil, err
	}
	return &Built{Label: label, Spec: spec, Target: target}, nil
}
