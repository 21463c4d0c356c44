package dev

import (
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/slipway-dev/slipway/internal/bazel"
)

// shopGraph: two services sharing a library, one using a generated file.
func shopGraph() *bazel.Graph {
	return &bazel.Graph{
		Rules: map[string][]string{
			"//cart:deploy":     {"//cart:deploy.yaml", "//cart:image"},
			"//cart:image":      {"//cart:cart"},
			"//cart:cart":       {"//cart:main.go", "//lib/money:money"},
			"//orders:deploy":   {"//orders:deploy.yaml", "//orders:image"},
			"//orders:image":    {"//orders:orders"},
			"//orders:orders":   {"//orders:main.go", "//lib/money:money", "//orders:schema"},
			"//orders:schema":   {"//orders:schema.json"},
			"//lib/money:money": {"//lib/money:money.go"},
		},
		Sources: map[string]bool{
			"//cart:deploy.yaml": true, "//cart:main.go": true, "//orders:deploy.yaml": true,
			"//orders:main.go": true, "//lib/money:money.go": true, "//orders:schema.json": true,
		},
		Generated: map[string]string{"//orders:schema.go": "//orders:schema"},
	}
}

func TestIndexAffected(t *testing.T) {
	ix := NewIndex(shopGraph(), []string{"//orders:deploy", "//cart:deploy"})
	tests := []struct {
		paths []string
		want  []string
	}{
		{[]string{"cart/main.go"}, []string{"//cart:deploy"}},
		{[]string{"lib/money/money.go"}, []string{"//cart:deploy", "//orders:deploy"}},
		{[]string{"orders/schema.json"}, []string{"//orders:deploy"}},
		{[]string{"cart/deploy.yaml", "orders/main.go"}, []string{"//cart:deploy", "//orders:deploy"}},
		{[]string{"README.md"}, []string{}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, ix.Affected(tt.paths)); diff != "" {
			t.Errorf("Affected(%v) (-want +got):\n%s", tt.paths, diff)
		}
	}
	if diff := cmp.Diff(map[string]bool{"cart": true, "orders": true, "lib/money": true}, ix.Dirs); diff != "" {
		t.Errorf("Dirs (-want +got):\n%s", diff)
	}
}

// The index built from the recorded cquery output of a real workspace.
func TestIndexFromRecordedQuery(t *testing.T) {
	data, err := os.ReadFile("../bazel/testdata/cquery.json")
	if err != nil {
		t.Fatal(err)
	}
	g, err := bazel.ParseCQuery(data)
	if err != nil {
		t.Fatal(err)
	}
	ix := NewIndex(g, []string{"//app:deploy"})
	if diff := cmp.Diff([]string{"app/deploy.yaml", "app/lib.go", "app/main.go"}, ix.Paths()); diff != "" {
		t.Errorf("indexed paths (-want +got):\n%s", diff)
	}
}

func TestIsGraphFile(t *testing.T) {
	for p, want := range map[string]bool{
		"cart/BUILD.bazel": true, "BUILD": true, "rules/x.bzl": true, "MODULE.bazel": true, "go.mod": true,
		"cart/main.go": false, "cart/BUILD.md": false, "docs/bzl.txt": false,
	} {
		if got := IsGraphFile(p); got != want {
			t.Errorf("IsGraphFile(%q) = %v, want %v", p, got, want)
		}
	}
}

func TestIndexLiveSources(t *testing.T) {
	ix := NewIndex(shopGraph(), []string{"//orders:deploy", "//cart:deploy"})
	tests := []struct {
		deployable string
		binaries   []string
		wantBins   map[string]map[string]bool
		wantRest   map[string]bool
	}{
		{
			deployable: "//cart:deploy", binaries: []string{"//cart:cart"},
			wantBins: map[string]map[string]bool{"//cart:cart": {"cart/main.go": true, "lib/money/money.go": true}},
			wantRest: map[string]bool{"cart/deploy.yaml": true},
		},
		{
			deployable: "//orders:deploy", binaries: []string{"//orders:orders"},
			wantBins: map[string]map[string]bool{"//orders:orders": {"orders/main.go": true, "lib/money/money.go": true, "orders/schema.json": true}},
			wantRest: map[string]bool{"orders/deploy.yaml": true},
		},
		{
			deployable: "//orders:deploy",
			wantBins:   map[string]map[string]bool{},
			wantRest:   map[string]bool{"orders/deploy.yaml": true, "orders/main.go": true, "lib/money/money.go": true, "orders/schema.json": true},
		},
	}
	for _, tt := range tests {
		bins, rest := ix.LiveSources(tt.deployable, tt.binaries)
		if diff := cmp.Diff(tt.wantBins, bins); diff != "" {
			t.Errorf("LiveSources(%s, %v) binaries (-want +got):\n%s", tt.deployable, tt.binaries, diff)
		}
		if diff := cmp.Diff(tt.wantRest, rest); diff != "" {
			t.Errorf("LiveSources(%s, %v) rest (-want +got):\n%s", tt.deployable, tt.binaries, diff)
		}
	}
}
