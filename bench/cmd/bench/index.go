package main

import (
	"context"
	"flag"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/slipway-dev/slipway/internal/bazel"
	"github.com/slipway-dev/slipway/internal/deploy"
	"github.com/slipway-dev/slipway/internal/dev"
)

// syntheticGraph is a cquery graph shaped like a generated repository's: per
// service a manifests target, an image (with its layer rule inputs), a go_binary,
// a go_library and source files; libraries shared round-robin.
func syntheticGraph(services, libs int) (*bazel.Graph, []string) {
	g := &bazel.Graph{Rules: map[string][]string{}, Kinds: map[string]string{}, Sources: map[string]bool{}, Generated: map[string]string{}}
	rule := func(label, kind string, inputs ...string) {
		g.Rules[label] = inputs
		g.Kinds[label] = kind
	}
	src := func(label string) string { g.Sources[label] = true; return label }
	for k := 0; k < libs; k++ {
		pkg := fmt.Sprintf("//lib/lib%03d", k)
		rule(pkg+":lib", "go_library", src(pkg+":lib.go"), src(pkg+":util.go"), "@@rules_go+//:go_context_data")
	}
	var deployables []string
	for i := 0; i < services; i++ {
		pkg := fmt.Sprintf("//services/svc%04d", i)
		name := fmt.Sprintf("svc%04d", i)
		var deps []string
		for j := 0; j < 2+(i+1)%2; j++ {
			deps = append(deps, fmt.Sprintf("//lib/lib%03d:lib", (i+j)%libs))
		}
		rule(pkg+":"+name+"_lib", "go_library", append([]string{src(pkg + ":main.go"), src(pkg + ":handler.go")}, deps...)...)
		rule(pkg+":"+name, "go_binary", pkg+":"+name+"_lib")
		rule(pkg+":image", "image_rule", pkg+":"+name, "//rules/private/builder:builder")
		g.Generated[pkg+":image.digest"] = pkg + ":image"
		rule(pkg+":deploy", deploy.ManifestsRule, src(pkg+":deploy.yaml"), pkg+":image.digest", pkg+":image")
		deployables = append(deployables, pkg+":deploy")
	}
	return g, deployables
}

func graphSize(g *bazel.Graph) int { return len(g.Rules) + len(g.Sources) + len(g.Generated) }

// timeAffected returns the median time of one Affected call over n calls.
func timeAffected(ix *dev.Index, paths []string, n int) (time.Duration, []string) {
	var ds []time.Duration
	var got []string
	for i := 0; i < n; i++ {
		start := time.Now()
		got = ix.Affected(paths)
		ds = append(ds, time.Since(start))
	}
	return median(ds), got
}

func indexCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("index", flag.ExitOnError)
	targets := fs.Int("targets", 5000, "at least this many targets in the synthetic graph")
	ws := fs.String("ws", "", "also index this benchmark workspace's real graph (e.g. gen200; it must have been built)")
	calls := fs.Int("calls", 1000, "Affected calls per measurement")
	_ = fs.Parse(args)

	r := newReport("index")
	defer r.close()
	services := max(1, *targets/9) // about 8.75 targets per service
	for {
		g, _ := syntheticGraph(services, max(3, services/4))
		if graphSize(g) >= *targets {
			break
		}
		services++
	}
	g, deployables := syntheticGraph(services, max(3, services/4))
	start := time.Now()
	ix := dev.NewIndex(g, deployables)
	build := time.Since(start)
	rows := [][]string{{"graph", "targets", "deployables", "files", "NewIndex", "Affected(1 service file)", "Affected(1 lib file)", "Affected(50 files)"}}
	row, worst := affectedRow("synthetic", g, ix, build, *calls)
	rows = append(rows, row)

	var real *indexResult
	if *ws != "" {
		w, err := prepareWorkspace(*ws, false)
		if err != nil {
			return err
		}
		real = realIndexOf(ctx, w)
	}
	r.table(rows)
	r.goal("affected-lookup-5000", fmt.Sprintf("%s at %d targets (slowest of the lookups, median of %d calls each)", fmtMicro(worst), graphSize(g), *calls), "<= 20 ms", worst <= 20*time.Millisecond)
	if real != nil {
		real.print(r)
	}
	return nil
}

