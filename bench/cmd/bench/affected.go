package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/slipway-dev/slipway/bench/gen"
	"github.com/slipway-dev/slipway/internal/ci"
	"github.com/slipway-dev/slipway/internal/version"
)

func affectedCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("affected", flag.ExitOnError)
	n := fs.Int("services", 200, "services in the generated repository")
	reps := fs.Int("reps", 3, "warm repetitions (second runs)")
	coldReps := fs.Int("cold-reps", 1, "cold repetitions (first runs: fresh output bases)")
	changed := fs.Int("change", 17, "the service the head commit changes")
	keep := fs.Bool("keep-bazel", false, "leave the Bazel servers running")
	_ = fs.Parse(args)

	name := fmt.Sprintf("aff%d", *n)
	dir := workspaceDir(name)
	// The repository: the generated files at its root commit (base), and a head
	// commit that changes one service's version line.
	if _, err := os.Stat(filepath.Join(dir, ".git")); err == nil {
		root, err := gen.Git(dir, "rev-list", "--max-parents=0", "HEAD")
		if err != nil {
			return err
		}
		if _, err := gen.Git(dir, "reset", "--quiet", "--hard", strings.Fields(root)[0]); err != nil {
			return err
		}
	}
	lay, err := gen.Generate(gen.Options{Dir: dir, Services: *n, Libs: max(3, *n/4), Slipway: opts.slipway, Namespace: "aff-{user}", Git: true})
	if err != nil {
		return err
	}
	base, err := gen.Git(dir, "rev-parse", "HEAD")
	if err != nil {
		return err
	}
	svc := lay.Services[*changed%len(lay.Services)]
	if _, _, err := editVersion(filepath.Join(dir, gen.MainFile(svc)), svc+"-head"); err != nil {
		return err
	}
	if err := gen.CommitAll(dir, "change "+svc); err != nil {
		return err
	}
	head, err := gen.Git(dir, "rev-parse", "HEAD")
	if err != nil {
		return err
	}
	var deploys []string
	for _, s := range lay.Services {
		deploys = append(deploys, gen.DeployLabel(s))
	}
	var servers []string // workspaces whose Bazel servers we started
	defer func() {
		if *keep {
			return
		}
		for _, d := range servers {
			logf("bazel shutdown in %s", d)
			_, _, _ = bazelRun(context.Background(), d, "shutdown")
		}
	}()
	servers = append(servers, dir)

	// The developer's workspace is warm: its head outputs and the slipway tool built.
	logf("warming the head workspace %s (bazel build //:dev.affected and the deployables)", dir)
	warm, _, err := bazelRun(ctx, dir, "build", "--output_groups=deploy", "//:dev.affected", "//services/...")
	if err != nil {
		return err
	}
	_, _, _ = bazelRun(ctx, dir, "build", "//:dev.affected")

	// slipway affected: first runs (its base worktree's output base and the base
	// snapshot deleted first), then second runs.
	top, err := gen.Git(dir, "rev-parse", "--show-toplevel")
	if err != nil {
		return err
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return err
	}
	sum := sha256.Sum256([]byte(top))
	baseTree := filepath.Join(cache, "slipway", "affected", "worktrees", hex.EncodeToString(sum[:6]), "base")
	key := sha256.Sum256([]byte(strings.Join([]string{base, ".", "//services/...", "", version.Version}, "\x00")))
	snapshot := filepath.Join(cache, "slipway", "affected", "snapshots", hex.EncodeToString(key[:16])+".json")
	servers = append(servers, baseTree)

	// compared collects slipway's own "compared in" times (the rest of a run is
	// bazel run: building the tool, and its launcher).
	var compared []time.Duration
	affected := func() (time.Duration, []ci.Change, string, error) {
		d, out, errOut, err := runStdout(ctx, dir, "bazel", "run", "--ui_event_filters=-info,-stdout,-stderr", "--noshow_progress", "//:dev.affected", "--", "--base", "HEAD~1", "--json")
		if err != nil {
			return d, nil, out, err
		}
		if i := strings.LastIndex(errOut, "compared in "); i >= 0 {
			f := strings.Fields(errOut[i+len("compared in "):])
			if len(f) > 0 {
				if c, err := time.ParseDuration(f[0]); err == nil {
					compared = append(compared, c)
				}
			}
		}
		var changes []ci.Change
		if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &changes); err != nil {
			return d, nil, out, fmt.Errorf("decoding affected --json: %v\n%s", err, tail(out, 20))
		}
		return d, changes, errOut, nil
	}
	var first, second []time.Duration
	var lastChanges []ci.Change
	for i := 0; i < *coldReps; i++ {
		if err := expunge(ctx, baseTree); err != nil {
			return err
		}
		_ = os.RemoveAll(baseTree)
		_, _ = gen.Git(dir, "worktree", "prune")
		_ = os.Remove(snapshot)
		logf("slipway affected, first run %d (fresh base worktree and output base)", i+1)
		d, changes, out, err := affected()
		if err != nil {
			return err
		}
		logf("first run: %s\n%s", secs(d), tail(out, 4))
		first, lastChanges = append(first, d), changes
	}
	for i := 0; i < *reps; i++ {
		d, changes, _, err := affected()
		if err != nil {
			return err
		}
		logf("second run %d: %s", i+1, secs(d))
		second, lastChanges = append(second, d), changes
	}
	_, _, _ = bazelRun(context.Background(), baseTree, "shutdown")

	// The baseline: build every deployable at both commits, each in a worktree of
	// its own with its own output base (cold: expunged first; warm: again).
	tdRoot := filepath.Join(opts.root, "td", name)
	trees := map[string]string{"base": base, "head": head}
	for slot, sha := range trees {
		tree := filepath.Join(tdRoot, slot)
		if _, err := os.Stat(filepath.Join(tree, ".git")); err != nil {
			_ = os.RemoveAll(tree)
			_, _ = gen.Git(dir, "worktree", "prune")
			if err := os.MkdirAll(tdRoot, 0o755); err != nil {
				return err
			}
			if _, err := gen.Git(dir, "worktree", "add", "--quiet", "--detach", "--force", tree, sha); err != nil {
				return err
			}
		} else if _, err := gen.Git(tree, "checkout", "--quiet", "--detach", "--force", sha); err != nil {
			return err
		}
		servers = append(servers, tree)
	}
	buildBoth := func() (time.Duration, time.Duration, error) {
		var ds [2]time.Duration
		for i, slot := range []string{"base", "head"} {
			d, _, err := bazelRun(ctx, filepath.Join(tdRoot, slot), append([]string{"build"}, deploys...)...)
			if err != nil {
				return 0, 0, err
			}
			ds[i] = d
		}
		return ds[0], ds[1], nil
	}
	var coldTD, warmTD []time.Duration
	var coldParts []string
	for i := 0; i < *coldReps; i++ {
		for _, slot := range []string{"base", "head"} {
			if err := expunge(ctx, filepath.Join(tdRoot, slot)); err != nil {
				return err
			}
		}
		logf("baseline, cold run %d: bazel build of %d deploy targets at base, then at head (fresh output bases)", i+1, len(deploys))
		b, h, err := buildBoth()
		if err != nil {
			return err
		}
		coldTD = append(coldTD, b+h)
		coldParts = append(coldParts, fmt.Sprintf("%s + %s", secs(b), secs(h)))
	}
	for i := 0; i < *reps; i++ {
		b, h, err := buildBoth()
		if err != nil {
			return err
		}
		warmTD = append(warmTD, b+h)
		logf("baseline warm run %d: %s + %s", i+1, secs(b), secs(h))
	}

	// A new head commit (a pull request updated: the head commit amended with
	// another change of the same service), interleaved: slipway affected (the base
	// snapshot is cached) vs building both commits in the warm worktrees, each on a
	// head of its own (a version never built before).
	var newSlip, newTD []time.Duration
	for i := 0; i < *reps; i++ {
		if _, _, err := editVersion(filepath.Join(dir, gen.MainFile(svc)), svc+"-head"); err != nil {
			return err
		}
		if _, err := gen.Git(dir, "commit", "--quiet", "--amend", "-a", "-m", "change "+svc); err != nil {
			return err
		}
		d, changes, _, err := affected()
		if err != nil {
			return err
		}
		newSlip, lastChanges = append(newSlip, d), changes
		// Another new version for the baseline, so that neither side finds the
		// other's head outputs in the disk cache.
		if _, _, err := editVersion(filepath.Join(dir, gen.MainFile(svc)), svc+"-head"); err != nil {
			return err
		}
		if _, err := gen.Git(dir, "commit", "--quiet", "--amend", "-a", "-m", "change "+svc); err != nil {
			return err
		}
		sha, err := gen.Git(dir, "rev-parse", "HEAD")
		if err != nil {
			return err
		}
		if _, err := gen.Git(filepath.Join(tdRoot, "head"), "checkout", "--quiet", "--detach", "--force", sha); err != nil {
			return err
		}
		b, h, err := buildBoth()
		if err != nil {
			return err
		}
		newTD = append(newTD, b+h)
		logf("new head %d: slipway affected %s; baseline %s + %s", i+1, secs(d), secs(b), secs(h))
	}

	r := newReport("affected")
	defer r.close()
	r.printf("repository %s: %d services; base %s (generated), head %s (changes %s)\n", dir, *n, base[:12], head[:12], svc)
	r.printf("the head workspace was warmed first (bazel build of //:dev.affected and the deployables: %s); Bazel's disk cache (--disk_cache in the machine's bazelrc) stays on for every build\n\n", secs(warm))
	rows := [][]string{{"measurement", "median", "runs (s)"}}
	rows = append(rows, []string{"slipway affected --base HEAD~1, first run (fresh base worktree + output base)", secs(median(first)), secsList(first)})
	rows = append(rows, []string{"slipway affected --base HEAD~1, second run (base snapshot cached)", secs(median(second)), secsList(second)})
	rows = append(rows, []string{"baseline cold: bazel build all deploy targets at base + at head (fresh output bases)", secs(median(coldTD)), strings.Join(coldParts, "; ")})
	rows = append(rows, []string{"baseline warm: the same two builds again", secs(median(warmTD)), secsList(warmTD)})
	rows = append(rows, []string{"new head commit: slipway affected (base snapshot cached)", secs(median(newSlip)), secsList(newSlip)})
	rows = append(rows, []string{"new head commit: baseline (warm worktrees: base no-op + head incremental)", secs(median(newTD)), secsList(newTD)})
	r.table(rows)
	r.printf("\nRATIO first run / baseline cold = %s; second run / baseline cold = %s; second run / baseline warm = %s; new head: slipway / baseline = %s\n",
		ratio(median(first), median(coldTD)), ratio(median(second), median(coldTD)), ratio(median(second), median(warmTD)), ratio(median(newSlip), median(newTD)))
	var got []string
	for _, c := range lastChanges {
		got = append(got, c.Status+" "+c.Target)
	}
	want := "changed " + gen.DeployLabel(svc)
	r.printf("affected output: %v\n", got)
	r.printf("slipway's own \"compared in\" times (each run, in order; the rest is bazel run): %s\n", secsList(compared))
	r.goal("affected-names-exactly-the-change", fmt.Sprintf("%v", got), "["+want+"]", len(got) == 1 && got[0] == want)
	r.goal("affected-first-run-vs-building-both", fmt.Sprintf("%s vs %s (%s)", secs(median(first)), secs(median(coldTD)), ratio(median(first), median(coldTD))), "faster than building both commits cold", median(first) < median(coldTD))
	r.goal("affected-new-head-vs-building-both", fmt.Sprintf("%s vs %s (%s)", secs(median(newSlip)), secs(median(newTD)), ratio(median(newSlip), median(newTD))), "faster than building both commits (warm output bases)", median(newSlip) < median(newTD))
	r.goal("affected-second-run-vs-building-both", fmt.Sprintf("%s vs %s warm (%s)", secs(median(second)), secs(median(warmTD)), ratio(median(second), median(warmTD))), "faster than building both commits warm", median(second) < median(warmTD))
	return nil
}

func secsList(ds []time.Duration) string {
	parts := make([]string, len(ds))
	for i, d := range ds {
		parts[i] = fmt.Sprintf("%.1f", d.Seconds())
	}
	return strings.Join(parts, " ")
}

// expunge deletes a workspace's output base (and stops its server), if the
// workspace exists.
func expunge(ctx context.Context, dir string) error {
	if _, err := os.Stat(filepath.Join(dir, "MODULE.bazel")); err != nil {
		return nil
	}
	_, _, err := bazelRun(ctx, dir, "clean", "--expunge")
	return err
}
