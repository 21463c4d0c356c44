// Package watch reports changes to files in a workspace: fsnotify on every
// directory (new ones and ones moved in included, so files a glob will match are
// seen), skipping Bazel's output symlinks, VCS folders and ignored paths.
//
// Run sends raw events, each saying what happened to a path (Created, Written,
// Removed); a folder that goes away yields a Removed for every file under it
// whose content the watcher knew. Settle, called once a burst of events is over,
// keeps the files whose content really changed (editors and Bazel rewrite files
// with the same bytes, and a write is a truncate then a write). Snapshot and
// Prime record the content of files nobody changed, in two steps, so a caller
// can take the snapshot in one goroutine and record it in another without
// overwriting changes still pending.
package watch

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/fsnotify/fsnotify"
)

// Op is what happened to a path.
type Op uint8

const (
	// Created: the path appeared (created, or renamed or moved to here), or, in
	// a Change, the watcher had no content for it before.
	Created Op = iota + 1
	// Written: the file's content was written (a Change: it differs).
	Written
	// Removed: the path disappeared (deleted, or renamed or moved away).
	Removed
)

func (op Op) String() string {
	switch op {
	case Created:
		return "created"
	case Written:
		return "written"
	case Removed:
		return "removed"
	}
	return "unknown"
}

// Event is one raw file-system event.
type Event struct {
	// Path is relative to the workspace, with forward slashes.
	Path string
	Op   Op
}

// Change is a file whose content changed, appeared or disappeared, as Settle
// found it.
type Change struct {
	// Path is relative to the workspace, with forward slashes.
	Path string
	Op   Op
}

// Watcher watches a workspace.
type Watcher struct {
	root   string
	ignore []string // workspace-relative directories not to watch
	fsw    *fsnotify.Watcher

	mu      sync.Mutex
	dirs    map[string]bool // watched directories, workspace-relative ("." is the root)
	content contentTable
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
	w := &Watcher{root: root, fsw: fsw, ignore: readBazelignore(root), dirs: map[string]bool{}, content: newContentTable()}
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
	return len(w.dirs)
}

// Close stops watching.
func (w *Watcher) Close() error { return w.fsw.Close() }

// Run sends events to out until ctx ends. Errors (such as hitting the inotify
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
			evs := w.handle(ctx, ev, errs)
			w.mu.Lock()
			for _, e := range evs {
				w.content.markPending(e.Path)
			}
			w.mu.Unlock()
			for _, e := range evs {
				select {
				case out <- e:
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

// handle turns one fsnotify event into ours, keeping the watches in step.
func (w *Watcher) handle(ctx context.Context, ev fsnotify.Event, errs chan<- error) []Event {
	rel, ok := w.rel(ev.Name)
	if !ok || rel == "." || w.skipped(rel, filepath.Base(ev.Name)) {
		return nil
	}
	switch {
	case ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename):
		// fsnotify reports a rename as Rename for the old name, then Create for
		// the new one.
		return w.gone(rel)
	case ev.Has(fsnotify.Create):
		return w.created(ctx, ev.Name, rel, errs)
	case ev.Has(fsnotify.Write):
		return []Event{{Path: rel, Op: Written}}
	}
	return nil // a mode or time change alone changes no content
}

// gone handles a path that was deleted or moved away. If it was a folder, its
// watches are dropped now, before the new name's Create comes: inotify keeps a
// watch on the folder (its inode) wherever it moves, so re-adding the new name
// would get back the old watch, which fsnotify keeps under the old path (every
// later event would name the old path) and drops when it handles the folder's
// IN_MOVE_SELF (later events are lost). Removing the old watches first makes
// the new name's watches fresh, and the old ones' late events are ignored.
//
// It returns Removed for the path itself and for every file under it whose
// content is known, so the caller sees which known files went away.
func (w *Watcher) gone(rel string) []Event {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.dirs[rel] {
		// A file, or a folder never watched (nothing under it is either).
		return []Event{{Path: rel, Op: Removed}}
	}
	var stale []string
	for d := range w.dirs {
		if within(d, rel) {
			stale = append(stale, d)
		}
	}
	for _, d := range stale {
		// The error is ErrNonExistentWatch, or EINVAL from inotify_rm_watch,
		// when the kernel dropped the watch of a deleted folder already.
		_ = w.fsw.Remove(w.abs(d))
		delete(w.dirs, d)
	}
	var out []Event
	for _, p := range w.content.knownUnder(rel) {
		out = append(out, Event{Path: p, Op: Removed})
	}
	return append(out, Event{Path: rel, Op: Removed})
}

// created handles a path that appeared: a file, or a folder (made here, or
// moved or renamed here) that is watched with all its subfolders and whose
// files are reported (a tool may have made them before the watch was in
// place).
func (w *Watcher) created(ctx context.Context, abs, rel string, errs chan<- error) []Event {
	info, err := os.Lstat(abs)
	if err != nil {
		return nil // gone again already; its removal comes next
	}
	if info.IsDir() {
		if err := w.addTree(abs); err != nil {
			send(ctx, errs, err)
		}
		return w.filesUnder(abs)
	}
	if !info.Mode().IsRegular() {
		return nil
	}
	return []Event{{Path: rel, Op: Created}}
}

// within reports whether the workspace-relative path p is dir or under it.
func within(p, dir string) bool {
	return p == dir || strings.HasPrefix(p, dir+"/")
}

func sorted(set map[string]bool) []string {
	out := make([]string, 0, len(set))
	for p := range set {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}
