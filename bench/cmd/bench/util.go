package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
)

// report collects a benchmark's output: a table and GOAL lines, printed to stdout
// and appended to <root>/results/<name>.txt.
type report struct {
	name  string
	out   io.Writer
	file  *os.File
	goals []string
}

func newReport(name string) *report {
	r := &report{name: name, out: os.Stdout}
	dir := filepath.Join(opts.root, "results")
	if err := os.MkdirAll(dir, 0o755); err == nil {
		if f, err := os.OpenFile(filepath.Join(dir, name+".txt"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err == nil {
			r.file = f
			r.out = io.MultiWriter(os.Stdout, f)
		}
	}
	r.printf("\n=== %s benchmark, %s (host %s, %d cores, load %s)\n", name, time.Now().Format(time.RFC3339), hostname(), numCPU(), loadavg())
	return r
}

func (r *report) printf(format string, args ...any) { fmt.Fprintf(r.out, format, args...) }

// table prints rows (the first is the header) aligned in columns.
func (r *report) table(rows [][]string) {
	tw := tabwriter.NewWriter(r.out, 0, 4, 2, ' ', 0)
	for _, row := range rows {
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	tw.Flush()
}

// goal prints GOAL <name>: <measured> vs <goal> -> PASS|MISS.
func (r *report) goal(name, measured, goal string, pass bool) {
	verdict := "MISS"
	if pass {
		verdict = "PASS"
	}
	line := fmt.Sprintf("GOAL %s: %s vs %s -> %s", name, measured, goal, verdict)
	r.goals = append(r.goals, line)
	r.printf("%s\n", line)
}

// na prints a goal that could not be measured.
func (r *report) na(name, why string) {
	line := fmt.Sprintf("GOAL %s: not measured (%s) -> MISS", name, why)
	r.goals = append(r.goals, line)
	r.printf("%s\n", line)
}

func (r *report) close() {
	if r.file != nil {
		r.file.Close()
	}
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[bench %s] %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// median of durations (the mean of the middle two for an even count).
func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func medianInt(xs []int64) int64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]int64(nil), xs...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func minMax(ds []time.Duration) (time.Duration, time.Duration) {
	if len(ds) == 0 {
		return 0, 0
	}
	lo, hi := ds[0], ds[0]
	for _, d := range ds {
		lo, hi = min(lo, d), max(hi, d)
	}
	return lo, hi
}

// ms formats a duration in milliseconds.
func ms(d time.Duration) string { return fmt.Sprintf("%d ms", d.Milliseconds()) }

// secs formats a duration in seconds with one decimal.
func secs(d time.Duration) string { return fmt.Sprintf("%.1f s", d.Seconds()) }

func ratio(a, b time.Duration) string {
	if b == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2fx", float64(a)/float64(b))
}

func list(ds []time.Duration) string {
	parts := make([]string, len(ds))
	for i, d := range ds {
		parts[i] = strconv.FormatInt(d.Milliseconds(), 10)
	}
	return strings.Join(parts, " ")
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

func hostname() string { h, _ := os.Hostname(); return h }

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func numCPU() int {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return 0
	}
	return strings.Count(string(b), "\nprocessor") + 1
}

// run runs a command in dir, returning its wall time and combined output.
func run(ctx context.Context, dir string, env []string, name string, args ...string) (time.Duration, string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 30 * time.Second
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	d := time.Since(start)
	if err != nil {
		return d, out.String(), fmt.Errorf("%s %s (in %s): %v\n%s", name, strings.Join(args, " "), dir, err, tail(out.String(), 30))
	}
	return d, out.String(), nil
}

// runStdout is run with stdout apart from stderr.
func runStdout(ctx context.Context, dir string, name string, args ...string) (time.Duration, string, string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 30 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	d := time.Since(start)
	if err != nil {
		return d, stdout.String(), stderr.String(), fmt.Errorf("%s %s (in %s): %v\n%s", name, strings.Join(args, " "), dir, err, tail(stderr.String(), 30))
	}
	return d, stdout.String(), stderr.String(), nil
}

// sh runs a shell pipeline and returns its wall time.
func sh(ctx context.Context, dir, script string) (time.Duration, string, error) {
	return run(ctx, dir, nil, "bash", "-o", "pipefail", "-c", script)
}

// bazelRun runs bazel in a workspace.
func bazelRun(ctx context.Context, dir string, args ...string) (time.Duration, string, error) {
	return run(ctx, dir, nil, "bazel", args...)
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

var versionRE = regexp.MustCompile(`const version = "[^"]*"`)

// editVersion rewrites the `const version = "..."` line of a Go file to a value
// never used before (so no cache can hold the result), and returns the time the
// write completed.
func editVersion(path, prefix string) (time.Time, string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return time.Time{}, "", err
	}
	if !versionRE.Match(b) {
		return time.Time{}, "", fmt.Errorf("%s has no `const version = \"...\"` line", path)
	}
	v := fmt.Sprintf("%s-b%d", prefix, time.Now().UnixNano())
	nb := versionRE.ReplaceAll(b, []byte(fmt.Sprintf("const version = %q", v)))
	if err := os.WriteFile(path, nb, 0o644); err != nil {
		return time.Time{}, "", err
	}
	return time.Now(), v, nil
}

// procStat is what /proc says about a process.
type procStat struct {
	rssKiB, hwmKiB int64
	cpu            time.Duration // user + system
}

func readProc(pid int) (procStat, error) {
	var s procStat
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "VmRSS:":
			s.rssKiB, _ = strconv.ParseInt(f[1], 10, 64)
		case "VmHWM:":
			s.hwmKiB, _ = strconv.ParseInt(f[1], 10, 64)
		}
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, err
	}
	// Fields after the command (which may hold spaces) start after the last ')'.
	rest := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+2:]))
	if len(rest) < 13 {
		return s, fmt.Errorf("/proc/%d/stat: short", pid)
	}
	utime, _ := strconv.ParseInt(rest[11], 10, 64)
	stime, _ := strconv.ParseInt(rest[12], 10, 64)
	s.cpu = time.Duration(utime+stime) * time.Second / clockTicks
	return s, nil
}

