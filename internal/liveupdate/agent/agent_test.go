package agent

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// The test binary doubles as the supervised child when AGENT_CHILD is set:
//
//	serve        log "start ARGV0 EXE", then wait: SIGTERM exits 0, SIGHUP logs "hup", SIGUSR1 exits 3
//	stubborn     like serve, but SIGTERM is ignored
//	exit=N       exit N at once
//	kill         SIGKILL itself
func TestMain(m *testing.M) {
	switch mode := os.Getenv("AGENT_CHILD"); {
	case mode == "":
		os.Exit(m.Run())
	case strings.HasPrefix(mode, "exit="):
		var n int
		fmt.Sscanf(mode, "exit=%d", &n)
		os.Exit(n)
	case mode == "kill":
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {}
	default:
		child(mode)
	}
}

func child(mode string) {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGUSR1)
	exe, _ := os.Executable()
	logLine("start " + os.Args[0] + " " + exe)
	for sig := range sigs {
		switch {
		case sig == syscall.SIGHUP:
			logLine("hup")
		case sig == syscall.SIGUSR1:
			os.Exit(3)
		case sig == syscall.SIGTERM && mode != "stubborn":
			logLine("term")
			os.Exit(0)
		}
	}
}

func logLine(s string) {
	f, err := os.OpenFile(os.Getenv("AGENT_LOG"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		panic(err)
	}
	fmt.Fprintln(f, s)
	f.Close()
}

type harness struct {
	t       *testing.T
	paths   Paths
	log     string
	signals chan os.Signal
	code    chan int
	exe     string
}

// supervise starts a supervisor over the test binary as child, in mode.
func supervise(t *testing.T, mode string, grace time.Duration) *harness {
	t.Helper()
	dir := t.TempDir()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, paths: Paths{State: filepath.Join(dir, "state"), Allow: []string{exe}},
		log: filepath.Join(dir, "log"), signals: make(chan os.Signal, 1), code: make(chan int, 1), exe: exe}
	t.Setenv("AGENT_CHILD", mode)
	t.Setenv("AGENT_LOG", h.log)
	s := &Supervisor{Paths: h.paths, Argv: []string{exe}, Grace: grace, Stdout: os.Stdout, Stderr: os.Stderr}
	go func() { h.code <- s.Run(h.signals) }()
	return h
}

// waitLog waits until the child's log has n lines, and returns them.
func (h *harness) waitLog(n int) []string {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, _ := os.ReadFile(h.log)
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		if len(b) > 0 && len(lines) >= n {
			return lines
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("the child's log has %q, want %d lines", b, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (h *harness) exitCode() int {
	h.t.Helper()
	select {
	case c := <-h.code:
		return c
	case <-time.After(10 * time.Second):
		h.t.Fatal("the supervisor did not return")
		return -1
	}
}

func TestExitCodes(t *testing.T) {
	tests := []struct {
		name   string
		mode   string
		signal os.Signal // sent once the child runs (nil: none)
		want   int
	}{
		{name: "the child's own exit code", mode: "exit=7", want: 7},
		{name: "zero", mode: "exit=0", want: 0},
		{name: "killed by a signal is 128+N", mode: "kill", want: 128 + 9},
		{name: "SIGTERM is forwarded; the child's exit is the agent's", mode: "serve", signal: syscall.SIGTERM, want: 0},
		{name: "other signals are forwarded", mode: "serve", signal: syscall.SIGUSR1, want: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := supervise(t, tt.mode, time.Second)
			if tt.signal != nil {
				h.waitLog(1)
				h.signals <- tt.signal
			}
			if got := h.exitCode(); got != tt.want {
				t.Errorf("exit code %d, want %d", got, tt.want)
			}
		})
	}
}

func TestForwardedSignalKeepsTheChild(t *testing.T) {
	h := supervise(t, "serve", time.Second)
	h.waitLog(1)
	h.signals <- syscall.SIGHUP
	if got := h.waitLog(2)[1]; got != "hup" {
		t.Errorf("the child logged %q after SIGHUP, want hup", got)
	}
	h.signals <- syscall.SIGTERM
	if got := h.exitCode(); got != 0 {
		t.Errorf("exit code %d, want 0", got)
	}
}

func TestReplaceRestartsFromTheNewFile(t *testing.T) {
	h := supervise(t, "serve", 5*time.Second)
	h.waitLog(1)
	newBinary, err := os.ReadFile(h.exe)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 2; i++ { // the second replaces a file that is running: no "text file busy"
		newBinary = append(newBinary, 0) // other bytes each time (an ELF file may end with anything)
		rec, err := Receive(h.paths, h.exe, bytes.NewReader(newBinary), 10*time.Second)
		if err != nil {
			t.Fatalf("receive %d: %v", i, err)
		}
		if !rec.OK || rec.Restarts != i || rec.PID == 0 || rec.Bytes != int64(len(newBinary)) {
			t.Errorf("receive %d: %+v, want ok, %d restarts, a pid, %d bytes", i, rec, i, len(newBinary))
		}
		h.waitLog(1 + 2*i) // the new child runs (a SIGTERM while it starts would end it silently)
	}
	// The same file again: the child runs it already, nothing restarts.
	if rec, err := Receive(h.paths, h.exe, bytes.NewReader(newBinary), 10*time.Second); err != nil || rec.Restarts != 2 {
		t.Errorf("receiving the running file again: %+v, %v; want no restart", rec, err)
	}
	rep := h.paths.Replacement(h.exe)
	want := []string{"start " + h.exe + " " + h.exe, "term", "start " + h.exe + " " + rep, "term", "start " + h.exe + " " + rep}
	if diff := cmp.Diff(want, h.waitLog(5)); diff != "" {
		t.Errorf("child log (-want +got):\n%s", diff)
	}
	if leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(rep), ".*")); len(leftovers) > 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}
	h.signals <- syscall.SIGTERM
	h.exitCode()
}

