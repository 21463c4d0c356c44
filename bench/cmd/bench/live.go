package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/slipway-dev/slipway/internal/cluster"
	"github.com/slipway-dev/slipway/internal/dev"
)

// The live benchmark (issue 12): on the shop copy and a real node, the time from
// writing an edit of the catalog's response string to the new response served
// through the dev loop's port-forward, with live update (a) and with a full
// rollout (b), against the floor (c), `bazel build` of the catalog's binary
// alone, and (d) ibazel running slipway ci over every deploy target.
const (
	liveService  = "catalog"
	livePort     = 28082 // the catalog's forward in the bench copy
	frontendPort = 28081 // the frontend's (8081 in examples/shop): ports no developer's loop uses
	liveTarget   = "//examples/shop/catalog:deploy"
)

// liveURL is where the forward serves the catalog's "ok catalog <version>".
var liveURL = fmt.Sprintf("http://127.0.0.1:%d/healthz", livePort)

func liveAnswer(version string) string { return "ok catalog " + version + "\n" }

var versionValueRE = regexp.MustCompile(`const version = "([^"]*)"`)

// currentVersion is the `const version` a Go file holds now.
func currentVersion(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	m := versionValueRE.FindSubmatch(b)
	if m == nil {
		return "", fmt.Errorf("%s has no `const version = \"...\"` line", path)
	}
	return string(m[1]), nil
}

// liveShopEdits changes the shop copy for this benchmark: the catalog's image
// gets live_update = True and its manifests a port-forward; the frontend's
// forward moves off 8081 (a developer's loop of the shop may hold it).
// prepareShop restores the repository's files first, so `dev --ws shop` runs on
// the files as they were.
func liveShopEdits(w *workspace) error {
	edits := []struct{ file, old, new string }{
		{"examples/shop/catalog/BUILD.bazel", "    binary = \":catalog\",\n", "    binary = \":catalog\",\n    live_update = True,\n"},
		{"examples/shop/catalog/BUILD.bazel", "    namespace = \"shop-{user}\",\n", fmt.Sprintf("    namespace = \"shop-{user}\",\n    port_forwards = {\"%d\": \"deployment/catalog:8080\"},\n", livePort)},
		{"examples/shop/frontend/BUILD.bazel", `"8081": "deployment/frontend:8080"`, fmt.Sprintf(`"%d": "deployment/frontend:8080"`, frontendPort)},
	}
	for _, e := range edits {
		path := filepath.Join(w.dir, e.file)
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		text := string(b)
		if strings.Count(text, e.old) != 1 {
			return fmt.Errorf("%s: want exactly one %q to change (examples/shop changed?)", path, e.old)
		}
		if err := writeFile(path, strings.Replace(text, e.old, e.new, 1)); err != nil {
			return err
		}
	}
	return nil
}

// served is when an answer arrived through the forward.
type served struct {
	at    time.Time
	polls int
	last  string
	err   error
}

// waitServed asks url every `every` on a fresh connection (no keep-alive: each
// request goes through the forward to whichever pod it forwards to now) until
// the body is want.
func waitServed(ctx context.Context, url, want string, every, timeout time.Duration) served {
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	deadline := time.Now().Add(timeout)
	var r served
	for {
		r.polls++
		resp, err := client.Get(url)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && string(b) == want {
				r.at = time.Now()
				return r
			}
			r.last = fmt.Sprintf("%d %q", resp.StatusCode, b)
		} else {
			r.last = err.Error()
		}
		if time.Now().After(deadline) {
			r.err = fmt.Errorf("%s did not answer %q within %s (last: %s)", url, want, timeout, r.last)
			return r
		}
		select {
		case <-ctx.Done():
			r.err = ctx.Err()
			return r
		case <-time.After(every):
		}
	}
}

func pollServed(ctx context.Context, url, want string, every, timeout time.Duration) <-chan served {
	ch := make(chan served, 1)
	go func() { ch <- waitServed(ctx, url, want, every, timeout) }()
	return ch
}

