// Package watch reports changes to files in a workspace: fsnotify on every
// directory (new ones included, so files a glob will match are seen), skipping
// Bazel's output symlinks, VCS folders and ignored paths. Events are raw; Settle,
// called once a burst of events is over, keeps the files whose content really
// changed (editors and Bazel rewrite files with the same bytes, and a write is a
// truncate then a write).
package watch

import (
	"bufio"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"github.com/fsnotify/fsnotify"
)

// Op is what happened to a file.
type Op int

const (
	Created Op = iota + 1
	Written
	Removed
)

func (o Op) String() string {
	return map[Op]string{Created: "created", Written: "written", Removed: "removed"}[o]
}

// Event is a raw file event.
type Event struct {
	// Path is relative to the workspace, with forward slashes.
	Path string
	Op   Op
}

// Change is a file whose content changed, appeared or disappeared.
type Change struct {
	// Path is relative to the workspace, with forward slashes.
	Path string
	Op   Op
}

// Snapshot is the content hash of files at one moment.
type Snapshot map[string][sha256.Size]byte

// Watcher watches a workspace.
type Watcher struct {
	root   string
	ignore []string // workspace-relative directories not to watch
	fsw    *fsnotify.Watcher

	mu     sync.Mutex
	hashes map[string][sha256.Size]byte
	dirs   int
}

// New watches every directory under root, except .git and the like, bazel-*
// symlinks and the directories .bazelignore lists.
func New(root string) (*Watcher, error) {
	root, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	fsw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, limitError(err, 0)
	}
	w := &Watcher{root: root, fsw: fsw, hashes: map[string][sha256.Size]byte{}, ignore: readBazelignore(root)}
	if err := w.addTree(root); err != nil {
		fsw.Close()
		return nil, err
	}
	return w, nil
}

// Dirs returns how many directories are watched.
func (w *Watcher) Dirs() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.dirs
}

// Close stops watching.
func (w *Watcher) Close() error { return w.fsw.Close() }

// Snapshot hashes files now; it changes nothing.
func (w *Watcher) Snapshot(paths []string) Snapshot {
	s := Snapshot{}
	for _, p := range paths {
		if h, err := hashFile(filepath.Join(w.root, filepath.FromSlash(p))); err == nil {
			s[p] = h
		}
	}
	return s
}

// Prime records a snapshot, except the paths skip names.
func (w *Watcher) Prime(s Snapshot, skip func(string) bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for p, h := range s {
		if skip == nil || !skip(p) {
			w.hashes[p] = h
		}
	}
}

// Run sends changes to out until ctx ends. Errors (such as hitting the inotify
// watch limit on a new directory) go to errs; watching continues.
func (w *Watcher) Run(ctx context.Context, out chan<- Event, errs chan<- error) {
	for {
		select {
		case <-ctx.Done():
			return
		case err, ok := <-w.fsw.Errors:
			if !ok {
				return
			}
			send(ctx, errs, err)
		case ev, ok := <-w.fsw.Events:
			if !ok {
				return
			}
			for _, c := range w.handle(ctx, ev, errs) {
				select {
				case out <- c:
				case <-ctx.Done():
					return
				}
			}
		}
	}
}

func send(ctx context.Context, errs chan<- error, err error) {
	select {
	case errs <- err:
	case <-ctx.Done():
	}
}

func (w *Watcher) handle(ctx context.Context, ev fsnotify.Event, errs chan<- error) []Event {
	rel, ok := w.rel(ev.Name)
	if !ok || w.skipped(rel, filepath.Base(ev.Name)) {
		return nil
	}
	if ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename) {
		// fsnotify drops the watches of removed directories by itself.
		return []Event{{Path: rel, Op: Removed}}
	}
	info, err := os.Lstat(ev.Name)
	if err != nil {
		return nil // gone again already
	}
	if info.IsDir() {
		if ev.Has(fsnotify.Create) {
			// A new directory: watch it, and report what is already inside (a
			// tool may have created files before the watch was in place).
			if err := w.addTree(ev.Name); err != nil {
				send(ctx, errs, err)
			}
			return w.filesUnder(ev.Name)
		}
		return nil
	}
	if !info.Mode().IsRegular() {
		return nil
	}
	if ev.Has(fsnotify.Create) {
		return []Event{{Path: rel, Op: Created}}
	}
	return []Event{{Path: rel, Op: Written}}
}

