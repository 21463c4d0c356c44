package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/slipway-dev/slipway/internal/cluster"
	"github.com/slipway-dev/slipway/internal/dev"
)

// devLoop is `bazel run <dev target> -- --json` running in a workspace.
type devLoop struct {
	cmd    *exec.Cmd
	cycles chan timedCycle
	ready  chan time.Time
	// applied holds when each cycle's {"type":"applied"} line arrived.
	appliedMu sync.Mutex
	applied   map[int]time.Time
	done      chan error
	log       string
	// problems are the loop's {"type":"problem"} errors (a taken port, say).
	problems []string

	stopped bool
}

type timedCycle struct {
	at time.Time
	c  dev.Cycle
}

func startLoop(w *workspace, cl *cluster.Cluster) (*devLoop, error) {
	return startLoopArgs(w, cl, "dev-"+w.name)
}

// startLoopArgs starts the loop with more flags for slipway dev (such as
// --no-live-update), logging to <root>/logs/<logName>.log.
func startLoopArgs(w *workspace, cl *cluster.Cluster, logName string, extra ...string) (*devLoop, error) {
	logPath := filepath.Join(opts.root, "logs", logName+".log")
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		return nil, err
	}
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command("bazel", append([]string{"run", "--ui_event_filters=-info,-stdout,-stderr", "--noshow_progress", w.devTarget, "--",
		"--json", "--kubeconfig=" + cl.Kubeconfig, "--context=" + cl.Context}, extra...)...)
	cmd.Dir = w.dir
	// $USER stays as it is: Bazel's output root (and so the server the floor's
	// builds use) depends on it. Namespaces are <workspace>-$USER.
	cmd.Env = os.Environ()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Stderr = logFile
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	d := &devLoop{cmd: cmd, cycles: make(chan timedCycle, 1000), ready: make(chan time.Time, 1), done: make(chan error, 1), log: logPath,
		applied: map[int]time.Time{}}
	lines := make(chan line, 1000)
	go readLines(stdout, lines, logFile)
	go func() {
		readyOnce := false
		for l := range lines {
			var kind struct{ Type string }
			if json.Unmarshal([]byte(l.text), &kind) != nil {
				continue
			}
			switch kind.Type {
			case "cycle":
				var c dev.Cycle
				if json.Unmarshal([]byte(l.text), &c) == nil {
					d.cycles <- timedCycle{l.at, c}
				}
			case "applied":
				var a struct{ Cycle int }
				if json.Unmarshal([]byte(l.text), &a) == nil {
					d.appliedMu.Lock()
					d.applied[a.Cycle] = l.at
					d.appliedMu.Unlock()
				}
			case "problem":
				var p struct{ Error string }
				if json.Unmarshal([]byte(l.text), &p) == nil {
					d.appliedMu.Lock()
					d.problems = append(d.problems, p.Error)
					d.appliedMu.Unlock()
				}
			case "ready":
				if !readyOnce {
					readyOnce = true
					d.ready <- l.at
				}
			}
		}
		d.done <- cmd.Wait()
		logFile.Close()
	}()
	return d, nil
}

// appliedAt is when a cycle said it had applied its changes (the JSON line comes
// before the cycle's own, so it is known once the cycle line is).
func (d *devLoop) appliedAt(cycle int) (time.Time, bool) {
	d.appliedMu.Lock()
	defer d.appliedMu.Unlock()
	t, ok := d.applied[cycle]
	return t, ok
}

// problemsSoFar are the problems the loop reported until now.
func (d *devLoop) problemsSoFar() []string {
	d.appliedMu.Lock()
	defer d.appliedMu.Unlock()
	return slices.Clone(d.problems)
}

// pid is the slipway process (bazel run execs the launcher, which execs slipway).
func (d *devLoop) pid() int { return findProc(d.cmd.Process.Pid, "slipway") }

func (d *devLoop) stop() error {
	if d.stopped {
		return nil
	}
	d.stopped = true
	return stopGroup(d.cmd, d.done, 60*time.Second)
}