// livePhase is one dev loop's measurements: (a) with live update, or (b) with
// --no-live-update, each interleaved with its own floor (c).
type livePhase struct {
	name        string // "live" or "full"
	flags       []string
	wantMode    string // the deploy mode its cycles should report for the catalog
	firstDeploy time.Duration
	served      []time.Duration // write -> new answer through the forward
	line        []time.Duration // write -> the cycle's JSON line
	applied     []time.Duration // write -> {"type":"applied"} (full deploys only)
	floor       []time.Duration // write -> bazel build of the binary exits
	cycles      []dev.Cycle
	modes       []string // the catalog's deploy mode per cycle
}

func liveCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("live", flag.ExitOnError)
	reps := fs.Int("reps", 5, "edits measured for (a), (b), their floors and (d) each")
	withIBazel := fs.Bool("ibazel", false, "also measure (d): ibazel running //tools/ibazel:ci (slipway ci of every deploy target)")
	every := fs.Duration("poll", 20*time.Millisecond, "how often the forward is asked for the new answer")
	readyTimeout := fs.Duration("ready-timeout", 60*time.Minute, "how long the first full deploy may take")
	keep := fs.Bool("keep-bazel", false, "leave the workspace's Bazel server running")
	_ = fs.Parse(args)

	w, err := prepareShop(workspaceDir("shop"), *withIBazel)
	if err != nil {
		return err
	}
	if err := liveShopEdits(w); err != nil {
		return err
	}
	var svc service
	for _, s := range w.services {
		if s.name == liveService {
			svc = s
		}
	}
	cl, err := benchClusterReal(ctx)
	if err != nil {
		return err
	}
	if !*keep {
		defer func() {
			logf("bazel shutdown in %s", w.dir)
			_, _, _ = bazelRun(context.Background(), w.dir, "shutdown")
		}()
	}
	phases := []*livePhase{
		{name: "live", wantMode: dev.ModeLive},
		{name: "full", flags: []string{"--no-live-update"}, wantMode: dev.ModeFull},
	}
	for _, p := range phases {
		if err := p.run(ctx, w, cl, svc, *reps, *every, *readyTimeout); err != nil {
			return fmt.Errorf("(%s) %w", p.name, err)
		}
	}
	res := &liveResult{ws: w, svc: svc, a: phases[0], b: phases[1], every: *every}
	if *withIBazel {
		// measureIBazel edits w.services[pick(i, n)]: with the catalog alone, the
		// same file as (a) and (b).
		wc := *w
		wc.name, wc.services = "shop-live", []service{svc}
		d := &devResult{ws: &wc}
		if err := measureIBazel(ctx, &wc, cl, *reps, d); err != nil {
			res.ibazelErr = err
			logf("ibazel: %v", err)
		}
		res.ibazel, res.ibazelFirst, res.ibazelNote = d.ibazel, d.ibazelFirst, d.ibazelNote
	}
	res.print()
	return nil
}

