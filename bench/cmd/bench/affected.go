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

// affBench is the affected benchmark's repository and what each side measured.
//
// Every comparison starts both sides from the same state of their output bases:
//   - base cold, head warm (a developer's workspace; the base never built here):
//     slipway's first run vs the baseline with its base worktree expunged and its
//     head worktree built before;
//   - everything warm: slipway's second run vs the same two builds again;
//   - a new head commit, everything else warm;
//   - with --all-cold, every output base fresh on both sides.
type affBench struct {
	ctx         context.Context
	dir         string // the developer's workspace (head)
	base, head  string // commits
	svc         string // the changed service
	deploys     []string
	baseTree    string // slipway affected's base worktree
	snapshot    string // its cached base snapshot
	tdRoot      string // the baseline's worktrees: base/ and head/
	servers     []string
	compared    []time.Duration // slipway's own "compared in" times
	lastChanges []ci.Change

	allColdSlip, first, second, newSlip  []time.Duration
	allColdTD, coldBaseTD, warmTD, newTD []time.Duration
	allColdParts, coldBaseParts          []string
	warm                                 time.Duration // warming the head workspace
}

func affectedCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("affected", flag.ExitOnError)
	n := fs.Int("services", 200, "services in the generated repository")
	reps := fs.Int("reps", 3, "warm repetitions (second runs, warm baselines, new head commits)")
	coldReps := fs.Int("cold-reps", 1, "repetitions with the base cold and the head warm (first runs)")
	allCold := fs.Bool("all-cold", false, "also compare both sides with every output base fresh (the head workspace's too)")
	changed := fs.Int("change", 17, "the service the head commit changes")
	keep := fs.Bool("keep-bazel", false, "leave the Bazel servers running")
	_ = fs.Parse(args)

	b, err := newAffBench(ctx, *n, *changed)
	if err != nil {
		return err
	}
	defer func() {
		if *keep {
			return
		}
		for _, d := range b.servers {
			logf("bazel shutdown in %s", d)
			_, _, _ = bazelRun(context.Background(), d, "shutdown")
		}
	}()
	if err := b.slipwaySide(*allCold, *coldReps, *reps); err != nil {
		return err
	}
	if err := b.baselineSide(*allCold, *coldReps, *reps); err != nil {
		return err
	}
	if err := b.newHeads(*reps); err != nil {
		return err
	}
	b.print(*n)
	return nil
}

