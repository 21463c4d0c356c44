package gazelle

import (
	"testing"

	bzl "github.com/bazelbuild/buildtools/build"
	"github.com/google/go-cmp/cmp"
)

func TestStringDictMerge(t *testing.T) {
	tests := []struct {
		name      string
		generated stringDict
		existing  string
		want      string
	}{{
		name:      "generated entries replace existing ones",
		generated: stringDict{"api": ":image"},
		existing:  `{"api": "//old:image", "stale": ":gone"}`,
		want:      `{"api": ":image"}`,
	}, {
		name:      "kept entries stay, even when generated differently",
		generated: stringDict{"api": ":image", "web": ":web"},
		existing:  "{\n    \"api\": \"//mine:image\",  # keep\n    \"x\": \"//x\",  # keep\n}",
		want:      "{\n    \"api\": \"//mine:image\",  # keep\n    \"web\": \":web\",\n    \"x\": \"//x\",  # keep\n}",
	}, {
		name:      "nothing generated and nothing kept deletes the attribute",
		generated: stringDict{},
		existing:  `{"stale": ":gone"}`,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := bzl.ParseBuild("x", []byte("x = "+tt.existing+"\n"))
			if err != nil {
				t.Fatal(err)
			}
			existing := f.Stmt[0].(*bzl.AssignExpr).RHS
			got := ""
			if e := tt.generated.Merge(existing); e != nil {
				got = bzl.FormatString(e)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("merged (-want +got):\n%s", diff)
			}
		})
	}
}
