package watch

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

type harness struct {
	t    *testing.T
	root string
	w    *Watcher
	out  chan Change
}

func start(t *testing.T, setup func(root string)) *harness {
	t.Helper()
	root := t.TempDir()
	if setup != nil {
		setup(root)
	}
	w, err := New(root)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	h := &harness{t: t, root: root, w: w, out: make(chan Change, 100)}
	go w.Run(ctx, h.out, make(chan error, 10))
	w.Prime([]string{"app/main.go"})
	return h
}

func (h *harness) write(rel, content string) {
	h.t.Helper()
	mkfile(h.t, filepath.Join(h.root, rel), content)
}

// until collects raw events until one for path arrives (failing after a generous
// deadline), and returns the paths seen.
func (h *harness) until(path string) []string {
	h.t.Helper()
	var seen []string
	deadline := time.After(10 * time.Second)
	for {
		select {
		case c := <-h.out:
			seen = append(seen, c.Path)
			if c.Path == path {
				return seen
			}
		case <-deadline:
			h.t.Fatalf("no event for %s within 10s (saw %v)", path, seen)
		}
	}
}

func mkfile(t *testing.T, p, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestSettleKeepsRealChanges(t *testing.T) {
	h := start(t, func(root string) { mkfile(t, filepath.Join(root, "app/main.go"), "v1") })
	h.write("app/main.go", "v1") // same bytes
	h.until("app/main.go")
	if got := h.w.Settle([]string{"app/main.go"}); len(got) != 0 {
		t.Errorf("rewriting the same bytes settled to %v, want nothing", got)
	}
	h.write("app/main.go", "v2")
	h.until("app/main.go")
	want := []Change{{Path: "app/main.go"}}
	if diff := cmp.Diff(want, h.w.Settle([]string{"app/main.go", "app/main.go"})); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if err := os.Remove(filepath.Join(h.root, "app/main.go")); err != nil {
		t.Fatal(err)
	}
	h.until("app/main.go")
	if diff := cmp.Diff([]Change{{Path: "app/main.go", Removed: true}}, h.w.Settle([]string{"app/main.go"})); diff != "" {
		t.Errorf("after removal (-want +got):\n%s", diff)
	}
}

func TestNewDirectoriesAreWatched(t *testing.T) {
	h := start(t, nil)
	h.write("app/handlers/new.go", "package handlers") // new dir and file at once
	h.until("app/handlers/new.go")
	h.write("app/handlers/more.go", "package handlers")
	h.until("app/handlers/more.go")
	want := []Change{{Path: "app/handlers/new.go"}, {Path: "app/handlers/more.go"}}
	if diff := cmp.Diff(want, h.w.Settle([]string{"app/handlers/new.go", "app/handlers/more.go"})); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestSkippedPaths(t *testing.T) {
	h := start(t, func(root string) {
		mkfile(t, filepath.Join(root, ".git/HEAD"), "ref")
		mkfile(t, filepath.Join(root, "vendor-big/x"), "x")
		mkfile(t, filepath.Join(root, ".bazelignore"), "# big\nvendor-big\n")
		out := filepath.Join(root, "..", filepath.Base(root)+"-out")
		mkfile(t, filepath.Join(out, "f"), "x")
		if err := os.Symlink(out, filepath.Join(root, "bazel-out")); err != nil {
			t.Fatal(err)
		}
	})
	h.write(".git/HEAD", "other")
	h.write("vendor-big/x", "y")
	h.write("bazel-out/f", "y")
	h.write("app/main.go~", "backup")
	h.write("app/sentinel", "s")
	// Events arrive in order: only the sentinel's may come before the sentinel.
	for _, p := range h.until("app/sentinel") {
		if p != "app/sentinel" && p != "app" {
			t.Errorf("event for skipped path %s", p)
		}
	}
}

func TestLimitErrorsExplainTheFix(t *testing.T) {
	tests := []struct {
		err  error
		want []string
	}{
		{&os.SyscallError{Syscall: "inotify_add_watch", Err: syscall.ENOSPC}, []string{"inotify watch limit", "after 42 directories", "fs.inotify.max_user_watches", "sysctl", ".bazelignore"}},
		{&os.SyscallError{Syscall: "inotify_init1", Err: syscall.EMFILE}, []string{"inotify instance limit", "fs.inotify.max_user_instances"}},
	}
	for _, tt := range tests {
		got := limitError(tt.err, 42)
		if !errors.Is(got, tt.err.(*os.SyscallError).Err) {
			t.Errorf("%v: the cause is lost", got)
		}
		for _, w := range tt.want {
			if !strings.Contains(got.Error(), w) {
				t.Errorf("%q lacks %q", got, w)
			}
		}
	}
	other := errors.New("permission denied")
	if got := limitError(other, 1); got != other {
		t.Errorf("another error changed to %v", got)
	}
}
