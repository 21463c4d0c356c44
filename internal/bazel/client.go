// Package bazel runs the Bazel CLI for slipway: cquery for the dependency graph,
// builds with per-target results from the Build Event Protocol, and `bazel info`.
package bazel

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"
)

// Client is the part of Bazel slipway uses; fakes stand in for it in unit tests.
type Client interface {
	// CQuery returns the configured-target graph of expr, built with flags.
	CQuery(ctx context.Context, expr string, flags []string) (*Graph, error)
	// Build builds targets with flags; a failed build is a result, not an error.
	Build(ctx context.Context, targets []string, flags []string) (*BuildResult, error)
	// ExecRoot is `bazel info execution_root`.
	ExecRoot(ctx context.Context) (string, error)
}

// CLI runs a bazel binary in a workspace.
type CLI struct {
	// Bazel is the bazel command (default "bazel").
	Bazel     string
	Workspace string
	// StartupFlags go before the command (e.g. --output_base).
	StartupFlags []string
	// Progress receives Bazel's console output while it builds (may be nil).
	Progress io.Writer
}

var _ Client = (*CLI)(nil)

func (c *CLI) command(ctx context.Context, args ...string) *exec.Cmd {
	bin := c.Bazel
	if bin == "" {
		bin = "bazel"
	}
	cmd := exec.CommandContext(ctx, bin, append(append([]string(nil), c.StartupFlags...), args...)...)
	cmd.Dir = c.Workspace
	// Cancel the way a user does: Ctrl-C lets Bazel stop its actions and release
	// the output base; a kill would leave the server busy.
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 30 * time.Second
	return cmd
}

// ExecRoot runs `bazel info execution_root`.
func (c *CLI) ExecRoot(ctx context.Context) (string, error) {
	var stderr bytes.Buffer
	cmd := c.command(ctx, "info", "execution_root")
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("bazel info execution_root: %w\n%s", err, tail(stderr.String(), 20))
	}
	return strings.TrimSpace(string(out)), nil
}

// CQuery runs `bazel cquery --output=jsonproto`.
func (c *CLI) CQuery(ctx context.Context, expr string, flags []string) (*Graph, error) {
	var stdout, stderr bytes.Buffer
	args := append([]string{"cquery", "--output=jsonproto", "--noimplicit_deps"}, flags...)
	cmd := c.command(ctx, append(args, "--", expr)...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &QueryError{Expr: expr, Output: errorLines(stderr.String())}
	}
	return ParseCQuery(stdout.Bytes())
}

// QueryError is a failed query, with Bazel's error lines.
type QueryError struct {
	Expr   string
	Output string
}

func (e *QueryError) Error() string {
	return fmt.Sprintf("bazel cquery %s failed:\n%s", e.Expr, e.Output)
}

// Build runs `bazel build --keep_going` and reads its Build Event Protocol file.
func (c *CLI) Build(ctx context.Context, targets []string, flags []string) (*BuildResult, error) {
	bep, err := os.CreateTemp("", "slipway-bep-*.json")
	if err != nil {
		return nil, err
	}
	bep.Close()
	defer os.Remove(bep.Name())
	var stderr bytes.Buffer
	args := append([]string{"build", "--keep_going", "--build_event_json_file=" + bep.Name(), "--color=no", "--curses=no"}, flags...)
	cmd := c.command(ctx, append(append(args, "--"), targets...)...)
	cmd.Stdout = io.Discard
	if c.Progress != nil {
		cmd.Stderr = io.MultiWriter(&stderr, c.Progress)
	} else {
		cmd.Stderr = &stderr
	}
	start := time.Now()
	runErr := cmd.Run()
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	f, err := os.Open(bep.Name())
	if err != nil {
		return nil, err
	}
	defer f.Close()
	res, err := ParseBuildEvents(f)
	if err != nil {
		return nil, fmt.Errorf("reading bazel's build events: %w (bazel said:\n%s)", err, tail(stderr.String(), 20))
	}
	res.Duration = time.Since(start)
	if runErr != nil && res.Success {
		// Bazel failed without saying so in its events (a crash, a bad flag).
		res.Success = false
	}
	if !res.Success {
		res.Output = errorLines(stderr.String())
	}
	return res, nil
}

// errorLines keeps Bazel's ERROR blocks (an ERROR line and the lines under it).
func errorLines(s string) string {
	var out []string
	keep := false
	for _, line := range strings.Split(s, "\n") {
		switch {
		case strings.HasPrefix(line, "ERROR:"):
			keep = true
		case strings.HasPrefix(line, "INFO:"), strings.HasPrefix(line, "WARNING:"), strings.HasPrefix(line, "Loading"),
			strings.HasPrefix(line, "Analyzing"), strings.HasPrefix(line, "["), strings.HasPrefix(line, "Target "),
			strings.HasPrefix(line, "FAILED:"), strings.HasPrefix(line, "Use --"):
			keep = false
		}
		if keep && strings.TrimSpace(line) != "" {
			out = append(out, line)
		}
	}
	if len(out) == 0 {
		return tail(s, 20)
	}
	return strings.Join(out, "\n")
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
