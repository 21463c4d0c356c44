// Command docgen writes docs/rules.md from the doc strings of slipway's public
// Starlark API (rules/defs.bzl and the private files it loads), parsed with
// buildtools. Its test fails when the checked-in docs are stale.
//
//	bazel run //tools/docgen        (or: go run ./tools/docgen)
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
)

func main() {
	root := flag.String("root", "", "workspace root (default: $BUILD_WORKSPACE_DIRECTORY, else the current directory)")
	flag.Parse()
	if *root == "" {
		*root = os.Getenv("BUILD_WORKSPACE_DIRECTORY")
	}
	if *root == "" {
		*root = "."
	}
	md, err := Generate(*root, "rules/defs.bzl")
	if err == nil {
		err = os.WriteFile(filepath.Join(*root, "docs", "rules.md"), []byte(md), 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "docgen:", err)
		os.Exit(1)
	}
}