// run starts the loop, waits for its first deploy and the forward, then per
// repetition: (1) edit, time write -> the new answer through the forward; (2)
// the floor: loop stopped (SIGSTOP), same kind of edit, bazel build of the
// binary; loop resumed, it deploys that edit (unmeasured, waited for).
func (p *livePhase) run(ctx context.Context, w *workspace, cl *cluster.Cluster, svc service, reps int, every, readyTimeout time.Duration) error {
	file := filepath.Join(w.dir, svc.file)
	logf("(%s) starting the dev loop in %s %s; log: %s", p.name, w.dir, strings.Join(p.flags, " "), filepath.Join(opts.root, "logs", "live-"+p.name+".log"))
	start := time.Now()
	loop, err := startLoopArgs(w, cl, "live-"+p.name, p.flags...)
	if err != nil {
		return err
	}
	defer func() {
		if err := loop.stop(); err != nil {
			logf("stopping the dev loop: %v", err)
		}
	}()
	select {
	case at := <-loop.ready:
		p.firstDeploy = at.Sub(start)
	case err := <-loop.done:
		return fmt.Errorf("the dev loop exited before it was ready (%v); see %s", err, loop.log)
	case <-time.After(readyTimeout):
		return fmt.Errorf("the dev loop was not ready within %s; see %s", readyTimeout, loop.log)
	case <-ctx.Done():
		return ctx.Err()
	}
	cur, err := currentVersion(file)
	if err != nil {
		return err
	}
	if s := waitServed(ctx, liveURL, liveAnswer(cur), every, 3*time.Minute); s.err != nil {
		return fmt.Errorf("the forward: %v (the loop's problems: %q; see %s)", s.err, loop.problemsSoFar(), loop.log)
	}
	logf("(%s) ready after %s; %s answers %q", p.name, p.firstDeploy.Round(time.Second), liveURL, liveAnswer(cur))
	time.Sleep(3 * time.Second) // the first deploy's cycles settle
	drain(loop.cycles)
	pid := loop.pid()
	if pid == 0 {
		return fmt.Errorf("no slipway process under pid %d", loop.cmd.Process.Pid)
	}
	// Warm the floor: its first build in the top-level configuration builds the
	// standard library there; nothing changed, so no cycle follows.
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		return err
	}
	logf("(%s) warming the floor: bazel build %s", p.name, svc.binary)
	_, _, werr := bazelRun(ctx, w.dir, "build", svc.binary)
	_ = syscall.Kill(pid, syscall.SIGCONT)
	if werr != nil {
		return werr
	}

	for i := 0; i < reps && ctx.Err() == nil; i++ {
		t0, v, err := editVersion(file, svc.name)
		if err != nil {
			return err
		}
		ans := pollServed(ctx, liveURL, liveAnswer(v), every, 5*time.Minute)
		tc, err := loop.waitCycle(svc.file, 10*time.Minute)
		if err != nil {
			return err
		}
		s := <-ans
		if s.err != nil {
			return fmt.Errorf("%v (see %s)", s.err, loop.log)
		}
		mode := "none"
		for _, d := range tc.c.Deploys {
			if d.Target == liveTarget {
				mode = d.Mode
				if d.Error != "" {
					mode += " (error: " + d.Error + ")"
				}
			}
		}
		p.served = append(p.served, s.at.Sub(t0))
		p.line = append(p.line, tc.at.Sub(t0))
		if at, ok := loop.appliedAt(tc.c.N); ok {
			p.applied = append(p.applied, at.Sub(t0))
		}
		p.cycles = append(p.cycles, tc.c)
		p.modes = append(p.modes, mode)

		// The floor, the loop stopped so that it does not build at the same time.
		floor, v1, err := measureFloor(ctx, pid, w.dir, file, svc.name, svc.binary)
		if err != nil {
			return err
		}
		p.floor = append(p.floor, floor)
		if _, err := loop.waitCycle(svc.file, 10*time.Minute); err != nil {
			return err
		}
		if s := waitServed(ctx, liveURL, liveAnswer(v1), every, 5*time.Minute); s.err != nil {
			return s.err
		}
		logf("(%s) rep %d: served %s (cycle line %s, %s, cycle %d ms: %v; %d polls), floor %s", p.name, i+1,
			ms(s.at.Sub(t0)), ms(tc.at.Sub(t0)), mode, tc.c.TotalMillis, tc.c.PhaseMillis, s.polls, ms(floor))
		time.Sleep(time.Second) // a rollout's old pod goes away
	}
	return nil
}

type liveResult struct {
	ws          *workspace
	svc         service
	a, b        *livePhase
	every       time.Duration
	ibazel      []time.Duration
	ibazelFirst time.Duration
	ibazelErr   error
	ibazelNote  string
}

// row is a measurement's median, range and runs.
func row(name string, ds []time.Duration) []string {
	if len(ds) == 0 {
		return []string{name, "-", "", ""}
	}
	lo, hi := minMax(ds)
	return []string{name, ms(median(ds)), ms(lo) + ".." + ms(hi), list(ds)}
}

// phaseText is a phase's cycles' phaseMillis medians and totalMillis.
func (p *livePhase) phaseText() (string, []int64) {
	phases := map[dev.State][]int64{}
	var totals []int64
	for _, c := range p.cycles {
		totals = append(totals, c.TotalMillis)
		for s, v := range c.PhaseMillis {
			phases[s] = append(phases[s], v)
		}
	}
	var parts []string
	for _, s := range []dev.State{dev.Indexing, dev.Building, dev.Syncing, dev.Pushing, dev.Applying, dev.Waiting} {
		if v, ok := phases[s]; ok {
			parts = append(parts, fmt.Sprintf("%s %d", s, medianInt(v)))
		}
	}
	return strings.Join(parts, ", "), totals
}

