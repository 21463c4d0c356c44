package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The workspace root, from this package's directory (the same under go test and
// under Bazel, whose runfiles mirror the source tree).
const root = "../.."

func TestDocsAreCurrent(t *testing.T) {
	got, err := Generate(root, "rules/defs.bzl")
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join(root, "docs", "rules.md"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("docs/rules.md is stale; regenerate with: bazel run //tools/docgen\n(-checked in +generated):\n%s", diff)
	}
}

func TestMissingAttributeDocFails(t *testing.T) {
	dir := t.TempDir()
	write := func(rel, content string) {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, rel)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, rel), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("rules/defs.bzl", "\"\"\"API.\"\"\"\nload(\"//rules/private:r.bzl\", _r = \"r\")\nr = _r\n")
	write("rules/private/r.bzl", "r = rule(implementation = _impl, doc = \"A rule.\", attrs = {\"src\": attr.label()})\n")
	_, err := Generate(dir, "rules/defs.bzl")
	if err == nil || !strings.Contains(err.Error(), "attribute src of r has no doc string") {
		t.Errorf("err = %v, want one naming the undocumented attribute", err)
	}
}
