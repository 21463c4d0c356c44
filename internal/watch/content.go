package watch

import (
	"crypto/sha256"
	"io"
	"os"
)

// Digest is a file's content hash (SHA-256).
type Digest [sha256.Size]byte

// Snapshot is the content of some files at one moment, to record later with
// Prime.
type Snapshot struct {
	// Sums maps workspace-relative paths to their content's digest; a file that
	// could not be read is absent.
	Sums map[string]Digest
	// settled is how many Settle calls the watcher had seen when the snapshot
	// began: Prime keeps what a later Settle recorded.
	settled uint64
}

// Snapshot hashes files (workspace-relative) as they are now. It changes no
// watcher state.
func (w *Watcher) Snapshot(paths []string) Snapshot {
	w.mu.Lock()
	s := Snapshot{Sums: make(map[string]Digest, len(paths)), settled: w.content.settles}
	w.mu.Unlock()
	for _, p := range paths {
		if sum, err := hashFile(w.abs(p)); err == nil {
			s.Sums[p] = sum
		}
	}
	return s
}

// Prime records a snapshot as the files' known content, so that later events
// that leave them unchanged settle to nothing. It skips the paths skip (which
// may be nil) reports, meant for paths whose change is pending in the caller;
// it also skips paths the watcher has sent events for that were not settled
// since, and paths settled after the snapshot began (that content is newer).
func (w *Watcher) Prime(s Snapshot, skip func(path string) bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.content.prime(s, skip)
}

// Settle returns which of paths changed content since the watcher last
// recorded it (by Settle or Prime): Created when it had no content for the
// path, Written when the content differs, Removed when the file is gone. Paths
// whose content is unchanged, and paths never seen with content that are gone,
// drop out. It records the content now.
func (w *Watcher) Settle(paths []string) []Change {
	now := make(map[string]Digest, len(paths))
	seen := make(map[string]bool, len(paths))
	for _, p := range paths {
		if seen[p] {
			continue
		}
		seen[p] = true
		if sum, err := hashFile(w.abs(p)); err == nil {
			now[p] = sum
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.content.settle(paths, now)
}

// contentTable is what the watcher knows of files' content: the logic of
// Settle and Prime, apart from the file system.
type contentTable struct {
	settles uint64               // Settle calls so far
	known   map[string]knownFile // last recorded state of each path
	pending map[string]bool      // paths with events sent and not settled since
}

type knownFile struct {
	sum     Digest
	present bool   // false: settled as gone (kept so an older snapshot cannot revive it)
	settled uint64 // the settles count when recorded
}

func newContentTable() contentTable {
	return contentTable{known: map[string]knownFile{}, pending: map[string]bool{}}
}

// markPending notes that an event for path was sent.
func (t *contentTable) markPending(path string) { t.pending[path] = true }

// settle compares paths against now, the digests of those that exist.
func (t *contentTable) settle(paths []string, now map[string]Digest) []Change {
	t.settles++
	var out []Change
	for _, p := range paths {
		// A path listed twice settles to nothing the second time.
		delete(t.pending, p)
		old := t.known[p]
		sum, exists := now[p]
		t.known[p] = knownFile{sum: sum, present: exists, settled: t.settles}
		switch {
		case !exists && old.present:
			out = append(out, Change{Path: p, Op: Removed})
		case !exists:
			// Never seen with content, and gone: nothing changed.
		case !old.present:
			out = append(out, Change{Path: p, Op: Created})
		case old.sum != sum:
			out = append(out, Change{Path: p, Op: Written})
		}
	}
	return out
}

// prime records a snapshot's digests, except for paths skip reports, paths
// pending, and paths settled after the snapshot began.
func (t *contentTable) prime(s Snapshot, skip func(string) bool) {
	for p, sum := range s.Sums {
		if t.pending[p] || skip != nil && skip(p) {
			continue
		}
		if k, ok := t.known[p]; ok && k.settled > s.settled {
			continue
		}
		t.known[p] = knownFile{sum: sum, present: true, settled: s.settled}
	}
}

// knownUnder returns the paths under dir (not dir itself) whose content is
// known, sorted.
func (t *contentTable) knownUnder(dir string) []string {
	set := map[string]bool{}
	for p, k := range t.known {
		if k.present && p != dir && within(p, dir) {
			set[p] = true
		}
	}
	return sorted(set)
}

func hashFile(p string) (Digest, error) {
	var sum Digest
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