// newAffBench generates the repository: the generated files at its root commit
// (base), and a head commit that changes one service's version line.
func newAffBench(ctx context.Context, n, changed int) (*affBench, error) {
	name := fmt.Sprintf("aff%d", n)
	b := &affBench{ctx: ctx, dir: workspaceDir(name), tdRoot: filepath.Join(opts.root, "td", name)}
	if _, err := os.Stat(filepath.Join(b.dir, ".git")); err == nil {
		root, err := gen.Git(b.dir, "rev-list", "--max-parents=0", "HEAD")
		if err != nil {
			return nil, err
		}
		if _, err := gen.Git(b.dir, "reset", "--quiet", "--hard", strings.Fields(root)[0]); err != nil {
			return nil, err
		}
	}
	lay, err := gen.Generate(gen.Options{Dir: b.dir, Services: n, Libs: max(3, n/4), Slipway: opts.slipway, Namespace: "aff-{user}", Git: true})
	if err != nil {
		return nil, err
	}
	if b.base, err = gen.Git(b.dir, "rev-parse", "HEAD"); err != nil {
		return nil, err
	}
	b.svc = lay.Services[changed%len(lay.Services)]
	if err := b.commitNewVersion(false); err != nil {
		return nil, err
	}
	if b.head, err = gen.Git(b.dir, "rev-parse", "HEAD"); err != nil {
		return nil, err
	}
	for _, s := range lay.Services {
		b.deploys = append(b.deploys, gen.DeployLabel(s))
	}
	top, err := gen.Git(b.dir, "rev-parse", "--show-toplevel")
	if err != nil {
		return nil, err
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256([]byte(top))
	b.baseTree = filepath.Join(cache, "slipway", "affected", "worktrees", hex.EncodeToString(sum[:6]), "base")
	key := sha256.Sum256([]byte(strings.Join([]string{b.base, ".", "//services/...", "", version.Version}, "\x00")))
	b.snapshot = filepath.Join(cache, "slipway", "affected", "snapshots", hex.EncodeToString(key[:16])+".json")
	b.servers = []string{b.dir, b.baseTree}
	return b, nil
}

// commitNewVersion gives the changed service a version never used before and
// commits it (amending the head commit when amend is set).
func (b *affBench) commitNewVersion(amend bool) error {
	if _, _, err := editVersion(filepath.Join(b.dir, gen.MainFile(b.svc)), b.svc+"-head"); err != nil {
		return err
	}
	if amend {
		_, err := gen.Git(b.dir, "commit", "--quiet", "--amend", "-a", "-m", "change "+b.svc)
		return err
	}
	return gen.CommitAll(b.dir, "change "+b.svc)
}

// affected runs `bazel run //:dev.affected -- --base HEAD~1 --json` in the workspace.
func (b *affBench) affected() (time.Duration, error) {
	d, out, errOut, err := runStdout(b.ctx, b.dir, "bazel", "run", "--ui_event_filters=-info,-stdout,-stderr", "--noshow_progress", "//:dev.affected", "--", "--base", "HEAD~1", "--json")
	if err != nil {
		return d, fmt.Errorf("slipway affected: %w\n%s", err, tail(errOut, 20))
	}
	if i := strings.LastIndex(errOut, "compared in "); i >= 0 {
		if f := strings.Fields(errOut[i+len("compared in "):]); len(f) > 0 {
			if c, err := time.ParseDuration(f[0]); err == nil {
				b.compared = append(b.compared, c)
			}
		}
	}
	var changes []ci.Change
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &changes); err != nil {
		return d, fmt.Errorf("decoding affected --json: %v\n%s", err, tail(out, 20))
	}
	b.lastChanges = changes
	return d, nil
}

// coldBase deletes slipway affected's base worktree, its output base and the base
// snapshot; with head set, the head workspace's output base too.
func (b *affBench) coldBase(head bool) error {
	dirs := []string{b.baseTree}
	if head {
		dirs = append(dirs, b.dir)
	}
	for _, d := range dirs {
		if err := expunge(b.ctx, d); err != nil {
			return err
		}
	}
	_ = os.RemoveAll(b.baseTree)
	_, _ = gen.Git(b.dir, "worktree", "prune")
	_ = os.Remove(b.snapshot)
	return nil
}

// slipwaySide times slipway affected: everything cold (optional), then the head
// warmed and the base cold (first runs), then everything warm (second runs).
func (b *affBench) slipwaySide(allCold bool, coldReps, reps int) error {
	if allCold {
		if err := b.coldBase(true); err != nil {
			return err
		}
		logf("slipway affected, everything cold (head workspace and base worktree: fresh output bases)")
		d, err := b.affected()
		if err != nil {
			return err
		}
		logf("all cold: %s", secs(d))
		b.allColdSlip = append(b.allColdSlip, d)
	}
	// The developer's workspace is warm: its head outputs and the slipway tool built.
	logf("warming the head workspace %s (bazel build //:dev.affected and the deployables)", b.dir)
	warm, _, err := bazelRun(b.ctx, b.dir, "build", "--output_groups=deploy", "//:dev.affected", "//services/...")
	if err != nil {
		return err
	}
	b.warm = warm
	_, _, _ = bazelRun(b.ctx, b.dir, "build", "//:dev.affected")
	for i := 0; i < coldReps; i++ {
		if err := b.coldBase(false); err != nil {
			return err
		}
		logf("slipway affected, first run %d (head warm; fresh base worktree and output base)", i+1)
		d, err := b.affected()
		if err != nil {
			return err
		}
		logf("first run: %s", secs(d))
		b.first = append(b.first, d)
	}
	for i := 0; i < reps; i++ {
		d, err := b.affected()
		if err != nil {
			return err
		}
		logf("second run %d: %s", i+1, secs(d))
		b.second = append(b.second, d)
	}
	_, _, _ = bazelRun(context.Background(), b.baseTree, "shutdown")
	return nil
}