// waitCycle returns the first cycle that did something with file (no-ops,
// canceled and retried cycles skipped), and when its JSON line arrived.
func (d *devLoop) waitCycle(file string, timeout time.Duration) (timedCycle, error) {
	deadline := time.After(timeout)
	for {
		select {
		case tc := <-d.cycles:
			if tc.c.Outcome == dev.NoOp || tc.c.Outcome == dev.Canceled || tc.c.Outcome == dev.Retrying {
				continue
			}
			if !slices.Contains(tc.c.Files, file) {
				continue
			}
			if tc.c.Outcome != dev.OK {
				return tc, fmt.Errorf("cycle %d for %s: %s %v", tc.c.N, file, tc.c.Outcome, tc.c.Errors)
			}
			return tc, nil
		case err := <-d.done:
			d.done <- err
			return timedCycle{}, fmt.Errorf("the dev loop exited (%v); see %s", err, d.log)
		case <-deadline:
			return timedCycle{}, fmt.Errorf("no cycle for %s within %s; see %s", file, timeout, d.log)
		}
	}
}

func devCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("dev", flag.ExitOnError)
	wsName := fs.String("ws", "gen20", "workspace: shop, gen20, gen200 (genN)")
	reps := fs.Int("reps", 5, "edits measured for the loop, the floor and ibazel each")
	withIBazel := fs.Bool("ibazel", false, "also measure ibazel running //tools/ibazel:ci (slipway ci of every deploy target)")
	idle := fs.Duration("idle", 30*time.Second, "idle period over which the loop's CPU use is measured")
	readyTimeout := fs.Duration("ready-timeout", 90*time.Minute, "how long the first full deploy may take")
	realIndex := fs.Bool("real-index", false, "after the loop, time Index.Affected on this workspace's real cquery graph (index benchmark)")
	keep := fs.Bool("keep-bazel", false, "leave the workspace's Bazel server running")
	_ = fs.Parse(args)

	w, err := prepareWorkspace(*wsName, *withIBazel)
	if err != nil {
		return err
	}
	cl, err := benchCluster(ctx)
	if err != nil {
		return err
	}
	if !*keep {
		defer func() {
			logf("bazel shutdown in %s", w.dir)
			_, _, _ = bazelRun(context.Background(), w.dir, "shutdown")
		}()
	}
	res := &devResult{ws: w}

	// The loop: first deploy, idle, then edits interleaved with the floor.
	logf("starting the dev loop in %s (%d services); log: %s", w.dir, len(w.services), filepath.Join(opts.root, "logs", "dev-"+w.name+".log"))
	loopStart := time.Now()
	loop, err := startLoop(w, cl)
	if err != nil {
		return err
	}
	defer func() { _ = loop.stop() }()
	select {
	case at := <-loop.ready:
		res.firstDeploy = at.Sub(loopStart)
	case err := <-loop.done:
		return fmt.Errorf("the dev loop exited before it was ready (%v); see %s", err, loop.log)
	case <-time.After(*readyTimeout):
		return fmt.Errorf("the dev loop was not ready within %s; see %s", *readyTimeout, loop.log)
	case <-ctx.Done():
		return ctx.Err()
	}
	logf("ready after %s", res.firstDeploy.Round(time.Second))
	pid := loop.pid()
	if pid == 0 {
		return fmt.Errorf("no slipway process under pid %d", loop.cmd.Process.Pid)
	}
	time.Sleep(5 * time.Second) // the first deploy's cycles settle
	drain(loop.cycles)
	s0, err := readProc(pid)
	if err != nil {
		return err
	}
	logf("idle for %s (slipway pid %d)", *idle, pid)
	time.Sleep(*idle)
	s1, err := readProc(pid)
	if err != nil {
		return err
	}
	res.idleCPU, res.idleFor, res.idleRSS = s1.cpu-s0.cpu, *idle, s1.rssKiB

	// Warm the floor: build the binaries it will build once, unmeasured (their
	// first build in the top-level configuration also builds Go's standard
	// library there), with the loop stopped; nothing changed, so no cycle follows.
	var warmTargets []string
	for i := 0; i < *reps; i++ {
		if b := w.services[pick(i, len(w.services))].binary; !slices.Contains(warmTargets, b) {
			warmTargets = append(warmTargets, b)
		}
	}
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		return err
	}
	logf("warming the floor: bazel build %s", strings.Join(warmTargets, " "))
	_, _, werr := bazelRun(ctx, w.dir, append([]string{"build"}, warmTargets...)...)
	_ = syscall.Kill(pid, syscall.SIGCONT)
	if werr != nil {
		return werr
	}

	for i := 0; i < *reps && ctx.Err() == nil; i++ {
		svc := w.services[pick(i, len(w.services))]
		// (1) The loop: write -> its "applied" line (the change is in the cluster),
		// and write -> the cycle's line (after waiting until ready).
		t0, _, err := editVersion(filepath.Join(w.dir, svc.file), svc.name)
		if err != nil {
			return err
		}
		tc, err := loop.waitCycle(svc.file, 10*time.Minute)
		if err != nil {
			return err
		}
		applied, ok := loop.appliedAt(tc.c.N)
		if !ok {
			return fmt.Errorf("cycle %d for %s applied nothing", tc.c.N, svc.file)
		}
		lat := applied.Sub(t0)
		res.loop = append(res.loop, lat)
		res.loopReady = append(res.loopReady, tc.at.Sub(t0))
		res.cycles = append(res.cycles, tc.c)
		// (2) The floor: the same edit, then bazel build of that binary alone, with
		// the loop stopped (SIGSTOP) so that it does not build at the same time.
		floor, _, err := measureFloor(ctx, pid, w.dir, filepath.Join(w.dir, svc.file), svc.name, svc.binary)
		if err != nil {
			return err
		}
		res.floor = append(res.floor, floor)
		// The loop now deploys the floor's edit: wait for it, unmeasured.
		if _, err := loop.waitCycle(svc.file, 10*time.Minute); err != nil {
			return err
		}
		logf("rep %d (%s): loop %s (cycle %d ms: %v), floor %s", i+1, svc.name, ms(lat), tc.c.TotalMillis, tc.c.PhaseMillis, ms(floor))
	}
	if s, err := readProc(pid); err == nil {
		res.endRSS, res.hwm = s.rssKiB, s.hwmKiB
	}
	if err := loop.stop(); err != nil {
		logf("stopping the dev loop: %v", err)
	}

	var idx *indexResult
	if *realIndex {
		idx = realIndexOf(ctx, w)
	}

	if *withIBazel {
		if err := measureIBazel(ctx, w, cl, *reps, res); err != nil {
			res.ibazelErr = err
			logf("ibazel: %v", err)
		}
	}
	res.print(idx)
	return nil
}

