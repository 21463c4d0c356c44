package cluster

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// The test binary doubles as the "component" the process tests start: with
// childEnv set it waits for SIGTERM (or ignores it) instead of running tests.
const childEnv = "SLIPWAY_CLUSTER_TEST_CHILD"

func TestMain(m *testing.M) {
	switch os.Getenv(childEnv) {
	case "wait-term":
		c := make(chan os.Signal, 1)
		signal.Notify(c, syscall.SIGTERM)
		<-c
		os.Exit(0)
	case "ignore-term":
		signal.Ignore(syscall.SIGTERM)
		time.Sleep(time.Hour) // until SIGKILL
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// fakeComponent copies the test binary to a file of its own, so that it is a
// different binary (inode) from the test binary itself.
func fakeComponent(t *testing.T, name string) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := filepath.EvalSymlinks(t.TempDir()) // the path /proc/PID/exe will show
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, name)
	if err := copyExecutable(self, dst); err != nil {
		t.Fatal(err)
	}
	return dst
}

// startChild starts binary in child mode and arranges for it to be killed (by pid) after the test.
func startChild(t *testing.T, name, binary, mode string) *record {
	t.Helper()
	logDir := t.TempDir()
	rec, err := startDetached(name, binary, []string{"-test.run=^$"}, append(os.Environ(), childEnv+"="+mode), logDir, filepath.Join(logDir, name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { killAndWait(t, rec) })
	return rec
}

func killAndWait(t *testing.T, r *record) {
	t.Helper()
	if s, _ := r.state(); s != procRunning {
		return
	}
	_ = syscall.Kill(r.PID, syscall.SIGKILL)
	if !waitUntil(context.Background(), time.Now().Add(10*time.Second), func() bool { s, _ := r.state(); return s != procRunning }) {
		t.Errorf("pid %d still running after SIGKILL", r.PID)
	}
}

func TestParseStartTime(t *testing.T) {
	rest := "S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 987654 21 22"
	tests := []struct {
		name string
		stat string
		want uint64
	}{
		{"plain", "42 (etcd) " + rest, 987654},
		{"spaces and parentheses in the name", "42 (a) b (c)) " + rest, 987654},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseStartTime([]byte(tc.stat))
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("parseStartTime = %d, want %d", got, tc.want)
			}
		})
	}
	for _, bad := range []string{"", "42 etcd S 1", "42 (etcd) S 1 2 3"} {
		if _, err := parseStartTime([]byte(bad)); err == nil {
			t.Errorf("parseStartTime(%q) succeeded, want an error", bad)
		}
	}
}

func TestPidFileStates(t *testing.T) {
	bin := fakeComponent(t, "fake-etcd")
	ours := startChild(t, "etcd", bin, "wait-term")

	// Another program, alive: the test binary itself, not the copy.
	self, _ := os.Executable()
	other := exec.Command(self, "-test.run=^$")
	other.Env = append(os.Environ(), childEnv+"=wait-term")
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = other.Process.Kill(); _ = other.Wait() })

	exited := startChild(t, "etcd", bin, "wait-term")
	killAndWait(t, exited)

	reusedByOther := *ours
	reusedByOther.PID = other.Process.Pid
	laterSameBinary := *ours
	laterSameBinary.StartTime--

	tests := []struct {
		name       string
		rec        *record
		want       procState
		wantDetail string
	}{
		{"no pid file", nil, procNone, "no pid file"},
		{"live process of ours", ours, procRunning, "running"},
		{"stale pid", exited, procExited, fmt.Sprintf("pid %d from the pid file has exited", exited.PID)},
		{"pid reused by another binary", &reusedByOther, procReused, fmt.Sprintf("pid %d from the pid file now runs %s, not %s", other.Process.Pid, self, bin)},
		{"pid reused by a later process", &laterSameBinary, procReused, fmt.Sprintf("pid %d from the pid file is a later process of the same binary", ours.PID)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, pi := tc.rec.state()
			if s != tc.want {
				t.Errorf("state = %v, want %v", s, tc.want)
			}
			if got := tc.rec.describe(s, pi); got != tc.wantDetail {
				t.Errorf("describe = %q, want %q", got, tc.wantDetail)
			}
		})
	}
}

