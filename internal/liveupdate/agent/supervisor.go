package agent

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// Supervisor runs the container's own command as its child and replaces files
// of it on request.
type Supervisor struct {
	Paths Paths
	// Argv is the image's entrypoint and arguments, as the container would run them.
	Argv []string
	// Grace is how long a restart waits for the child to exit after SIGTERM
	// before it kills it.
	Grace                  time.Duration
	Stdin                  io.Reader
	Stdout, Stderr, Logger io.Writer
}

// Request is what receive asks of the supervisor, as one JSON line.
type Request struct {
	// Op is "replace": rename Tmp over the replacement of Path, then restart;
	// or "reset": remove every replacement, then restart (when there were any),
	// so that the child runs the image's own files again.
	Op   string `json:"op"`
	Path string `json:"path"`
	Tmp  string `json:"tmp"`
	// SHA256 is the received file's: a file the child already runs is not
	// put in place again, and the child is not restarted.
	SHA256 string `json:"sha256,omitempty"`
}

// Reply is the supervisor's answer, as one JSON line.
type Reply struct {
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
	// PID is the restarted child's; Restarts counts restarts since the agent started.
	PID      int `json:"pid,omitempty"`
	Restarts int `json:"restarts"`
}

type call struct {
	req   Request
	reply chan Reply
}

// run is the supervisor's state while it runs: one goroutine owns it.
type run struct {
	s        *Supervisor
	child    *exec.Cmd
	exited   chan int
	waiting  []call // replaced, waiting for the restart
	killT    <-chan time.Time
	stopping bool // a terminating signal came: the child's exit is the agent's
	restarts int
	current  map[string]string // path -> sha256 of the replacement in place
}

// Run starts the child and supervises it until it exits on its own or after a
// terminating signal; it returns the exit code the container should have: the
// child's, or 128+N when a signal N ended it.
func (s *Supervisor) Run(signals <-chan os.Signal) int {
	ln, err := s.listen()
	if err != nil {
		s.logf("%v", err)
		return 126
	}
	defer ln.Close()
	calls := make(chan call)
	go serve(ln, calls)
	r := &run{s: s, current: map[string]string{}}
	if err := r.start(); err != nil {
		s.logf("%v", err)
		return 127
	}
	for {
		select {
		case sig := <-signals:
			r.signal(sig)
		case c := <-calls:
			r.replace(c)
		case <-r.killT:
			_ = r.child.Process.Kill()
		case code := <-r.exited:
			if !r.exit() {
				return code
			}
		}
	}
}

func (s *Supervisor) listen() (net.Listener, error) {
	sock := s.Paths.Socket()
	if err := os.MkdirAll(filepath.Dir(sock), 0o755); err != nil {
		return nil, err
	}
	_ = os.Remove(sock) // left by an earlier run of this container
	return net.Listen("unix", sock)
}

func (s *Supervisor) logf(format string, args ...any) {
	if s.Logger != nil {
		fmt.Fprintf(s.Logger, "slipway-agent: "+format+"\n", args...)
	}
}

// start starts the child, from the replacement of its executable when there is one.
func (r *run) start() error {
	argv := r.s.Argv
	if len(argv) == 0 {
		return errors.New("no command to run: the image has no entrypoint and the container no command")
	}
	exe := argv[0]
	if rep := r.s.Paths.Replacement(exe); r.s.Paths.Check(exe) == nil && exists(rep) {
		exe = rep
	} else if lp, err := exec.LookPath(exe); err == nil {
		exe = lp
	}
	cmd := &exec.Cmd{Path: exe, Args: argv, Stdin: r.s.Stdin, Stdout: r.s.Stdout, Stderr: r.s.Stderr}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", argv[0], err)
	}
	r.child, r.exited = cmd, make(chan int, 1)
	go func() { r.exited <- exitCode(cmd.Wait(), cmd.ProcessState) }()
	return nil
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// signal forwards a signal; SIGTERM and SIGINT make the child's exit the agent's.
func (r *run) signal(sig os.Signal) {
	if sig == syscall.SIGTERM || sig == syscall.SIGINT {
		r.stopping = true
	}
	_ = r.child.Process.Signal(sig)
}

// replace puts a received file in place and asks the child to stop; the
// restart happens when it has exited.
func (r *run) replace(c call) {
	restart, err := r.apply(c.req)
	if err != nil {
		_ = os.Remove(c.req.Tmp)
		c.reply <- Reply{Error: err.Error(), Restarts: r.restarts}
		return
	}
	if !restart {
		c.reply <- Reply{OK: true, PID: r.child.Process.Pid, Restarts: r.restarts}
		return
	}
	r.waiting = append(r.waiting, c)
	if r.killT == nil {
		_ = r.child.Process.Signal(syscall.SIGTERM)
		r.killT = time.After(r.s.Grace)
	}
}

// apply makes a request's change; false when the child runs that already.
func (r *run) apply(req Request) (bool, error) {
	switch req.Op {
	case "reset":
		return r.reset(), nil
	case "replace":
	default:
		return false, fmt.Errorf("unknown request %q", req.Op)
	}
	if err := r.rename(req); err != nil {
		return false, err
	}
	if req.SHA256 != "" && r.current[req.Path] == req.SHA256 && r.killT == nil {
		return false, nil
	}
	r.current[req.Path] = req.SHA256
	return true, nil
}

// reset removes the replacements; false when there were none.
func (r *run) reset() bool {
	removed := false
	r.current = map[string]string{}
	for _, p := range r.s.Paths.Allow {
		if err := os.Remove(r.s.Paths.Replacement(p)); err == nil {
			removed = true
		}
	}
	return removed
}

func (r *run) rename(req Request) error {
	if err := r.s.Paths.Check(req.Path); err != nil {
		return err
	}
	dst := r.s.Paths.Replacement(req.Path)
	if filepath.Dir(req.Tmp) != filepath.Dir(dst) {
		return fmt.Errorf("%s: the received file %s is not next to %s", req.Path, req.Tmp, dst)
	}
	return os.Rename(req.Tmp, dst)
}

// exit takes the child's exit: after a replace it restarts it and returns
// true; otherwise the agent ends with it.
func (r *run) exit() bool {
	r.killT = nil
	waiting := r.waiting
	r.waiting = nil
	if len(waiting) == 0 || r.stopping {
		for _, c := range waiting {
			c.reply <- Reply{Error: "the container is stopping", Restarts: r.restarts}
		}
		return false
	}
	r.restarts++
	err := r.start()
	for _, c := range waiting {
		if err != nil {
			c.reply <- Reply{Error: err.Error(), Restarts: r.restarts}
		} else {
			c.reply <- Reply{OK: true, PID: r.child.Process.Pid, Restarts: r.restarts}
		}
	}
	if err != nil {
		r.s.logf("%v", err)
		return false
	}
	return true
}

func exitCode(err error, ps *os.ProcessState) int {
	if ps == nil {
		return 127
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ps.ExitCode()
}

// serve answers requests on the socket, one JSON line each way per connection.
func serve(ln net.Listener, calls chan<- call) {
	for {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer conn.Close()
			var req Request
			if err := json.NewDecoder(bufio.NewReader(conn)).Decode(&req); err != nil {
				_ = json.NewEncoder(conn).Encode(Reply{Error: "bad request: " + err.Error()})
				return
			}
			c := call{req: req, reply: make(chan Reply, 1)}
			calls <- c
			_ = json.NewEncoder(conn).Encode(<-c.reply)
		}()
	}
}