// pick spreads the edits over the services.
func pick(i, n int) int { return (i*7 + 3) % n }

func drain(c chan timedCycle) {
	for len(c) > 0 {
		<-c
	}
}

type devResult struct {
	ws                 *workspace
	firstDeploy        time.Duration
	idleCPU, idleFor   time.Duration
	idleRSS            int64
	endRSS, hwm        int64
	loop, floor        []time.Duration // the loop: write -> applied
	loopReady          []time.Duration // the loop: write -> ready (the cycle's end)
	cycles             []dev.Cycle
	ibazel             []time.Duration
	ibazelFirst        time.Duration
	ibazelErr          error
	ibazelNote         string
	ibazelFailedDeploy int
}

func (res *devResult) print(idx *indexResult) {
	r := newReport("dev-" + res.ws.name)
	defer r.close()
	w := res.ws
	r.printf("workspace %s: %d services, dev target %s; first full deploy (loop start -> ready) %s\n", w.dir, len(w.services), w.devTarget, secs(res.firstDeploy))
	r.printf("each edit rewrites `const version = \"...\"` of one service's Go file to a never-used value\n\n")
	mLoop, mFloor := median(res.loop), median(res.floor)
	phases := map[dev.State][]int64{}
	var totals []int64
	for _, c := range res.cycles {
		totals = append(totals, c.TotalMillis)
		for p, v := range c.PhaseMillis {
			phases[p] = append(phases[p], v)
		}
	}
	var names []string
	for p := range phases {
		names = append(names, string(p))
	}
	sort.Strings(names)
	var phaseText []string
	for _, p := range names {
		phaseText = append(phaseText, fmt.Sprintf("%s %d", p, medianInt(phases[dev.State(p)])))
	}
	rows := [][]string{{"measurement", "median", "min..max", "runs (ms)"}}
	lo, hi := minMax(res.loop)
	rows = append(rows, []string{"loop: write -> applied (its \"applied\" line)", ms(mLoop), ms(lo) + ".." + ms(hi), list(res.loop)})
	lo, hi = minMax(res.loopReady)
	rows = append(rows, []string{"loop: write -> ready (the cycle's line)", ms(median(res.loopReady)), ms(lo) + ".." + ms(hi), list(res.loopReady)})
	rows = append(rows, []string{"  its cycles' totalMillis", fmt.Sprintf("%d ms", medianInt(totals)), "", fmt.Sprint(totals)})
	rows = append(rows, []string{"  its cycles' phaseMillis (medians)", strings.Join(phaseText, ", "), "", ""})
	lo, hi = minMax(res.floor)
	rows = append(rows, []string{"floor: write -> bazel build <one binary> exits", ms(mFloor), ms(lo) + ".." + ms(hi), list(res.floor)})
	if len(res.ibazel) > 0 {
		lo, hi = minMax(res.ibazel)
		rows = append(rows, []string{"ibazel run //tools/ibazel:ci: write -> slipway ci done", ms(median(res.ibazel)), ms(lo) + ".." + ms(hi), list(res.ibazel)})
	}
	r.table(rows)
	if res.ibazelFirst > 0 {
		r.printf("ibazel's first full run (start -> ci done): %s\n", secs(res.ibazelFirst))
	}
	if res.ibazelNote != "" {
		r.printf("ibazel: %s\n", res.ibazelNote)
	}
	// Where the loop's time goes beyond the floor's (medians): the wait before the
	// cycle starts (a tenth of the debounce; the rest overlaps the build) and the
	// JSON line (write -> cycle start, cycle end -> line), the build phase beyond the
	// floor's build (the layer, image and manifests actions, the build event file),
	// and deploying (push, apply; waiting until ready comes after "applied").
	var outside []int64
	for i, c := range res.cycles {
		outside = append(outside, res.loopReady[i].Milliseconds()-c.TotalMillis)
	}
	med := func(p dev.State) int64 { return medianInt(phases[p]) }
	r.printf("\nloop - floor = %d ms, of which (medians): outside the cycle (its early start, a tenth of the debounce; reporting) %d ms, build phase - floor %d ms, push %d ms, apply %d ms; then ready %d ms\n",
		(mLoop - mFloor).Milliseconds(), medianInt(outside), med(dev.Building)-mFloor.Milliseconds(), med(dev.Pushing), med(dev.Applying), med(dev.Waiting))
	budget := time.Duration(1.15*float64(mFloor)) + 150*time.Millisecond
	r.printf("RATIO loop/floor = %s (goal budget 1.15 x floor + 150 ms = %s)\n", ratio(mLoop, mFloor), ms(budget))
	r.goal("dev-loop-vs-floor-"+w.name, fmt.Sprintf("%s loop (median of %d)", ms(mLoop), len(res.loop)),
		fmt.Sprintf("<= 1.15 x %s floor + 150 ms = %s", ms(mFloor), ms(budget)), len(res.loop) > 0 && mLoop <= budget)
	switch {
	case len(res.ibazel) > 0:
		// Both sides wait until ready here: ibazel's target runs slipway ci, which does.
		mI, mReady := median(res.ibazel), median(res.loopReady)
		r.printf("RATIO ibazel/loop = %s (write -> ready on both sides)\n", ratio(mI, mReady))
		r.goal("dev-loop-vs-ibazel-"+w.name, fmt.Sprintf("ibazel %s / loop %s = %s", ms(mI), ms(mReady), ratio(mI, mReady)), ">= 3x faster", float64(mI) >= 3*float64(mReady))
	case res.ibazelErr != nil:
		r.na("dev-loop-vs-ibazel-"+w.name, res.ibazelErr.Error())
	}
	r.printf("\nslipway process: VmRSS %s idle after the first deploy, %s after the edits, peak (VmHWM) %s\n", mib(res.idleRSS*1024), mib(res.endRSS*1024), mib(res.hwm*1024))
	r.goal("watcher-rss-"+w.name, fmt.Sprintf("VmRSS %.1f MB (%s) idle, %.1f MB after the edits", float64(res.idleRSS)*1024/1e6, mib(res.idleRSS*1024), float64(res.endRSS)*1024/1e6), "<= 150 MB", max(res.idleRSS, res.endRSS)*1024 <= 150e6)
	perSec := res.idleCPU.Seconds() / res.idleFor.Seconds()
	r.goal("idle-cpu-"+w.name, fmt.Sprintf("%.2f CPU-s over %s idle (%.2f%% of a core)", res.idleCPU.Seconds(), res.idleFor, 100*perSec), "near zero: <= 1% of a core", perSec <= 0.01)
	if idx != nil {
		idx.print(r)
	}
}