func (p *livePhase) modeText() string {
	n := 0
	for _, m := range p.modes {
		if m == p.wantMode {
			n++
		}
	}
	text := fmt.Sprintf("%s in %d of %d cycles", p.wantMode, n, len(p.modes))
	if n != len(p.modes) {
		text += fmt.Sprintf(" (all: %s)", strings.Join(p.modes, ", "))
	}
	return text
}

// breakdown splits write -> served, per repetition, into: before the cycle
// starts (write -> cycle start, from the line's arrival less totalMillis), the
// cycle's phases, the rest of the cycle (what no phase holds), and cycle line ->
// served (negative when the new answer came before the cycle's line); medians.
func (p *livePhase) breakdown() map[string]int64 {
	parts := map[string][]int64{}
	for i, c := range p.cycles {
		line := p.line[i].Milliseconds()
		parts["pre"] = append(parts["pre"], line-c.TotalMillis)
		var sum int64
		for _, s := range []dev.State{dev.Indexing, dev.Building, dev.Syncing, dev.Pushing, dev.Applying, dev.Waiting} {
			parts[string(s)] = append(parts[string(s)], c.PhaseMillis[s])
			sum += c.PhaseMillis[s]
		}
		parts["rest"] = append(parts["rest"], c.TotalMillis-sum)
		parts["after"] = append(parts["after"], p.served[i].Milliseconds()-line)
	}
	out := map[string]int64{}
	for k, v := range parts {
		out[k] = medianInt(v)
	}
	return out
}

