package watch

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// eventWait bounds every wait for an event; events normally come within
// milliseconds, so reaching it means the event is lost.
const eventWait = 10 * time.Second

type harness struct {
	t    *testing.T
	root string
	w    *Watcher
	out  chan Event
	errs chan error
}

// start watches a new workspace that setup fills, and primes the content of
// the files listed in known.
func start(t *testing.T, setup func(root string), known ...string) *harness {
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
	h := &harness{t: t, root: root, w: w, out: make(chan Event, 1000), errs: make(chan error, 10)}
	go w.Run(ctx, h.out, h.errs)
	w.Prime(w.Snapshot(known), nil)
	return h
}

func (h *harness) write(rel, content string) {
	h.t.Helper()
	mkfile(h.t, filepath.Join(h.root, rel), content)
}

func (h *harness) path(rel string) string { return filepath.Join(h.root, filepath.FromSlash(rel)) }

// until collects events until want arrives (failing after eventWait), and
// returns the events seen, want last.
func (h *harness) until(want Event) []Event {
	h.t.Helper()
	var seen []Event
	deadline := time.After(eventWait)
	for {
		select {
		case e := <-h.out:
			seen = append(seen, e)
			if e == want {
				return seen
			}
		case err := <-h.errs:
			h.t.Fatalf("watch error while waiting for %v: %v", want, err)
		case <-deadline:
			h.t.Fatalf("no %v within %s (saw %v)", want, eventWait, seen)
		}
	}
}