// measureIBazel runs `ibazel run //tools/ibazel:ci` and times write -> ci done.
func measureIBazel(ctx context.Context, w *workspace, cl *cluster.Cluster, reps int, res *devResult) error {
	bin, err := ibazelBinary(ctx)
	if err != nil {
		return err
	}
	t, err := buildTools(ctx, false)
	if err != nil {
		return err
	}
	logPath := filepath.Join(opts.root, "logs", "ibazel-"+w.name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logFile.Close()
	cmd := exec.Command(bin, "run", "//tools/ibazel:ci", "--", "--kubeconfig="+cl.Kubeconfig, "--context="+cl.Context)
	cmd.Dir = w.dir
	// The slipway that Bazel builds runs inside Bazel's root on this machine; ibazel
	// runs the target outside it, so the target runs a host build of the same code.
	cmd.Env = append(os.Environ(), "SLIPWAY_BENCH_BIN="+t.slipway)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	cmd.Stderr = cmd.Stdout
	logf("starting ibazel in %s; log: %s", w.dir, logPath)
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan error, 1)
	lines := make(chan line, 10000)
	go readLines(out, lines, logFile)
	markers := make(chan line, 100)
	go func() {
		for l := range lines {
			if strings.HasPrefix(l.text, "SLIPWAY-BENCH-CI-DONE") {
				markers <- l
			}
		}
		done <- cmd.Wait()
	}()
	defer func() {
		if err := stopGroup(cmd, done, 30*time.Second); err != nil {
			logf("stopping ibazel: %v", err)
		}
	}()
	wait := func(timeout time.Duration) (line, error) {
		select {
		case l := <-markers:
			return l, nil
		case err := <-done:
			done <- err
			return line{}, fmt.Errorf("ibazel exited (%v); see %s", err, logPath)
		case <-time.After(timeout):
			return line{}, fmt.Errorf("no ci run finished within %s; see %s", timeout, logPath)
		case <-ctx.Done():
			return line{}, ctx.Err()
		}
	}
	first, err := wait(60 * time.Minute)
	if err != nil {
		return err
	}
	res.ibazelFirst = first.at.Sub(start)
	if !strings.HasSuffix(first.text, "rc=0") {
		return fmt.Errorf("the first ci run under ibazel failed (%s); see %s", first.text, logPath)
	}
	time.Sleep(2 * time.Second)
	for i := 0; i < reps && ctx.Err() == nil; i++ {
		svc := w.services[pick(i, len(w.services))]
		t0, _, err := editVersion(filepath.Join(w.dir, svc.file), svc.name)
		if err != nil {
			return err
		}
		l, err := wait(20 * time.Minute)
		if err != nil {
			return err
		}
		if !strings.HasSuffix(l.text, "rc=0") {
			res.ibazelFailedDeploy++
		}
		res.ibazel = append(res.ibazel, l.at.Sub(t0))
		logf("ibazel rep %d (%s): %s (%s)", i+1, svc.name, ms(l.at.Sub(t0)), l.text)
		time.Sleep(time.Second)
	}
	if res.ibazelFailedDeploy > 0 {
		res.ibazelNote = fmt.Sprintf("%d of %d ci runs exited non-zero (see %s)", res.ibazelFailedDeploy, len(res.ibazel), logPath)
	}
	return nil
}