// indexResult is Index.Affected timed on a workspace's real graph.
type indexResult struct {
	ws      string
	err     error
	query   time.Duration
	targets int
	row     []string
	worst   time.Duration
}

// realIndexOf runs the loop's cquery in a built workspace and times lookups on it.
func realIndexOf(ctx context.Context, w *workspace) *indexResult {
	res := &indexResult{ws: w.name}
	expr := fmt.Sprintf(`filter("^//", deps(kind("%s", set(%s))))`, deploy.ManifestsRule, w.pattern)
	cli := &bazel.CLI{Workspace: w.dir}
	start := time.Now()
	g, err := cli.CQuery(ctx, expr, nil)
	if err != nil {
		res.err = err
		return res
	}
	res.query = time.Since(start)
	var deployables []string
	for label, kind := range g.Kinds {
		if kind == deploy.ManifestsRule {
			deployables = append(deployables, label)
		}
	}
	start = time.Now()
	ix := dev.NewIndex(g, deployables)
	res.targets = graphSize(g)
	res.row, res.worst = affectedRow(w.name+" (real cquery)", g, ix, time.Since(start), 1000)
	return res
}

func (res *indexResult) print(r *report) {
	if res.err != nil {
		r.na("affected-lookup-real-"+res.ws, res.err.Error())
		return
	}
	r.printf("\nreal graph of %s (the loop's cquery took %s):\n", res.ws, ms(res.query))
	r.table([][]string{{"graph", "targets", "deployables", "files", "NewIndex", "Affected(1 service file)", "Affected(1 lib file)", "Affected(50 files)"}, res.row})
	if res.targets >= 5000 {
		r.goal("affected-lookup-real-"+res.ws, fmt.Sprintf("%s at %d targets", fmtMicro(res.worst), res.targets), "<= 20 ms", res.worst <= 20*time.Millisecond)
	} else {
		r.printf("(%d targets, fewer than 5,000: informational) slowest lookup %s\n", res.targets, fmtMicro(res.worst))
	}
}

// affectedRow times lookups on an index: one service file, one library file (many
// deployables), and 50 files at once; it returns the row and the slowest median.
func affectedRow(name string, g *bazel.Graph, ix *dev.Index, build time.Duration, calls int) ([]string, time.Duration) {
	paths := ix.Paths()
	var svcFile, libFile string
	for _, p := range paths {
		if svcFile == "" && strings.HasPrefix(p, "services/") && strings.HasSuffix(p, ".go") {
			svcFile = p
		}
		if libFile == "" && strings.HasPrefix(p, "lib/") && strings.HasSuffix(p, ".go") {
			libFile = p
		}
	}
	if svcFile == "" && len(paths) > 0 {
		svcFile = paths[0]
	}
	if libFile == "" {
		libFile = svcFile
	}
	var many []string
	for i := 0; i < len(paths) && len(many) < 50; i += max(1, len(paths)/50) {
		many = append(many, paths[i])
	}
	sort.Strings(many)
	d1, a1 := timeAffected(ix, []string{svcFile}, calls)
	d2, a2 := timeAffected(ix, []string{libFile}, calls)
	d3, a3 := timeAffected(ix, many, calls)
	return []string{name, fmt.Sprint(graphSize(g)), fmt.Sprint(len(ix.Deployables)), fmt.Sprint(ix.Files()), ms(build),
		fmt.Sprintf("%s (%d affected)", fmtMicro(d1), len(a1)), fmt.Sprintf("%s (%d)", fmtMicro(d2), len(a2)), fmt.Sprintf("%s (%d)", fmtMicro(d3), len(a3))}, max(d1, d2, d3)
}

func fmtMicro(d time.Duration) string { return fmt.Sprintf("%.1f µs", float64(d.Nanoseconds())/1000) }