// clockTicks is sysconf(_SC_CLK_TCK), 100 on Linux.
const clockTicks = 100

// findProc returns the first process named comm among pid and its descendants.
func findProc(pid int, comm string) int {
	children := map[int][]int{}
	names := map[int]string{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p))
		if err != nil {
			continue
		}
		open, close := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
		if open < 0 || close < open {
			continue
		}
		names[p] = string(b[open+1 : close])
		f := strings.Fields(string(b[close+2:]))
		if len(f) > 1 {
			pp, _ := strconv.Atoi(f[1])
			children[pp] = append(children[pp], p)
		}
	}
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if names[p] == comm {
			return p
		}
		queue = append(queue, children[p]...)
	}
	return 0
}

// lineReader reads a process's output lines, stamping each with its arrival time.
type line struct {
	at   time.Time
	text string
}

func readLines(r io.Reader, out chan<- line, echo io.Writer) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	for sc.Scan() {
		l := line{at: time.Now(), text: sc.Text()}
		if echo != nil {
			fmt.Fprintln(echo, l.text)
		}
		out <- l
	}
	close(out)
}

// stopGroup interrupts a process we started in its own process group, then kills
// the group if it has not exited within grace.
func stopGroup(cmd *exec.Cmd, done <-chan error, grace time.Duration) error {
	if cmd.Process == nil {
		return nil
	}
	_ = cmd.Process.Signal(os.Interrupt)
	select {
	case err := <-done:
		return err
	case <-time.After(3 * time.Second):
		// ibazel stops its child on the first Ctrl-C and exits on the second.
		_ = cmd.Process.Signal(os.Interrupt)
	}
	select {
	case err := <-done:
		return err
	case <-time.After(grace):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		return fmt.Errorf("%s did not exit within %s of SIGINT: killed its process group", cmd.Path, grace)
	}
}

// copyTree copies a directory (regular files only).
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if old, err := os.ReadFile(target); err == nil && bytes.Equal(old, b) {
			return nil
		}
		return os.WriteFile(target, b, info.Mode().Perm())
	})
}

func writeFile(path, content string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	if old, err := os.ReadFile(path); err == nil && string(old) == content {
		return nil
	}
	return os.WriteFile(path, []byte(content), 0o644)
}

// measureFloor is the floor of a dev-loop measurement: with the loop stopped
// (SIGSTOP, so that it does not build at the same time), a new version written
// into file, then `bazel build` of that binary alone; the loop resumes after.
// It returns the time from the write to Bazel's exit, and the version written.
func measureFloor(ctx context.Context, loopPID int, dir, file, prefix, binary string) (time.Duration, string, error) {
	if err := syscall.Kill(loopPID, syscall.SIGSTOP); err != nil {
		return 0, "", err
	}
	defer syscall.Kill(loopPID, syscall.SIGCONT)
	t0, version, err := editVersion(file, prefix)
	if err != nil {
		return 0, "", err
	}
	if _, _, err := bazelRun(ctx, dir, "build", binary); err != nil {
		return 0, "", err
	}
	return time.Since(t0), version, nil
}
