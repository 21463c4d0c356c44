package watch

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// addTree watches dir and every folder under it that is not skipped.
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
		rel, ok := w.rel(p)
		if !ok {
			return nil
		}
		if p != w.root && w.skipped(rel, d.Name()) {
			return filepath.SkipDir
		}
		if err := w.fsw.Add(p); err != nil {
			if p != dir && errors.Is(err, fs.ErrNotExist) {
				return filepath.SkipDir // vanished while walking
			}
			return limitError(err, w.Dirs())
		}
		w.mu.Lock()
		w.dirs[rel] = true
		w.mu.Unlock()
		return nil
	})
}

// filesUnder returns a Created event for every file under dir that is not
// skipped.
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

// skippedNames are never watched: VCS data, tool caches, editor droppings.
var skippedNames = map[string]bool{".git": true, ".slipway": true, ".hg": true, ".svn": true, ".jj": true, "node_modules": true, ".cache": true, ".idea": true, ".vscode": true}

func (w *Watcher) skipped(rel, base string) bool {
	if skippedNames[base] || strings.HasPrefix(base, "bazel-") && isSymlink(filepath.Join(w.root, rel)) {
		return true
	}
	// Editor swap and backup files.
	if strings.HasSuffix(base, "~") || strings.HasSuffix(base, ".swp") || strings.HasSuffix(base, ".swx") || strings.HasPrefix(base, ".#") || strings.HasPrefix(base, "#") {
		return true
	}
	for _, ig := range w.ignore {
		if within(rel, ig) {
			return true
		}
	}
	return false
}

func isSymlink(p string) bool {
	info, err := os.Lstat(p)
	return err == nil && info.Mode()&fs.ModeSymlink != 0
}

// rel returns the workspace-relative, slash-separated form of an absolute path
// ("." for the root), and false for a path outside the workspace.
func (w *Watcher) rel(abs string) (string, bool) {
	rel, err := filepath.Rel(w.root, abs)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return "", false
	}
	return filepath.ToSlash(rel), true
}

func (w *Watcher) abs(rel string) string {
	return filepath.Join(w.root, filepath.FromSlash(rel))
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
