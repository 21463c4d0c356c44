// Command check runs every check of the repository in order (formatting, vet,
// staticcheck, Go unit tests, Bazel tests, end-to-end tests) and ends with one summary line,
// "N passed, N failed", counting individual tests. `make test` runs it.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

type options struct {
	skipE2E bool
	only    string
	bazel   string
}

func main() {
	var o options
	flag.BoolVar(&o.skipE2E, "skip-e2e", false, "skip the end-to-end tests")
	flag.StringVar(&o.only, "only", "", "run only the steps whose names contain this (e.g. e2e)")
	flag.StringVar(&o.bazel, "bazel", "bazel", "the bazel command")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := o.run(ctx, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "check:", err)
		os.Exit(1)
	}
}

// step is one command whose output is turned into test counts.
type step struct {
	name string
	args []string
	// count counts the tests in the output; nil means the exit status alone
	// decides (one pass or one failure), whatever the command prints.
	count func(out io.Reader, echo io.Writer) (counts, error)
}

func (o *options) steps() []step {
	steps := []step{
		{"gofmt", []string{"gofmt", "-l", "."}, countGofmt},
		{"go vet", []string{"go", "vet", "./..."}, nil},
		{"staticcheck", []string{"go", "tool", "staticcheck", "-tags", "e2e", "./..."}, nil},
		{"go test", []string{"go", "test", "-json", "-count=1", "./..."}, countGoTest},
		{"bazel test", []string{o.bazel, "test", "//..."}, countBazelTest},
	}
	if !o.skipE2E {
		steps = append(steps, step{"e2e", []string{"go", "test", "-tags", "e2e", "-json", "-count=1", "-timeout", "60m", "./e2e/..."}, countGoTest})
	}
	return steps
}

func (o *options) run(ctx context.Context, out io.Writer) error {
	var total counts
	start := time.Now()
	for _, s := range o.steps() {
		if o.only != "" && !strings.Contains(s.name, o.only) {
			continue
		}
		fmt.Fprintf(out, "==> %s: %s\n", s.name, strings.Join(s.args, " "))
		stepStart := time.Now()
		c, err := runStep(ctx, s, out)
		if err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		fmt.Fprintf(out, "==> %s: %d passed, %d failed (%s)\n", s.name, c.passed, c.failed, time.Since(stepStart).Round(time.Second))
		total.add(c)
	}
	fmt.Fprintf(out, "%d passed, %d failed (%s)\n", total.passed, total.failed, time.Since(start).Round(time.Second))
	if total.failed > 0 {
		return fmt.Errorf("%d failed", total.failed)
	}
	return nil
}

// echoOnly copies a step's output and counts nothing.
func echoOnly(out io.Reader, echo io.Writer) (counts, error) {
	_, err := io.Copy(echo, out)
	return counts{}, err
}

// runStep runs the step's command, feeding its combined output to the step's counter.
// A command that exits non-zero with nothing counted as failed counts as one failure,
// so a crash (a build error, say) is never reported as green.
func runStep(ctx context.Context, s step, echo io.Writer) (counts, error) {
	cmd := exec.CommandContext(ctx, s.args[0], s.args[1:]...)
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		return counts{}, err
	}
	type result struct {
		c   counts
		err error
	}
	done := make(chan result, 1)
	count := s.count
	if count == nil {
		count = echoOnly
	}
	go func() {
		c, err := count(pr, echo)
		_, _ = io.Copy(io.Discard, pr)
		done <- result{c, err}
	}()
	waitErr := cmd.Wait()
	pw.Close()
	r := <-done
	if r.err != nil {
		return counts{}, r.err
	}
	if waitErr != nil && r.c.failed == 0 {
		fmt.Fprintf(echo, "--- %s exited with an error: %v\n", s.name, waitErr)
		r.c.failed++
	}
	if s.count == nil && waitErr == nil {
		r.c.passed = 1
	}
	if ctx.Err() != nil {
		return r.c, ctx.Err()
	}
	return r.c, nil
}