func (res *liveResult) print() {
	r := newReport("live")
	defer r.close()
	a, b := res.a, res.b
	r.printf("workspace %s (real node), dev target %s; the edit: `const version` of %s, which GET /healthz answers (\"ok catalog <version>\"), to a never-used value\n",
		res.ws.dir, res.ws.devTarget, res.svc.file)
	r.printf("served = a fresh HTTP request through the loop's port-forward %s answers the new string (asked every %s)\n", liveURL, res.every)
	r.printf("first full deploy (loop start -> ready): (a) loop %s, (b) loop %s\n\n", secs(a.firstDeploy), secs(b.firstDeploy))
	aPhases, aTotals := a.phaseText()
	bPhases, bTotals := b.phaseText()
	rows := [][]string{{"measurement", "median", "min..max", "runs (ms)"}}
	rows = append(rows, row("(a) live update: write -> new answer through the forward", a.served))
	rows = append(rows, row("    write -> the cycle's line", a.line))
	rows = append(rows, []string{"    its cycles' totalMillis", fmt.Sprintf("%d ms", medianInt(aTotals)), "", fmt.Sprint(aTotals)})
	rows = append(rows, []string{"    its cycles' phaseMillis (medians)", aPhases, "", ""})
	rows = append(rows, []string{"    deploy mode", a.modeText(), "", ""})
	rows = append(rows, row("(c) floor, with (a): write -> bazel build "+res.svc.binary+" exits", a.floor))
	rows = append(rows, row("(b) full rollout (--no-live-update): write -> new answer through the forward", b.served))
	rows = append(rows, row("    write -> applied (its \"applied\" line)", b.applied))
	rows = append(rows, row("    write -> the cycle's line (rollout ready)", b.line))
	rows = append(rows, []string{"    its cycles' totalMillis", fmt.Sprintf("%d ms", medianInt(bTotals)), "", fmt.Sprint(bTotals)})
	rows = append(rows, []string{"    its cycles' phaseMillis (medians)", bPhases, "", ""})
	rows = append(rows, []string{"    deploy mode", b.modeText(), "", ""})
	rows = append(rows, row("(c) floor, with (b): write -> bazel build "+res.svc.binary+" exits", b.floor))
	if len(res.ibazel) > 0 {
		rows = append(rows, row("(d) ibazel run //tools/ibazel:ci: write -> slipway ci done (every object ready)", res.ibazel))
	}
	r.table(rows)
	if res.ibazelFirst > 0 {
		r.printf("ibazel's first full run (start -> ci done): %s\n", secs(res.ibazelFirst))
	}
	if res.ibazelNote != "" {
		r.printf("ibazel: %s\n", res.ibazelNote)
	}

	// Where the time beyond the floor goes.
	r.printf("\nwhere the time beyond the floor goes (medians of each part, per repetition; they need not add up):\n")
	brow := func(name string, p *livePhase) []string {
		bd := p.breakdown()
		f := median(p.floor).Milliseconds()
		return []string{name, fmt.Sprintf("%d ms", median(p.served).Milliseconds()-f), fmt.Sprintf("%d ms", bd["pre"]),
			fmt.Sprintf("%d ms", bd[string(dev.Indexing)]), fmt.Sprintf("%d ms", bd[string(dev.Building)]-f),
			fmt.Sprintf("%d ms", bd[string(dev.Syncing)]), fmt.Sprintf("%d ms", bd[string(dev.Pushing)]),
			fmt.Sprintf("%d ms", bd[string(dev.Applying)]), fmt.Sprintf("%d ms", bd[string(dev.Waiting)]),
			fmt.Sprintf("%d ms", bd["rest"]), fmt.Sprintf("%d ms", bd["after"])}
	}
	r.table([][]string{
		{"", "served - floor", "before the cycle", "index", "build - floor", "sync", "push", "apply", "ready", "rest of the cycle", "cycle line -> served"},
		brow("(a) live", a),
		brow("(b) full", b),
	})

	r.printf("\nnot like for like:\n")
	r.printf("- (a) builds the image's live_binary output group (the binary in the image's configuration), (c) the go_binary in the top-level one; the copy's go_binary has pure = \"on\", so both are the same static, cgo-free link. (c) runs with the loop stopped (SIGSTOP), in the same Bazel server.\n")
	r.printf("- (a) and (b) end when an HTTP answer through the forward holds the new string (up to %s late: the polling), (c) when bazel exits.\n", res.every)
	r.printf("- (a) and (b) are two dev loops run one after the other, each interleaved with its own floor; each goal uses its own loop's floor.\n")
	if len(res.ibazel) > 0 || res.ibazelErr != nil {
		r.printf("- (d) ends when slipway ci is done (every object of the four shop services applied and ready), not at an answer through a port-forward (ci opens none; the forward's reconnect is not in (d)); it runs after (a) and (b), not interleaved with them, and deploys every service, where the loop deploys the catalog alone.\n")
	}

	mA, fA := median(a.served), median(a.floor)
	budgetA := time.Duration(1.1*float64(fA)) + 200*time.Millisecond
	r.printf("\nRATIO (a)/(c) = %s, (b)/(c) = %s, (b)/(a) = %s\n", ratio(mA, fA), ratio(median(b.served), median(b.floor)), ratio(median(b.served), mA))
	r.goal("live-update-vs-floor-shop", fmt.Sprintf("%s live (median of %d; %s)", ms(mA), len(a.served), a.modeText()),
		fmt.Sprintf("<= 1.1 x %s floor + 200 ms = %s", ms(fA), ms(budgetA)), len(a.served) > 0 && mA <= budgetA)
	mB, fB := median(b.served), median(b.floor)
	budgetB := fB + 1500*time.Millisecond
	r.goal("full-rollout-vs-floor-shop", fmt.Sprintf("%s full rollout (median of %d)", ms(mB), len(b.served)),
		fmt.Sprintf("<= %s floor + 1.5 s = %s", ms(fB), ms(budgetB)), len(b.served) > 0 && mB <= budgetB)
	switch {
	case len(res.ibazel) > 0:
		mI := median(res.ibazel)
		r.goal("live-update-vs-ibazel-shop", fmt.Sprintf("ibazel %s / live %s = %s (ibazel to ci done, live to the answer through the forward)", ms(mI), ms(mA), ratio(mI, mA)),
			">= 5x faster", float64(mI) >= 5*float64(mA))
	case res.ibazelErr != nil:
		r.na("live-update-vs-ibazel-shop", res.ibazelErr.Error())
	default:
		r.na("live-update-vs-ibazel-shop", "(d) not run: pass --ibazel")
	}
}
