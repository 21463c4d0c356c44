// Command slipway-agent runs inside dev-mode containers of live-update images
// (docs/live-update.md). It has no dependency on a shell or any file of the
// image, so it works on scratch images:
//
//	slipway-agent install DEST                                   copy itself to DEST (the init container)
//	slipway-agent run --state=DIR --allow=PATH... -- ARGV...     run ARGV, forward signals, restart on replace
//	slipway-agent receive --state=DIR PATH < FILE                replace PATH with stdin, restart the child
//	slipway-agent reset --state=DIR                              run the image's own files again
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/slipway-dev/slipway/internal/liveupdate/agent"
)

type stringList []string

func (l *stringList) String() string     { return fmt.Sprint(*l) }
func (l *stringList) Set(s string) error { *l = append(*l, s); return nil }

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	args := os.Args[2:]
	switch os.Args[1] {
	case "install":
		if len(args) != 1 {
			usage()
		}
		exitOn(agent.Install(args[0]))
	case "run":
		os.Exit(run(args))
	case "receive":
		os.Exit(receive(args))
	case "reset":
		os.Exit(reset(args))
	default:
		usage()
	}
}

func run(args []string) int {
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	state := fs.String("state", "", "the agent's state folder (shared with the init container)")
	grace := fs.Duration("grace", 10*time.Second, "how long a restart waits after SIGTERM before SIGKILL")
	var allow stringList
	fs.Var(&allow, "allow", "a container path that may be replaced (repeated)")
	_ = fs.Parse(args)
	signals := make(chan os.Signal, 8)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2)
	s := &agent.Supervisor{Paths: agent.Paths{State: *state, Allow: allow}, Argv: fs.Args(), Grace: *grace,
		Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Logger: os.Stderr}
	return s.Run(signals)
}

func receive(args []string) int {
	fs := flag.NewFlagSet("receive", flag.ExitOnError)
	state := fs.String("state", "", "the agent's state folder")
	timeout := fs.Duration("timeout", 30*time.Second, "how long to wait for the restart")
	_ = fs.Parse(args)
	if fs.NArg() != 1 {
		usage()
	}
	rec, err := agent.Receive(agent.Paths{State: *state}, fs.Arg(0), os.Stdin, *timeout)
	if rec != nil {
		_ = json.NewEncoder(os.Stdout).Encode(rec)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "slipway-agent receive: %v\n", err)
		return 1
	}
	return 0
}

func reset(args []string) int {
	fs := flag.NewFlagSet("reset", flag.ExitOnError)
	state := fs.String("state", "", "the agent's state folder")
	timeout := fs.Duration("timeout", 30*time.Second, "how long to wait for the restart")
	_ = fs.Parse(args)
	rep, err := agent.Reset(agent.Paths{State: *state}, *timeout)
	if rep != nil {
		_ = json.NewEncoder(os.Stdout).Encode(rep)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "slipway-agent reset: %v\n", err)
		return 1
	}
	return 0
}

func exitOn(err error) {
	if err != nil {
		fmt.Fprintf(os.Stderr, "slipway-agent: %v\n", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: slipway-agent install DEST | run --state=DIR --allow=PATH... -- ARGV... | receive --state=DIR PATH | reset --state=DIR")
	os.Exit(2)
}