// checkout puts the baseline's worktree slot (base or head) at a commit.
func (b *affBench) checkout(slot, sha string) error {
	tree := filepath.Join(b.tdRoot, slot)
	if _, err := os.Stat(filepath.Join(tree, ".git")); err == nil {
		_, err := gen.Git(tree, "checkout", "--quiet", "--detach", "--force", sha)
		return err
	}
	_ = os.RemoveAll(tree)
	_, _ = gen.Git(b.dir, "worktree", "prune")
	if err := os.MkdirAll(b.tdRoot, 0o755); err != nil {
		return err
	}
	_, err := gen.Git(b.dir, "worktree", "add", "--quiet", "--detach", "--force", tree, sha)
	return err
}

// buildBoth is the baseline: bazel build of every deploy target at base, then at head,
// each worktree with its own output base.
func (b *affBench) buildBoth() (time.Duration, time.Duration, error) {
	var ds [2]time.Duration
	for i, slot := range []string{"base", "head"} {
		d, _, err := bazelRun(b.ctx, filepath.Join(b.tdRoot, slot), append([]string{"build"}, b.deploys...)...)
		if err != nil {
			return 0, 0, err
		}
		ds[i] = d
	}
	return ds[0], ds[1], nil
}

// baselineSide times the target-determinator way in the same states as slipwaySide.
func (b *affBench) baselineSide(allCold bool, coldReps, reps int) error {
	for slot, sha := range map[string]string{"base": b.base, "head": b.head} {
		if err := b.checkout(slot, sha); err != nil {
			return err
		}
		b.servers = append(b.servers, filepath.Join(b.tdRoot, slot))
	}
	expungeSlots := func(slots ...string) error {
		for _, slot := range slots {
			if err := expunge(b.ctx, filepath.Join(b.tdRoot, slot)); err != nil {
				return err
			}
		}
		return nil
	}
	if allCold {
		if err := expungeSlots("base", "head"); err != nil {
			return err
		}
		logf("baseline, everything cold: bazel build of %d deploy targets at base, then at head (fresh output bases)", len(b.deploys))
		bd, hd, err := b.buildBoth()
		if err != nil {
			return err
		}
		b.allColdTD, b.allColdParts = append(b.allColdTD, bd+hd), append(b.allColdParts, secs(bd)+" + "+secs(hd))
	}
	logf("baseline: warming the head worktree (bazel build of the deploy targets at head)")
	if _, _, err := bazelRun(b.ctx, filepath.Join(b.tdRoot, "head"), append([]string{"build"}, b.deploys...)...); err != nil {
		return err
	}
	for i := 0; i < coldReps; i++ {
		if err := expungeSlots("base"); err != nil {
			return err
		}
		logf("baseline, cold base run %d: bazel build at base (fresh output base), then at head (warm)", i+1)
		bd, hd, err := b.buildBoth()
		if err != nil {
			return err
		}
		b.coldBaseTD, b.coldBaseParts = append(b.coldBaseTD, bd+hd), append(b.coldBaseParts, secs(bd)+" + "+secs(hd))
	}
	for i := 0; i < reps; i++ {
		bd, hd, err := b.buildBoth()
		if err != nil {
			return err
		}
		b.warmTD = append(b.warmTD, bd+hd)
		logf("baseline warm run %d: %s + %s", i+1, secs(bd), secs(hd))
	}
	return nil
}