// untilAll collects events until every one of want has arrived.
func (h *harness) untilAll(want ...Event) []Event {
	h.t.Helper()
	missing := map[Event]bool{}
	for _, e := range want {
		missing[e] = true
	}
	var seen []Event
	deadline := time.After(eventWait)
	for len(missing) > 0 {
		select {
		case e := <-h.out:
			seen = append(seen, e)
			delete(missing, e)
		case err := <-h.errs:
			h.t.Fatalf("watch error: %v", err)
		case <-deadline:
			h.t.Fatalf("missing %v after %s (saw %v)", missing, eventWait, seen)
		}
	}
	return seen
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

func rename(t *testing.T, from, to string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(from, to); err != nil {
		t.Fatal(err)
	}
}

func ev(path string, op Op) Event { return Event{Path: path, Op: op} }

func TestEventsSayWhatHappened(t *testing.T) {
	h := start(t, func(root string) { mkfile(t, filepath.Join(root, "app/main.go"), "v1") })
	h.write("app/main.go", "v2")
	h.until(ev("app/main.go", Written))
	if err := os.Remove(h.path("app/main.go")); err != nil {
		t.Fatal(err)
	}
	h.until(ev("app/main.go", Removed))
	h.write("app/new.go", "v1")
	h.until(ev("app/new.go", Created))
	rename(t, h.path("app/new.go"), h.path("app/renamed.go"))
	h.untilAll(ev("app/new.go", Removed), ev("app/renamed.go", Created))
	if err := os.Chmod(h.path("app/renamed.go"), 0o600); err != nil {
		t.Fatal(err)
	}
	h.write("app/sentinel", "s")
	for _, e := range h.until(ev("app/sentinel", Created)) {
		if e.Path == "app/renamed.go" {
			t.Errorf("a mode change gave %v", e)
		}
	}
}

// A file created and written at once must come as Created first: the loop
// drops Written events of files it does not know.
func TestFileCreatedAndWrittenAtOnceIsCreated(t *testing.T) {
	h := start(t, func(root string) { mkfile(t, filepath.Join(root, "app/main.go"), "v1") })
	for i := range 20 {
		p := fmt.Sprintf("app/gen%d.go", i)
		h.write(p, "package app") // open(O_CREATE), write, close
		seen := h.until(ev(p, Created))
		for _, e := range seen[:len(seen)-1] {
			if e.Path == p {
				t.Fatalf("%s: %v came before its Created", p, e)
			}
		}
	}
}

func TestSettleKeepsRealChanges(t *testing.T) {
	h := start(t, func(root string) { mkfile(t, filepath.Join(root, "app/main.go"), "v1") }, "app/main.go")
	h.write("app/main.go", "v1") // same bytes
	h.until(ev("app/main.go", Written))
	if got := h.w.Settle([]string{"app/main.go"}); len(got) != 0 {
		t.Errorf("rewriting the same bytes settled to %v, want nothing", got)
	}
	h.write("app/main.go", "v2")
	h.until(ev("app/main.go", Written))
	h.write("app/other.go", "v1")
	h.until(ev("app/other.go", Created))
	want := []Change{{Path: "app/main.go", Op: Written}, {Path: "app/other.go", Op: Created}}
	if diff := cmp.Diff(want, h.w.Settle([]string{"app/main.go", "app/other.go", "app/main.go"})); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if err := os.Remove(h.path("app/main.go")); err != nil {
		t.Fatal(err)
	}
	h.until(ev("app/main.go", Removed))
	if diff := cmp.Diff([]Change{{Path: "app/main.go", Op: Removed}}, h.w.Settle([]string{"app/main.go"})); diff != "" {
		t.Errorf("after removal (-want +got):\n%s", diff)
	}
}

// Prime skips what the watcher has sent and nobody has settled: the snapshot
// may be older than that change.
func TestPrimeKeepsUnsettledChanges(t *testing.T) {
	h := start(t, func(root string) { mkfile(t, filepath.Join(root, "app/main.go"), "v1") }, "app/main.go")
	h.write("app/main.go", "v2")
	h.until(ev("app/main.go", Written)) // sent; the caller has not settled it
	h.w.Prime(h.w.Snapshot([]string{"app/main.go"}), nil)
	want := []Change{{Path: "app/main.go", Op: Written}}
	if diff := cmp.Diff(want, h.w.Settle([]string{"app/main.go"})); diff != "" {
		t.Errorf("the change before the prime (-want +got):\n%s", diff)
	}
}

func TestNewDirectoriesAreWatched(t *testing.T) {
	h := start(t, nil)
	h.write("app/handlers/new.go", "package handlers") // new dirs and a file at once
	h.until(ev("app/handlers/new.go", Created))
	h.write("app/handlers/more.go", "package handlers")
	h.until(ev("app/handlers/more.go", Created))
	want := []Change{{Path: "app/handlers/new.go", Op: Created}, {Path: "app/handlers/more.go", Op: Created}}
	if diff := cmp.Diff(want, h.w.Settle([]string{"app/handlers/new.go", "app/handlers/more.go"})); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// removed returns the sorted paths of Removed events in seen.
func removed(seen []Event) []string {
	set := map[string]bool{}
	for _, e := range seen {
		if e.Op == Removed {
			set[e.Path] = true
		}
	}
	return sorted(set)
}

func packageTree(t *testing.T, root, dir string) {
	for _, f := range []string{"BUILD.bazel", "main.go", "sub/handler.go", "sub/deep/model.go", "notes.txt"} {
		mkfile(t, filepath.Join(root, dir, f), f)
	}
}

var knownInPackage = []string{"pkg/BUILD.bazel", "pkg/main.go", "pkg/sub/deep/model.go", "pkg/sub/handler.go"}

func TestRemovedFolderRemovesItsKnownFiles(t *testing.T) {
	for _, how := range []string{"deleted", "moved out of the workspace"} {
		t.Run(how, func(t *testing.T) {
			h := start(t, func(root string) { packageTree(t, root, "pkg") }, knownInPackage...)
			if got := h.w.Dirs(); got != 4 {
				t.Fatalf("watching %d directories, want 4", got)
			}
			if how == "deleted" {
				if err := os.RemoveAll(h.path("pkg")); err != nil {
					t.Fatal(err)
				}
			} else {
				rename(t, h.path("pkg"), filepath.Join(t.TempDir(), "pkg"))
			}
			got := removed(h.until(ev("pkg", Removed)))
			// Deleting also reports the unknown file and the folders one by one.
			want := append(append([]string{}, knownInPackage...), "pkg")
			if how == "deleted" {
				want = append(want, "pkg/notes.txt", "pkg/sub", "pkg/sub/deep")
			}
			sort.Strings(want)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("removed (-want +got):\n%s", diff)
			}
			if got := h.w.Dirs(); got != 1 {
				t.Errorf("still watching %d directories, want 1 (the root)", got)
			}
			var settled []string
			for _, c := range h.w.Settle(got) {
				if c.Op != Removed {
					t.Errorf("settled %v", c)
				}
				settled = append(settled, c.Path)
			}
			if diff := cmp.Diff(knownInPackage, settled); diff != "" {
				t.Errorf("settled (-want +got):\n%s", diff)
			}
		})
	}
}

// Renaming a folder keeps watching it and its subfolders under the new name.
// The rename races with fsnotify's own handling of the move, so it is tried
// many times, across parents too.
func TestRenamedFolderKeepsWatching(t *testing.T) {
	name := func(i int) string { // top level and nested in turn
		if i%2 == 1 {
			return fmt.Sprintf("nest/pkg%d", i)
		}
		return fmt.Sprintf("pkg%d", i)
	}
	h := start(t, func(root string) {
		packageTree(t, root, name(0))
		if err := os.Mkdir(filepath.Join(root, "nest"), 0o755); err != nil {
			t.Fatal(err)
		}
	})
	for i := range 50 {
		from, to := name(i), name(i+1)
		rename(t, h.path(from), h.path(to))
		// The walk of the new folder reports its files once it is watched.
		seen := h.untilAll(ev(from, Removed), ev(to+"/sub/deep/model.go", Created), ev(to+"/main.go", Created))
		content := fmt.Sprint("edit ", i)
		h.write(to+"/main.go", content)
		h.write(to+"/sub/deep/model.go", content)
		added := fmt.Sprintf("%s/sub/added%d.go", to, i)
		h.write(added, content)
		seen = append(seen, h.untilAll(ev(to+"/main.go", Written), ev(to+"/sub/deep/model.go", Written), ev(added, Created))...)
		// Events come in order: the sentinel's comes after every event above.
		sentinel := fmt.Sprint("sentinel", i)
		h.write(sentinel, "s")
		seen = append(seen, h.until(ev(sentinel, Created))...)
		for _, e := range seen {
			if within(e.Path, from) && e.Op != Removed {
				t.Fatalf("rename %d (%s to %s): %v names the old folder", i, from, to, e)
			}
		}
		if got := h.w.Dirs(); got != 5 {
			t.Fatalf("rename %d: watching %d directories, want 5", i, got)
		}
	}
}

func TestFolderMovedInIsWatched(t *testing.T) {
	h := start(t, nil)
	outside := t.TempDir()
	packageTree(t, outside, "pkg")
	mkfile(t, filepath.Join(outside, "pkg/.git/HEAD"), "ref")
	rename(t, filepath.Join(outside, "pkg"), h.path("moved/pkg"))
	var want []Event
	for _, p := range []string{"BUILD.bazel", "main.go", "notes.txt", "sub/deep/model.go", "sub/handler.go"} {
		want = append(want, ev("moved/pkg/"+p, Created))
	}
	for _, e := range h.untilAll(want...) {
		if strings.Contains(e.Path, ".git") {
			t.Errorf("event in a skipped folder: %v", e)
		}
	}
	h.write("moved/pkg/sub/deep/model.go", "edited")
	h.write("moved/pkg/sub/deep/new.go", "new")
	h.untilAll(ev("moved/pkg/sub/deep/model.go", Written), ev("moved/pkg/sub/deep/new.go", Created))
	if got := h.w.Dirs(); got != 5 {
		t.Errorf("watching %d directories, want 5 (root, moved, pkg, sub, deep)", got)
	}
}

// A process appending to a log every few milliseconds gives Written events
// only: the loop drops those for files it does not index.
func TestAppendingWriterGivesOnlyWritten(t *testing.T) {
	h := start(t, func(root string) { mkfile(t, filepath.Join(root, "app/server.log"), "") })
	done := make(chan error)
	go func() {
		for i := range 200 {
			f, err := os.OpenFile(h.path("app/server.log"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
			if err != nil {
				done <- err
				return
			}
			fmt.Fprintf(f, "line %d\n", i)
			f.Close()
			time.Sleep(2 * time.Millisecond) // the writer's pace, not synchronization
		}
		done <- nil
	}()
	writes := 0
	for waiting := true; waiting; {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			waiting = false
		case e := <-h.out:
			if e != ev("app/server.log", Written) {
				t.Errorf("writer gave %v", e)
			}
			writes++
		}
	}
	h.write("app/sentinel", "s")
	for _, e := range h.until(ev("app/sentinel", Created)) {
		if e.Path == "app/server.log" {
			if e.Op != Written {
				t.Errorf("writer gave %v", e)
			}
			writes++
		}
	}
	if writes == 0 {
		t.Error("no event for the appended log")
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
	h.write("app/.main.go.swp", "swap")
	h.write("app/sentinel", "s")
	// Events arrive in order: only the sentinel's may come before the sentinel.
	for _, e := range h.until(ev("app/sentinel", Created)) {
		if e.Path != "app/sentinel" {
			t.Errorf("event for skipped path %v", e)
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
