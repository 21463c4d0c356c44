package liveupdate

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func set(paths ...string) map[string]bool {
	m := map[string]bool{}
	for _, p := range paths {
		m[p] = true
	}
	return m
}

func TestDecide(t *testing.T) {
	binaries := map[string]map[string]bool{
		"//shop/catalog:catalog": set("shop/catalog/handler.go", "shop/lib/money/money.go"),
		"//shop/catalog:admin":   set("shop/catalog/admin.go", "shop/lib/money/money.go"),
	}
	rest := set("shop/catalog/deploy.yaml", "shop/catalog/static/app.css")
	tests := []struct {
		name string
		in   PlanInput
		want Plan
	}{
		{
			name: "a source of one live binary",
			in:   PlanInput{Files: []string{"shop/catalog/handler.go"}, Running: true, Binaries: binaries, Rest: rest},
			want: Plan{Live: true, Binaries: []string{"//shop/catalog:catalog"}},
		},
		{
			name: "a library of two live binaries syncs both",
			in:   PlanInput{Files: []string{"shop/lib/money/money.go"}, Running: true, Binaries: binaries, Rest: rest},
			want: Plan{Live: true, Binaries: []string{"//shop/catalog:admin", "//shop/catalog:catalog"}},
		},
		{
			name: "YAML is not syncable",
			in:   PlanInput{Files: []string{"shop/catalog/handler.go", "shop/catalog/deploy.yaml"}, Running: true, Binaries: binaries, Rest: rest},
			want: Plan{Why: "shop/catalog/deploy.yaml is an input of more than a live binary"},
		},
		{
			name: "a file of another layer is not syncable",
			in:   PlanInput{Files: []string{"shop/catalog/static/app.css"}, Running: true, Binaries: binaries, Rest: rest},
			want: Plan{Why: "shop/catalog/static/app.css is an input of more than a live binary"},
		},
		{
			name: "a binary's source that also feeds something else is not syncable",
			in: PlanInput{Files: []string{"shop/catalog/handler.go"}, Running: true, Binaries: binaries,
				Rest: set("shop/catalog/handler.go")},
			want: Plan{Why: "shop/catalog/handler.go is an input of more than a live binary"},
		},
		{
			name: "a file the planner does not know",
			in:   PlanInput{Files: []string{"shop/catalog/new.go"}, Running: true, Binaries: binaries, Rest: rest},
			want: Plan{Why: "shop/catalog/new.go is not a source of a live binary"},
		},
		{
			name: "BUILD and Starlark changes come as graph",
			in:   PlanInput{Files: []string{"shop/catalog/handler.go"}, Others: []string{"graph"}, Running: true, Binaries: binaries, Rest: rest},
			want: Plan{Why: "graph"},
		},
		{
			name: "a trigger deploys the image",
			in:   PlanInput{Others: []string{"trigger"}, Running: true, Binaries: binaries, Rest: rest},
			want: Plan{Why: "trigger"},
		},
		{
			name: "no deployment under the agent yet",
			in:   PlanInput{Files: []string{"shop/catalog/handler.go"}, Binaries: binaries, Rest: rest},
			want: Plan{Why: "no live-update deployment runs yet"},
		},
		{
			name: "a replaced pod resyncs every binary",
			in:   PlanInput{Others: []string{Resync}, Running: true, Binaries: binaries, Rest: rest},
			want: Plan{Live: true, Binaries: []string{"//shop/catalog:admin", "//shop/catalog:catalog"}},
		},
		{
			name: "a resync with a YAML change is a full deploy",
			in:   PlanInput{Files: []string{"shop/catalog/deploy.yaml"}, Others: []string{Resync}, Running: true, Binaries: binaries, Rest: rest},
			want: Plan{Why: "shop/catalog/deploy.yaml is an input of more than a live binary"},
		},
		{
			name: "no live binary",
			in:   PlanInput{Files: []string{"shop/catalog/handler.go"}, Running: true, Rest: rest},
			want: Plan{Why: "shop/catalog/handler.go is not a source of a live binary"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, Decide(tt.in)); diff != "" {
				t.Errorf("Decide (-want +got):\n%s", diff)
			}
		})
	}
}