// newHeads: a pull request updated (the head commit amended with another change of
// the same service), interleaved: slipway affected (the base snapshot is cached) vs
// building both commits in the warm worktrees, each on a head of its own (a version
// never built before, so that neither side finds the other's outputs in the disk cache).
func (b *affBench) newHeads(reps int) error {
	for i := 0; i < reps; i++ {
		if err := b.commitNewVersion(true); err != nil {
			return err
		}
		d, err := b.affected()
		if err != nil {
			return err
		}
		b.newSlip = append(b.newSlip, d)
		if err := b.commitNewVersion(true); err != nil {
			return err
		}
		sha, err := gen.Git(b.dir, "rev-parse", "HEAD")
		if err != nil {
			return err
		}
		if err := b.checkout("head", sha); err != nil {
			return err
		}
		bd, hd, err := b.buildBoth()
		if err != nil {
			return err
		}
		b.newTD = append(b.newTD, bd+hd)
		logf("new head %d: slipway affected %s; baseline %s + %s", i+1, secs(d), secs(bd), secs(hd))
	}
	return nil
}

func (b *affBench) print(n int) {
	r := newReport("affected")
	defer r.close()
	r.printf("repository %s: %d services; base %s (generated), head %s (changes %s)\n", b.dir, n, b.base[:12], b.head[:12], b.svc)
	r.printf("warming the head workspace (bazel build of //:dev.affected and the deployables) took %s; Bazel's disk cache (--disk_cache in the machine's bazelrc) stays on for every build\n\n", secs(b.warm))
	rows := [][]string{{"state", "slipway affected --base HEAD~1", "runs (s)", "baseline: bazel build all deploy targets at base + at head", "runs (s)", "slipway / baseline"}}
	row := func(state string, s, t []time.Duration, tRuns string) {
		if len(s) == 0 || len(t) == 0 {
			return
		}
		rows = append(rows, []string{state, secs(median(s)), secsList(s), secs(median(t)), tRuns, ratio(median(s), median(t))})
	}
	row("everything cold (every output base fresh)", b.allColdSlip, b.allColdTD, strings.Join(b.allColdParts, "; "))
	row("base cold, head warm (slipway: first run)", b.first, b.coldBaseTD, strings.Join(b.coldBaseParts, "; "))
	row("everything warm (slipway: second run, base snapshot cached)", b.second, b.warmTD, secsList(b.warmTD))
	row("new head commit, the rest warm", b.newSlip, b.newTD, secsList(b.newTD))
	r.table(rows)
	var got []string
	for _, c := range b.lastChanges {
		got = append(got, c.Status+" "+c.Target)
	}
	want := "changed " + gen.DeployLabel(b.svc)
	r.printf("\naffected output: %v\n", got)
	r.printf("slipway's own \"compared in\" times (each run, in order; the rest is bazel run): %s\n", secsList(b.compared))
	r.goal("affected-names-exactly-the-change", fmt.Sprintf("%v", got), "["+want+"]", len(got) == 1 && got[0] == want)
	goal := func(name, state string, s, t []time.Duration) {
		if len(s) == 0 || len(t) == 0 {
			return
		}
		r.goal(name, fmt.Sprintf("%s vs %s (%s)", secs(median(s)), secs(median(t)), ratio(median(s), median(t))), "faster than building both commits, "+state, median(s) < median(t))
	}
	goal("affected-all-cold-vs-building-both", "everything cold", b.allColdSlip, b.allColdTD)
	goal("affected-first-run-vs-building-both", "base cold, head warm", b.first, b.coldBaseTD)
	goal("affected-second-run-vs-building-both", "everything warm", b.second, b.warmTD)
	goal("affected-new-head-vs-building-both", "new head commit, the rest warm", b.newSlip, b.newTD)
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