// Settle returns which of paths changed content (or appeared, or disappeared)
// since the last Settle or Prime, and records their content now.
func (w *Watcher) Settle(paths []string) []Change {
	var out []Change
	seen := map[string]bool{}
	for _, p := range paths {
		if seen[p] {
			continue
		}
		seen[p] = true
		h, err := hashFile(filepath.Join(w.root, filepath.FromSlash(p)))
		w.mu.Lock()
		old, known := w.hashes[p]
		switch {
		case err != nil && known:
			delete(w.hashes, p)
			out = append(out, Change{Path: p, Op: Removed})
		case err != nil:
			// Never seen with content, and gone: nothing changed.
		case !known:
			w.hashes[p] = h
			out = append(out, Change{Path: p, Op: Created})
		case old != h:
			w.hashes[p] = h
			out = append(out, Change{Path: p, Op: Written})
		}
		w.mu.Unlock()
	}
	return out
}

func (w *Watcher) filesUnder(dir string) []Event {
	var out []Event
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		rel, ok := w.rel(p)
		if !ok {
			return nil
		}
		if d.IsDir() {
			if p != dir && w.skipped(rel, d.Name()) {
				return filepath.SkipDir
			}
			return nil
		}
		if d.Type().IsRegular() && !w.skipped(rel, d.Name()) {
			out = append(out, Event{Path: rel, Op: Created})
		}
		return nil
	})
	return out
}

func (w *Watcher) addTree(dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == dir {
				return err
			}
			return nil // vanished while walking
		}
		if !d.IsDir() {
			return nil
		}
		rel, _ := w.rel(p)
		if p != w.root && w.skipped(rel, d.Name()) {
			return filepath.SkipDir
		}
		if err := w.fsw.Add(p); err != nil {
			return limitError(err, w.Dirs())
		}
		w.mu.Lock()
		w.dirs++
		w.mu.Unlock()
		return nil
	})
}

// skippedNames are never watched: VCS data, tool caches, editor droppings.
var skippedNames = map[string]bool{".git": true, ".hg": true, ".svn": true, ".jj": true, "node_modules": true, ".cache": true, ".idea": true, ".vscode": true}

func (w *Watcher) skipped(rel, base string) bool {
	if skippedNames[base] || strings.HasPrefix(base, "bazel-") && isSymlink(filepath.Join(w.root, rel)) {
		return true
	}
	// Editor swap and backup files.
	if strings.HasSuffix(base, "~") || strings.HasSuffix(base, ".swp") || strings.HasSuffix(base, ".swx") || strings.HasPrefix(base, ".#") || strings.HasPrefix(base, "#") {
		return true
	}
	for _, ig := range w.ignore {
		if rel == ig || strings.HasPrefix(rel, ig+"/") {
			return true
		}
	}
	return false
}

func isSymlink(p string) bool {
	info, err := os.Lstat(p)
	return err == nil && info.Mode()&fs.ModeSymlink != 0
}

func (w *Watcher) rel(abs string) (string, bool) {
	rel, err := filepath.Rel(w.root, abs)
	if err != nil || strings.HasPrefix(rel, "..") {
		return "", false
	}
	return filepath.ToSlash(rel), true
}

func readBazelignore(root string) []string {
	f, err := os.Open(filepath.Join(root, ".bazelignore"))
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line != "" && !strings.HasPrefix(line, "#") {
			out = append(out, strings.TrimSuffix(filepath.ToSlash(line), "/"))
		}
	}
	return out
}

func hashFile(p string) ([sha256.Size]byte, error) {
	var sum [sha256.Size]byte
	f, err := os.Open(p)
	if err != nil {
		return sum, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return sum, err
	}
	copy(sum[:], h.Sum(nil))
	return sum, nil
}

// limitError explains the inotify limits when one is hit.
func limitError(err error, watched int) error {
	switch {
	case errors.Is(err, syscall.ENOSPC):
		return fmt.Errorf("the inotify watch limit is reached after %d directories (fs.inotify.max_user_watches = %s); raise it, e.g. sudo sysctl fs.inotify.max_user_watches=524288, or list big folders in .bazelignore: %w",
			watched, readSysctl("max_user_watches"), err)
	case errors.Is(err, syscall.EMFILE):
		return fmt.Errorf("the inotify instance limit is reached (fs.inotify.max_user_instances = %s); close other watchers or raise it, e.g. sudo sysctl fs.inotify.max_user_instances=512: %w",
			readSysctl("max_user_instances"), err)
	}
	return err
}

func readSysctl(name string) string {
	b, err := os.ReadFile("/proc/sys/fs/inotify/" + name)
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(b))
}