func TestReplaceRefused(t *testing.T) {
	h := supervise(t, "serve", time.Second)
	h.waitLog(1)
	tests := []struct {
		name string
		path string
		want error
	}{
		{name: "a path the image does not allow", path: "/etc/passwd", want: ErrNotAllowed},
		{name: "a relative path", path: "app/server", want: ErrBadPath},
		{name: "a path that climbs", path: "/app/../etc/passwd", want: ErrBadPath},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, err := Receive(h.paths, tt.path, strings.NewReader("x"), 5*time.Second)
			if err == nil {
				t.Fatalf("receive %s: no error", tt.path)
			}
			if !strings.Contains(err.Error(), tt.want.Error()) {
				t.Errorf("receive %s: %v, want %v", tt.path, err, tt.want)
			}
			if rec != nil && rec.Restarts != 0 {
				t.Errorf("receive %s restarted the child", tt.path)
			}
			if _, err := os.Stat(h.paths.Replacement(tt.path)); err == nil {
				t.Errorf("%s was written", h.paths.Replacement(tt.path))
			}
		})
	}
	if lines := h.waitLog(1); len(lines) != 1 {
		t.Errorf("the child was disturbed: %q", lines)
	}
	h.signals <- syscall.SIGTERM
	h.exitCode()
}

func TestRestartKillsAChildIgnoringSIGTERM(t *testing.T) {
	h := supervise(t, "stubborn", 200*time.Millisecond)
	h.waitLog(1)
	start := time.Now()
	if _, err := Receive(h.paths, h.exe, strings.NewReader("not a binary"), 10*time.Second); err == nil {
		t.Fatal("a non-executable replacement restarted")
	}
	if took := time.Since(start); took < 200*time.Millisecond {
		t.Errorf("restart after %s, before the grace period", took)
	}
	// The replacement cannot start: the agent ends, as the container must.
	if got := h.exitCode(); got != 128+9 {
		t.Errorf("exit code %d, want %d (the killed child's)", got, 128+9)
	}
}

func TestReceiveWithoutSupervisor(t *testing.T) {
	ps := Paths{State: t.TempDir(), Allow: []string{"/app/x"}}
	_, err := Receive(ps, "/app/x", strings.NewReader("x"), time.Second)
	if !errors.Is(err, ErrNoSupervisor) {
		t.Errorf("receive: %v, want %v", err, ErrNoSupervisor)
	}
	if left, _ := filepath.Glob(filepath.Join(ps.State, "root", "app", ".*")); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

func TestResetRunsTheImageFilesAgain(t *testing.T) {
	h := supervise(t, "serve", 5*time.Second)
	h.waitLog(1)
	if rep, err := Reset(h.paths, 5*time.Second); err != nil || rep.Restarts != 0 {
		t.Fatalf("reset with nothing replaced: %+v, %v; want no restart", rep, err)
	}
	newBinary, _ := os.ReadFile(h.exe)
	if _, err := Receive(h.paths, h.exe, bytes.NewReader(newBinary), 10*time.Second); err != nil {
		t.Fatal(err)
	}
	h.waitLog(3)
	rep, err := Reset(h.paths, 10*time.Second)
	if err != nil || rep.Restarts != 2 {
		t.Fatalf("reset: %+v, %v; want a restart", rep, err)
	}
	if got := h.waitLog(5)[4]; got != "start "+h.exe+" "+h.exe {
		t.Errorf("after reset the child is %q, want the image's own file", got)
	}
	h.signals <- syscall.SIGTERM
	h.exitCode()
}
