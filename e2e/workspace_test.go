//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// repoRoot is this repository, which e2e workspaces depend on with local_path_override.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// workspace is a Bazel workspace outside this repository whose MODULE.bazel
// depends on slipway through local_path_override, as a user's would.
//
// Tests share one workspace directory and output base, each test writing its own
// packages: a fresh output base costs minutes (Gazelle generates every Go
// dependency's repository), a warm one seconds. Its location is stable, so the next
// run starts warm too.
type workspace struct {
	t          *testing.T
	dir        string
	outputBase string
}

var (
	sharedWorkspaceOnce sync.Once
	sharedWorkspaceDir  string
)

// newWorkspace returns the shared e2e workspace, with pkg (a directory of the test's
// own) emptied.
func newWorkspace(t *testing.T, pkg string) *workspace {
	t.Helper()
	cache, err := os.UserCacheDir()
	if err != nil {
		t.Fatal(err)
	}
	w := &workspace{
		t:          t,
		dir:        filepath.Join(os.TempDir(), "slipway-"+e2eID(), "ws"),
		outputBase: filepath.Join(cache, "slipway", e2eID(), "output-base"),
	}
	sharedWorkspaceOnce.Do(func() {
		// The first test of the run resets the workspace: no state from earlier runs
		// (the output base stays, that is the point).
		if err := os.RemoveAll(w.dir); err != nil {
			t.Fatal(err)
		}
		w.write("MODULE.bazel", fmt.Sprintf(`module(name = "e2e")

bazel_dep(name = "slipway", version = "0.1.0")
local_path_override(module_name = "slipway", path = %q)

bazel_dep(name = "rules_go", version = "0.59.0")
bazel_dep(name = "gazelle", version = "0.47.0")

go_sdk = use_extension("@rules_go//go:extensions.bzl", "go_sdk")
go_sdk.host()
`, repoRoot(t)))
		w.write(".bazelrc", "common --noenable_workspace\ncommon --lockfile_mode=off\ncommon --experimental_isolated_extension_usages\nbuild --color=no --curses=no\ntry-import %workspace%/user.bazelrc\n")
		// The output base goes in an rc file too, so that the Bazel commands slipway
		// runs itself (the dev loop's) share it; an untracked one, so that git
		// worktrees of this workspace (slipway affected) get output bases of their own.
		w.write("user.bazelrc", fmt.Sprintf("startup --output_base=%s\n", w.outputBase))
		w.write(".gitignore", "/bazel-*\n/user.bazelrc\n")
		w.write("BUILD.bazel", "")
		sharedWorkspaceDir = w.dir
	})
	if err := os.RemoveAll(filepath.Join(w.dir, pkg)); err != nil {
		t.Fatal(err)
	}
	return w
}

func (w *workspace) path(rel string) string { return filepath.Join(w.dir, filepath.FromSlash(rel)) }

// write writes a file of the workspace.
func (w *workspace) write(rel, content string) {
	w.t.Helper()
	p := w.path(rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		w.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		w.t.Fatal(err)
	}
}

func (w *workspace) read(rel string) string {
	w.t.Helper()
	b, err := os.ReadFile(w.path(rel))
	if err != nil {
		w.t.Fatal(err)
	}
	return string(b)
}

// edit replaces old by new in a file, failing when old is not there.
func (w *workspace) edit(rel, old, new string) {
	w.t.Helper()
	s := w.read(rel)
	if !strings.Contains(s, old) {
		w.t.Fatalf("%s does not contain %q", rel, old)
	}
	w.write(rel, strings.Replace(s, old, new, 1))
}

// copyFromRepo copies a folder of this repository into the workspace.
func (w *workspace) copyFromRepo(from, to string) {
	w.t.Helper()
	src := filepath.Join(repoRoot(w.t), from)
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		w.write(filepath.Join(to, rel), string(b))
		return nil
	})
	if err != nil {
		w.t.Fatal(err)
	}
}

// bazelCommand is a bazel command in the workspace, with its output base.
func (w *workspace) bazelCommand(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "bazel", append([]string{"--output_base=" + w.outputBase}, args...)...)
	cmd.Dir = w.dir
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 30 * time.Second
	return cmd
}

// bazel runs a bazel command and returns its stdout and stderr.
func (w *workspace) bazel(args ...string) (stdout, stderr string, err error) {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	cmd := w.bazelCommand(ctx, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	return out.String(), errb.String(), err
}

// mustBazel runs a bazel command that must succeed.
func (w *workspace) mustBazel(args ...string) string {
	w.t.Helper()
	out, errOut, err := w.bazel(args...)
	if err != nil {
		w.t.Fatalf("bazel %s: %v\n%s", strings.Join(args, " "), err, tailLines(errOut, 40))
	}
	return out
}

// bin is the path of a build output, by its label-relative path ("pkg/name.digest").
func (w *workspace) bin(rel string) string {
	w.t.Helper()
	return filepath.Join(w.dir, "bazel-bin", filepath.FromSlash(rel))
}

func tailLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// goMain returns a main package printing and serving a version string.
func goMain(version string) string {
	return fmt.Sprintf(`package main

import (
	"fmt"
	"net/http"
	"os"
)

const version = %q

func main() {
	http.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintf(w, "ok %%s\n", version) })
	addr := ":" + os.Getenv("PORT")
	if addr == ":" {
		addr = ":8080"
	}
	if err := http.ListenAndServe(addr, nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
`, version)
}
