package watch

import (
	"crypto/sha256"
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// goneMark stands for a path settled as absent in the tables below.
const goneMark = "<gone>"

func digestOf(content string) Digest { return sha256.Sum256([]byte(content)) }

// tableWith returns a content table that settled known (content by path,
// goneMark for absent) and then had events sent for pending.
func tableWith(known map[string]string, pending []string) *contentTable {
	t := newContentTable()
	settleContents(&t, known)
	for _, p := range pending {
		t.markPending(p)
	}
	return &t
}

// settleContents settles the paths of files (content by path, goneMark for
// absent) against those contents.
func settleContents(t *contentTable, files map[string]string) []Change {
	var paths []string
	now := map[string]Digest{}
	for p, c := range files {
		paths = append(paths, p)
		if c != goneMark {
			now[p] = digestOf(c)
		}
	}
	sort.Strings(paths)
	return t.settle(paths, now)
}

// contents returns what t knows, as content by path (goneMark for absent),
// given the contents a test used.
func (t *contentTable) contents(used ...map[string]string) map[string]string {
	byDigest := map[Digest]string{}
	for _, m := range used {
		for _, c := range m {
			byDigest[digestOf(c)] = c
		}
	}
	out := map[string]string{}
	for p, k := range t.known {
		if !k.present {
			out[p] = goneMark
			continue
		}
		out[p] = byDigest[k.sum]
	}
	return out
}

func TestSettleTable(t *testing.T) {
	tests := []struct {
		name      string
		known     map[string]string // settled before
		paths     []string
		files     map[string]string // the files that exist now
		want      []Change
		wantKnown map[string]string
	}{
		{
			name:      "the same bytes rewritten drop out",
			known:     map[string]string{"a.go": "v1"},
			paths:     []string{"a.go"},
			files:     map[string]string{"a.go": "v1"},
			wantKnown: map[string]string{"a.go": "v1"},
		},
		{
			name:      "new content is Written",
			known:     map[string]string{"a.go": "v1"},
			paths:     []string{"a.go", "a.go"},
			files:     map[string]string{"a.go": "v2"},
			want:      []Change{{Path: "a.go", Op: Written}},
			wantKnown: map[string]string{"a.go": "v2"},
		},
		{
			name:      "a file never seen with content is Created",
			paths:     []string{"new.go"},
			files:     map[string]string{"new.go": "v1"},
			want:      []Change{{Path: "new.go", Op: Created}},
			wantKnown: map[string]string{"new.go": "v1"},
		},
		{
			name:      "a known file gone is Removed",
			known:     map[string]string{"a.go": "v1", "b.go": "v1"},
			paths:     []string{"a.go"},
			want:      []Change{{Path: "a.go", Op: Removed}},
			wantKnown: map[string]string{"a.go": goneMark, "b.go": "v1"},
		},
		{
			name:      "a file never seen with content and gone is nothing",
			paths:     []string{"tmp.123"},
			wantKnown: map[string]string{"tmp.123": goneMark},
		},
		{
			name:      "a file settled as gone that comes back is Created",
			known:     map[string]string{"a.go": goneMark},
			paths:     []string{"a.go"},
			files:     map[string]string{"a.go": "v1"},
			want:      []Change{{Path: "a.go", Op: Created}},
			wantKnown: map[string]string{"a.go": "v1"},
		},
		{
			name:      "changes come in the order of paths",
			known:     map[string]string{"b.go": "v1", "c.go": "v1"},
			paths:     []string{"c.go", "a.go", "b.go"},
			files:     map[string]string{"a.go": "v1", "b.go": "v2"},
			want:      []Change{{Path: "c.go", Op: Removed}, {Path: "a.go", Op: Created}, {Path: "b.go", Op: Written}},
			wantKnown: map[string]string{"a.go": "v1", "b.go": "v2", "c.go": goneMark},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			table := tableWith(tt.known, tt.paths)
			now := map[string]Digest{}
			for p, c := range tt.files {
				now[p] = digestOf(c)
			}
			got := table.settle(tt.paths, now)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("changes (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantKnown, table.contents(tt.known, tt.files)); diff != "" {
				t.Errorf("known afterwards (-want +got):\n%s", diff)
			}
			if len(table.pending) != 0 {
				t.Errorf("still pending after settling: %v", table.pending)
			}
		})
	}
}

func TestPrimeTable(t *testing.T) {
	tests := []struct {
		name     string
		known    map[string]string // settled before the snapshot
		snapshot map[string]string
		// Between the snapshot and the prime:
		pending []string          // events sent and not settled
		settled map[string]string // settled (goneMark: as gone)
		skip    []string          // the caller's pending paths
		want    map[string]string
	}{
		{
			name:     "unknown files are recorded",
			snapshot: map[string]string{"a.go": "v1", "b.go": "v1"},
			want:     map[string]string{"a.go": "v1", "b.go": "v1"},
		},
		{
			name:     "the snapshot is newer than what was settled before it",
			known:    map[string]string{"a.go": "v1", "b.go": goneMark},
			snapshot: map[string]string{"a.go": "v2", "b.go": "v1"},
			want:     map[string]string{"a.go": "v2", "b.go": "v1"},
		},
		{
			name:     "the caller's pending paths are skipped",
			known:    map[string]string{"a.go": "v1"},
			snapshot: map[string]string{"a.go": "v2", "b.go": "v1"},
			skip:     []string{"a.go", "b.go"},
			want:     map[string]string{"a.go": "v1"},
		},
		{
			name:     "paths with events not settled yet are skipped",
			known:    map[string]string{"a.go": "v1"},
			snapshot: map[string]string{"a.go": "v2", "b.go": "v1", "c.go": "v1"},
			pending:  []string{"a.go", "b.go"},
			want:     map[string]string{"a.go": "v1", "c.go": "v1"},
		},
		{
			name:     "what a later settle recorded is newer than the snapshot",
			known:    map[string]string{"a.go": "v1", "b.go": "v1"},
			snapshot: map[string]string{"a.go": "v2", "b.go": "v1", "c.go": "v1"},
			settled:  map[string]string{"a.go": "v3", "b.go": goneMark, "c.go": goneMark},
			want:     map[string]string{"a.go": "v3", "b.go": goneMark, "c.go": goneMark},
		},
		{
			name:     "paths missing from the snapshot are left alone",
			known:    map[string]string{"a.go": "v1"},
			snapshot: map[string]string{},
			want:     map[string]string{"a.go": "v1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			table := tableWith(tt.known, nil)
			s := Snapshot{Sums: map[string]Digest{}, settled: table.settles}
			for p, c := range tt.snapshot {
				s.Sums[p] = digestOf(c)
			}
			for _, p := range tt.pending {
				table.markPending(p)
			}
			if tt.settled != nil {
				settleContents(table, tt.settled)
			}
			skip := map[string]bool{}
			for _, p := range tt.skip {
				skip[p] = true
			}
			table.prime(s, func(p string) bool { return skip[p] })
			if diff := cmp.Diff(tt.want, table.contents(tt.known, tt.snapshot, tt.settled)); diff != "" {
				t.Errorf("known afterwards (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPrimeWithoutSkip(t *testing.T) {
	table := tableWith(nil, nil)
	table.prime(Snapshot{Sums: map[string]Digest{"a.go": digestOf("v1")}}, nil)
	if got := table.settle([]string{"a.go"}, map[string]Digest{"a.go": digestOf("v1")}); len(got) != 0 {
		t.Errorf("a primed file settled to %v with the same content", got)
	}
}
