package deployable

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/slipway-dev/slipway/internal/bazel"
)

// fakeBazel answers cquery from a fixed graph and records what it was asked.
type fakeBazel struct {
	graph   *bazel.Graph
	queries []string
	built   [][]string
}

func (f *fakeBazel) CQuery(_ context.Context, expr string, _ []string) (*bazel.Graph, error) {
	f.queries = append(f.queries, expr)
	return f.graph, nil
}

func (f *fakeBazel) Build(_ context.Context, targets []string, _ []string) (*bazel.BuildResult, error) {
	f.built = append(f.built, targets)
	return &bazel.BuildResult{Success: true, Targets: map[string]*bazel.TargetResult{}}, nil
}

func (f *fakeBazel) ExecRoot(context.Context) (string, error) { return "/execroot", nil }

func TestDeployableLabels(t *testing.T) {
	b := &fakeBazel{graph: &bazel.Graph{Kinds: map[string]string{
		"//services/b:deploy": "manifests_rule",
		"//services/a:deploy": "manifests_rule",
		"//services/a:lib":    "go_library", // a kind() answer has only what it asked for, but be safe
	}}}
	got, err := Discover(context.Background(), b, []string{"//services/..."}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"//services/a:deploy", "//services/b:deploy"}, got); diff != "" {
		t.Errorf("labels (-want +got):\n%s", diff)
	}
	if want := `kind("manifests_rule", set(//services/...))`; len(b.queries) != 1 || b.queries[0] != want {
		t.Errorf("queries %q, want one: %s", b.queries, want)
	}

	plain := &fakeBazel{}
	got, err = Discover(context.Background(), plain, []string{"//services/a:deploy"}, nil)
	if err != nil || !cmp.Equal(got, []string{"//services/a:deploy"}) || len(plain.queries) != 0 {
		t.Errorf("plain labels: %v, %v, queries %v; want them as they are, no query", got, err, plain.queries)
	}

	empty := &fakeBazel{graph: &bazel.Graph{Kinds: map[string]string{}}}
	if _, err := Discover(context.Background(), empty, []string{"//docs/..."}, nil); err == nil {
		t.Error("a pattern with no manifests targets resolved without error")
	}
}
