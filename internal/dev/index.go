// Package dev is slipway's dev loop: it maps files to the deployables that depend
// on them (from Bazel's graph), watches those files, and on each change rebuilds,
// pushes and applies only what the change affects.
package dev

import (
	"path"
	"sort"
	"strings"

	"github.com/slipway-dev/slipway/internal/bazel"
)

// Index maps workspace files to the deployables (manifests targets) built from them.
type Index struct {
	// Deployables are the manifests targets the loop keeps deployed, sorted.
	Deployables []string
	// byFile maps a workspace-relative source path to the deployables using it.
	byFile map[string][]string
	// Dirs are the directories holding indexed files.
	Dirs  map[string]bool
	graph *bazel.Graph
}

// NewIndex builds the index of deployables from a cquery graph of their
// dependencies.
func NewIndex(g *bazel.Graph, deployables []string) *Index {
	ix := &Index{Deployables: append([]string(nil), deployables...), byFile: map[string][]string{}, Dirs: map[string]bool{}, graph: g}
	sort.Strings(ix.Deployables)
	for _, d := range ix.Deployables {
		for p := range sources(g, d, nil) {
			ix.byFile[p] = append(ix.byFile[p], d)
			ix.Dirs[path.Dir(p)] = true
		}
	}
	for p := range ix.byFile {
		sort.Strings(ix.byFile[p])
	}
	return ix
}

// sources are the workspace source files label depends on, by path, not
// looking past the labels in stop.
func sources(g *bazel.Graph, label string, stop map[string]bool) map[string]bool {
	out := map[string]bool{}
	seen := map[string]bool{}
	var visit func(label string)
	visit = func(label string) {
		if seen[label] || stop[label] {
			return
		}
		seen[label] = true
		if g.Sources[label] {
			if p, ok := bazel.SourcePath(label); ok {
				out[p] = true
			}
			return
		}
		if rule, ok := g.Generated[label]; ok {
			visit(rule)
			return
		}
		for _, in := range g.Rules[label] {
			visit(in)
		}
	}
	visit(label)
	return out
}

// LiveSources splits a deployable's source files for the live-update planner:
// those of each binary (by label), and the rest, reached from the deployable
// other than through those binaries.
func (ix *Index) LiveSources(deployable string, binaries []string) (map[string]map[string]bool, map[string]bool) {
	bins := map[string]map[string]bool{}
	stop := map[string]bool{}
	for _, b := range binaries {
		bins[b] = sources(ix.graph, b, nil)
		stop[b] = true
	}
	return bins, sources(ix.graph, deployable, stop)
}

// IsDeployable reports whether target is one of the index's deployables.
func (ix *Index) IsDeployable(target string) bool {
	i := sort.SearchStrings(ix.Deployables, target)
	return i < len(ix.Deployables) && ix.Deployables[i] == target
}

// Files returns the number of indexed source files.
func (ix *Index) Files() int { return len(ix.byFile) }

// Has reports whether a path is an indexed source file.
func (ix *Index) Has(p string) bool { _, ok := ix.byFile[p]; return ok }

// Affected returns the deployables that depend on any of paths, sorted.
func (ix *Index) Affected(paths []string) []string {
	set := map[string]bool{}
	for _, p := range paths {
		for _, d := range ix.byFile[p] {
			set[d] = true
		}
	}
	out := make([]string, 0, len(set))
	for d := range set {
		out = append(out, d)
	}
	sort.Strings(out)
	return out
}

// Paths returns every indexed source path.
func (ix *Index) Paths() []string {
	out := make([]string, 0, len(ix.byFile))
	for p := range ix.byFile {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// ContentPaths are the files whose content the loop tracks: every indexed
// source, and the BUILD files of their folders (so that a removed folder says
// its BUILD file went too). Missing ones are simply not found.
func (ix *Index) ContentPaths() []string {
	out := ix.Paths()
	for dir := range ix.Dirs {
		for _, name := range []string{"BUILD.bazel", "BUILD"} {
			out = append(out, path.Join(dir, name))
		}
	}
	return out
}

// IsGraphFile reports whether a change to p can change Bazel's graph itself (so the
// index must be rebuilt): BUILD files, Starlark, module and workspace files, rc files.
func IsGraphFile(p string) bool {
	base := path.Base(p)
	switch base {
	case "BUILD", "BUILD.bazel", "MODULE.bazel", "REPO.bazel", "WORKSPACE", "WORKSPACE.bazel",
		".bazelrc", ".bazelignore", ".bazelversion", "go.mod", "go.sum", "go.work":
		return true
	}
	return strings.HasSuffix(base, ".bzl")
}