func TestPidFileRoundTrip(t *testing.T) {
	dir := t.TempDir()
	if r, err := readRecord(dir, "etcd"); r != nil || err != nil {
		t.Fatalf("readRecord without a pid file = %v, %v; want nil, nil", r, err)
	}
	want := &record{Name: "etcd", PID: 123, Binary: "/bin/etcd", Dev: 1, Ino: 2, StartTime: 3,
		Args: []string{"--a"}, Ports: []int{2379, 2380}, Started: time.Unix(1700000000, 0).UTC()}
	if err := writeRecord(dir, want); err != nil {
		t.Fatal(err)
	}
	got, err := readRecord(dir, "etcd")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("record (-want +got):\n%s", diff)
	}
	if err := os.WriteFile(pidFile(dir, "kwok"), []byte("1234\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := readRecord(dir, "kwok"); err == nil || !strings.Contains(err.Error(), "unreadable pid file") {
		t.Errorf("readRecord of a foreign pid file: err = %v, want unreadable pid file", err)
	}
}

func TestStopGroup(t *testing.T) {
	pids := t.TempDir()
	polite := startChild(t, "kwok", fakeComponent(t, "fake-kwok"), "wait-term")
	stubborn := startChild(t, "kube-scheduler", fakeComponent(t, "fake-scheduler"), "ignore-term")
	// The registry's pid file names a pid that now belongs to an unrelated process:
	// it must survive.
	bystander := startChild(t, "bystander", fakeComponent(t, "bystander"), "wait-term")
	exited := startChild(t, "registry", fakeComponent(t, "fake-registry"), "wait-term")
	killAndWait(t, exited)
	reused := *exited
	reused.PID = bystander.PID
	for _, r := range []*record{polite, stubborn, &reused} {
		if err := writeRecord(pids, r); err != nil {
			t.Fatal(err)
		}
	}
	// The stubborn child must have installed its SIGTERM handler before we signal it.
	if !waitUntil(context.Background(), time.Now().Add(10*time.Second), func() bool { return ignoresTerm(stubborn.PID) }) {
		t.Fatal("child never ignored SIGTERM")
	}

	res := stopGroup(context.Background(), pids, []string{Kwok, Scheduler, ControllerManager, Registry}, 500*time.Millisecond)
	type result struct {
		Name, Action string
		PID          int
	}
	var got []result
	for _, r := range res {
		if r.err != nil {
			t.Errorf("%s: %v", r.name, r.err)
		}
		got = append(got, result{r.name, r.action, r.pid})
	}
	want := []result{
		{Registry, fmt.Sprintf("not running (pid %d from the pid file now runs %s, not %s); left alone", bystander.PID, bystander.Binary, exited.Binary), bystander.PID},
		{Kwok, "stopped", polite.PID},
		{Scheduler, "killed (still running 500ms after SIGTERM)", stubborn.PID},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("stopGroup (-want +got):\n%s", diff)
	}
	for _, r := range []*record{polite, stubborn} {
		if s, _ := r.state(); s == procRunning {
			t.Errorf("%s (pid %d) still running", r.Name, r.PID)
		}
	}
	if s, _ := bystander.state(); s != procRunning {
		t.Errorf("the unrelated process (pid %d) was stopped: %v", bystander.PID, s)
	}
	for _, n := range []string{Kwok, Scheduler, Registry} {
		if _, err := os.Stat(pidFile(pids, n)); !os.IsNotExist(err) {
			t.Errorf("pid file of %s still there (%v)", n, err)
		}
	}
}