// ibazelBinary installs @bazel/ibazel from the npm registry (its package ships
// static binaries per platform) and returns the Linux one.
func ibazelBinary(ctx context.Context) (string, error) {
	dir := filepath.Join(opts.root, "npm")
	bin := filepath.Join(dir, "node_modules", "@bazel", "ibazel", "bin", "linux_amd64", "ibazel")
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	if err := writeFile(filepath.Join(dir, "package.json"), `{"name": "slipway-bench-tools", "private": true}`+"\n"); err != nil {
		return "", err
	}
	_, _, err := run(ctx, dir, nil, "npm", "install", "--no-save", "@bazel/ibazel@0.28.0")
	if err != nil {
		// This machine's npm is set up with a CA bundle node rejects; the egress CA alone works.
		const ca = "/usr/local/share/ca-certificates/sandboxing-egress-ca.crt"
		if _, serr := os.Stat(ca); serr == nil {
			_, _, err = run(ctx, dir, nil, "npm", "--cafile="+ca, "install", "--no-save", "@bazel/ibazel@0.28.0")
		}
	}
	if err != nil {
		return "", fmt.Errorf("npm install @bazel/ibazel: %w", err)
	}
	if _, err := os.Stat(bin); err != nil {
		return "", errors.New("@bazel/ibazel has no bin/linux_amd64/ibazel")
	}
	return bin, nil
}
