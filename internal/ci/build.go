// Package ci builds and compares deployables for CI: `slipway ci` deploys every
// deployable's changes to a live cluster; `slipway affected` lists the deployables
// whose outputs differ between two commits.
package ci

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/slipway-dev/slipway/internal/bazel"
	"github.com/slipway-dev/slipway/internal/deploy"
)

// Built is a manifests target built by Bazel.
type Built struct {
	Label  string
	Spec   *deploy.Spec
	Target *deploy.Target
}

// BuildDeployables builds the deploy outputs of every manifests target the patterns
// match, in one Bazel invocation, and loads them. A failed build is an error that
// names the failed targets and says why.
func BuildDeployables(ctx context.Context, b bazel.Client, patterns, flags []string) ([]*Built, error) {
	labels, err := deployableLabels(ctx, b, patterns, flags)
	if err != nil {
		return nil, err
	}
	res, err := b.Build(ctx, labels, append(append([]string(nil), flags...), "--output_groups=deploy"))
	if err != nil {
		return nil, err
	}
	if !res.Success {
		var failed []string
		for label, t := range res.Targets {
			if !t.Success {
				msg := label
				if len(t.Errors) > 0 {
					msg += ": " + strings.Join(t.Errors, "\n")
				}
				failed = append(failed, msg)
			}
		}
		sort.Strings(failed)
		if len(failed) == 0 {
			failed = append(failed, res.Output)
		}
		return nil, fmt.Errorf("bazel build failed:\n%s", strings.Join(failed, "\n"))
	}
	execRoot, err := b.ExecRoot(ctx)
	if err != nil {
		return nil, err
	}
	var out []*Built
	for label, t := range res.Targets {
		for _, f := range t.OutputGroups["deploy"] {
			if !strings.HasSuffix(f, ".deploy.json") {
				continue
			}
			spec, err := deploy.ReadSpec(f)
			if err != nil {
				return nil, err
			}
			target, err := deploy.Load(spec, deploy.ExecRoot(execRoot))
			if err != nil {
				return nil, err
			}
			out = append(out, &Built{Label: label, Spec: spec, Target: target})
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no manifests targets in %s", strings.Join(patterns, " "))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Label < out[j].Label })
	return out, nil
}

// deployableLabels resolves wildcard patterns (//services/..., :all) to the
// manifests targets they match, with one cquery (with the build's flags, so the
// analysis is shared): the build then covers the deployables alone, not every
// library and test the patterns also match.
func deployableLabels(ctx context.Context, b bazel.Client, patterns, flags []string) ([]string, error) {
	wild := false
	for _, p := range patterns {
		if strings.HasSuffix(p, "...") || strings.HasSuffix(p, ":all") || strings.HasSuffix(p, ":*") {
			wild = true
		}
	}
	if !wild {
		return patterns, nil
	}
	g, err := b.CQuery(ctx, fmt.Sprintf(`kind("%s", set(%s))`, deploy.ManifestsRule, strings.Join(patterns, " ")), flags)
	if err != nil {
		return nil, err
	}
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