// ignoresTerm reports whether SIGTERM is in the process's ignored signals (SigIgn).
func ignoresTerm(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "SigIgn:"); ok {
			var mask uint64
			fmt.Sscanf(strings.TrimSpace(v), "%x", &mask)
			return mask&(1<<(uint(syscall.SIGTERM)-1)) != 0
		}
	}
	return false
}

func TestStartDetachedLogsAndSession(t *testing.T) {
	r := startChild(t, "etcd", fakeComponent(t, "fake-etcd"), "wait-term")
	sid, err := sessionID(r.PID)
	if err != nil {
		t.Fatal(err)
	}
	if sid != r.PID {
		t.Errorf("session id of the child = %d, want its own pid %d (a session of its own)", sid, r.PID)
	}
	if got := rssKiB(r.PID); got <= 0 {
		t.Errorf("rssKiB(%d) = %d, want > 0", r.PID, got)
	}
}

// sessionID is field 6 of /proc/PID/stat.
func sessionID(pid int) (int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	var sid int
	_, err = fmt.Sscan(f[3], &sid)
	return sid, err
}

func TestCheckPortFree(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	self, _ := os.Executable()
	// Ports the kernel hands out (":0" and outgoing connections) come from its
	// ephemeral range, which the message points out.
	lo, hi, ok := ephemeralPorts()
	if !ok || port < lo || port > hi {
		t.Fatalf("port %d is not in the ephemeral range %d-%d (ok=%v)", port, lo, hi, ok)
	}
	hint := fmt.Sprintf(" (ports %d-%d are the kernel's ephemeral range, which outgoing connections take at random: prefer one below %d)", lo, hi, lo)

	err = checkPortFree("kube-apiserver", port, "--apiserver-port", "/nonexistent")
	want := fmt.Sprintf("kube-apiserver: port %d on 127.0.0.1 is already in use by pid %d (%s), which this instance did not start; "+
		"stop it or choose another port with --apiserver-port", port, os.Getpid(), self) + hint
	if err == nil || err.Error() != want {
		t.Errorf("checkPortFree on a busy port:\n got %v\nwant %s", err, want)
	}
	// Held by a process running the component's own binary: a leftover of an earlier run.
	err = checkPortFree("etcd", port, "--etcd-port", self)
	want = fmt.Sprintf("etcd: port %d on 127.0.0.1 is already in use by pid %d (%s), which runs the same etcd binary but has no pid file here: "+
		"probably left over from an earlier run; stop it with `kill %d` or choose another port with --etcd-port", port, os.Getpid(), self, os.Getpid())
	if err == nil || err.Error() != want {
		t.Errorf("checkPortFree on a port held by our binary:\n got %v\nwant %s", err, want)
	}
	// The local end of an outgoing connection blocks a listener too.
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	local := conn.LocalAddr().(*net.TCPAddr).Port
	err = checkPortFree("registry", local, "--registry-port", "/nonexistent")
	want = fmt.Sprintf("registry: port %d on 127.0.0.1 is already in use by pid %d (%s) as the local end of a connection, "+
		"which this instance did not start; stop it or choose another port with --registry-port", local, os.Getpid(), self) + hint
	if err == nil || err.Error() != want {
		t.Errorf("checkPortFree on a connection's local port:\n got %v\nwant %s", err, want)
	}

	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	freePort := free.Addr().(*net.TCPAddr).Port
	free.Close()
	if err := checkPortFree("etcd", freePort, "--etcd-port", self); err != nil {
		t.Errorf("checkPortFree on a free port: %v", err)
	}
}

func TestTailFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x.log")
	var sb strings.Builder
	for i := 1; i <= 30; i++ {
		fmt.Fprintf(&sb, "line %d\n", i)
	}
	if err := os.WriteFile(p, []byte(sb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, want := tailFile(p, 2), "    line 29\n    line 30"; got != want {
		t.Errorf("tailFile = %q, want %q", got, want)
	}
}
