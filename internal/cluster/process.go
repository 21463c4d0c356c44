package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// record is what a pid file holds: enough to tell later, from the host or from
// the Bazel chroot alike, whether the pid is still the process we started.
// Paths differ between the two views, so identity is the binary's inode (which
// /proc/PID/exe resolves to from either side) plus the process start time, which
// changes when the pid is reused.
type record struct {
	Name      string    `json:"name"`
	PID       int       `json:"pid"`
	Binary    string    `json:"binary"`
	Dev       uint64    `json:"dev"`
	Ino       uint64    `json:"ino"`
	StartTime uint64    `json:"startTime"` // /proc/PID/stat field 22, clock ticks since boot
	Args      []string  `json:"args"`
	Ports     []int     `json:"ports"`
	Started   time.Time `json:"started"`
}

// procState is what became of a recorded process.
type procState int

const (
	procNone    procState = iota // no pid file
	procRunning                  // our process is alive
	procExited                   // the pid is gone (or a zombie)
	procReused                   // the pid now belongs to another program or a later process
)

func (s procState) String() string {
	return [...]string{"stopped", "running", "exited", "pid reused"}[s]
}

func pidFile(dir, name string) string { return filepath.Join(dir, name+".pid") }

func readRecord(dir, name string) (*record, error) {
	b, err := os.ReadFile(pidFile(dir, name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var r record
	if err := json.Unmarshal(b, &r); err != nil || r.PID <= 0 {
		return nil, fmt.Errorf("%s: unreadable pid file %s (remove it): %v", name, pidFile(dir, name), err)
	}
	return &r, nil
}

func writeRecord(dir string, r *record) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(pidFile(dir, r.Name), append(b, '\n'), 0o644)
}

func removeRecord(dir, name string) error {
	err := os.Remove(pidFile(dir, name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// procInfo is the identity of a live process.
type procInfo struct {
	startTime uint64
	dev, ino  uint64
	exe       string // readlink of /proc/PID/exe, for messages only
}

// inspect reads a live process's identity; an error means there is no such live
// process (gone, a zombie, or not ours to read).
func inspect(pid int) (procInfo, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procInfo{}, err
	}
	st, err := parseStartTime(stat)
	if err != nil {
		return procInfo{}, err
	}
	exePath := fmt.Sprintf("/proc/%d/exe", pid)
	fi, err := os.Stat(exePath) // follows the magic link to the binary's inode
	if err != nil {
		return procInfo{}, err
	}
	sys, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return procInfo{}, fmt.Errorf("no inode for %s", exePath)
	}
	exe, _ := os.Readlink(exePath)
	return procInfo{startTime: st, dev: uint64(sys.Dev), ino: sys.Ino, exe: exe}, nil
}

// parseStartTime returns field 22 of /proc/PID/stat. Field 2 (the command name)
// may hold spaces and parentheses, so fields are counted after its last ')'.
func parseStartTime(stat []byte) (uint64, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("malformed /proc stat %q", stat)
	}
	f := strings.Fields(string(stat[i+1:])) // f[0] is field 3
	if len(f) < 20 {
		return 0, fmt.Errorf("malformed /proc stat %q", stat)
	}
	return strconv.ParseUint(f[19], 10, 64)
}

// state tells whether r's process is still ours.
func (r *record) state() (procState, procInfo) {
	if r == nil {
		return procNone, procInfo{}
	}
	pi, err := inspect(r.PID)
	if err != nil {
		return procExited, procInfo{}
	}
	if pi.startTime != r.StartTime || pi.dev != r.Dev || pi.ino != r.Ino {
		return procReused, pi
	}
	return procRunning, pi
}

// describe explains a state that is not procRunning, for messages.
func (r *record) describe(s procState, pi procInfo) string {
	if r == nil {
		return "no pid file"
	}
	switch s {
	case procExited:
		return fmt.Sprintf("pid %d from the pid file has exited", r.PID)
	case procReused:
		if pi.dev != r.Dev || pi.ino != r.Ino {
			return fmt.Sprintf("pid %d from the pid file now runs %s, not %s", r.PID, pi.exe, r.Binary)
		}
		return fmt.Sprintf("pid %d from the pid file is a later process of the same binary", r.PID)
	}
	return s.String()
}

// startDetached starts a component in its own session (so it outlives the CLI and
// a Ctrl-C in the terminal does not reach it) with its output appended to logPath,
// and returns the record to keep in its pid file.
func startDetached(name, binary string, args, env []string, dir, logPath string) (*record, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer logf.Close() // the child has its own copy
	fmt.Fprintf(logf, "\n==== %s slipway: starting %s %s\n", time.Now().Format(time.RFC3339), binary, strings.Join(args, " "))
	cmd := exec.Command(binary, args...)
	cmd.Dir = dir
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = logf, logf // stdin stays /dev/null
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	// Reap it if it exits while we are still running; after we exit, init does.
	go func() { _ = cmd.Wait() }()
	pid := cmd.Process.Pid
	// exec has completed when Start returns, so /proc/PID/exe is the new binary.
	pi, err := inspect(pid)
	if err != nil {
		return nil, fmt.Errorf("%s (pid %d) exited at once: %w", name, pid, err)
	}
	return &record{Name: name, PID: pid, Binary: binary, Dev: pi.dev, Ino: pi.ino,
		StartTime: pi.startTime, Args: args, Started: time.Now()}, nil
}

// stopResult is what stopGroup did to one component.
type stopResult struct {
	name   string
	pid    int
	action string // "stopped", "killed", "not running", ...
	err    error
}

// stopGroup sends SIGTERM to those of the recorded processes that are still ours,
// waits up to timeout for them to exit, then SIGKILLs what is left. Processes that
// are no longer ours are left alone. The pid files are removed.
func stopGroup(ctx context.Context, pids string, names []string, timeout time.Duration) []stopResult {
	var res []stopResult
	var live []*record
	for _, n := range names {
		r, err := readRecord(pids, n)
		switch {
		case err != nil:
			res = append(res, stopResult{name: n, err: err})
			continue
		case r == nil:
			continue
		}
		if s, pi := r.state(); s != procRunning {
			res = append(res, stopResult{name: n, pid: r.PID, action: "not running (" + r.describe(s, pi) + "); left alone"})
			_ = removeRecord(pids, n)
			continue
		}
		if err := syscall.Kill(r.PID, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
			res = append(res, stopResult{name: n, pid: r.PID, err: fmt.Errorf("SIGTERM: %w", err)})
			continue
		}
		live = append(live, r)
	}
	gone := func(r *record) bool { s, _ := r.state(); return s != procRunning }
	waitUntil(ctx, time.Now().Add(timeout), func() bool { return !slices.ContainsFunc(live, func(r *record) bool { return !gone(r) }) })
	for _, r := range live {
		if gone(r) {
			res = append(res, stopResult{name: r.Name, pid: r.PID, action: "stopped"})
			_ = removeRecord(pids, r.Name)
			continue
		}
		_ = syscall.Kill(r.PID, syscall.SIGKILL)
		if waitUntil(ctx, time.Now().Add(5*time.Second), func() bool { return gone(r) }) {
			res = append(res, stopResult{name: r.Name, pid: r.PID, action: fmt.Sprintf("killed (still running %s after SIGTERM)", timeout)})
			_ = removeRecord(pids, r.Name)
		} else {
			res = append(res, stopResult{name: r.Name, pid: r.PID, err: fmt.Errorf("still running after SIGKILL")})
		}
	}
	return res
}

// waitUntil polls cond until it holds (true), the deadline passes or ctx ends (false).
func waitUntil(ctx context.Context, deadline time.Time, cond func() bool) bool {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		}
	}
}

// rssKiB is the resident set size of a process (VmRSS in /proc/PID/status).
func rssKiB(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				n, _ := strconv.ParseInt(f[0], 10, 64)
				return n
			}
		}
	}
	return 0
}

// tailFile returns the last n lines of a file, for error messages.
func tailFile(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	for i, l := range lines {
		lines[i] = truncate(l, 400)
	}
	return "    " + strings.Join(lines, "\n    ")
}

// writeFileAtomic replaces path with data, so readers never see half a file.
func writeFileAtomic(path string, data []byte, perm fs.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// lockFile takes an exclusive lock on path (created if needed), waiting for
// other slipway processes holding it; say is called once if we have to wait.
func lockFile(ctx context.Context, path string, say func()) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	try := func() bool { return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil }
	if !try() {
		say()
		if !waitUntil(ctx, time.Now().Add(24*time.Hour), try) {
			f.Close()
			return nil, fmt.Errorf("gave up waiting for lock %s: %v", path, context.Cause(ctx))
		}
	}
	return func() { f.Close() }, nil
}
