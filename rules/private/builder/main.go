// Command builder is the action tool behind slipway's Starlark rules: one binary,
// one verb per kind of action, arguments from a params file (as rules_go's builder).
// It is hermetic: it reads only its inputs, writes only its outputs, and uses no
// clock, no network and no host paths in what it writes.
//
//	builder layer     --spec=FILE --blob=OUT --descriptor=OUT
//	builder image     --spec=FILE --layout=DIR --digest=OUT
//	builder index     --image=DIR... --layout=DIR --digest=OUT
//	builder tarball   --layout=DIR --tag=REPO:TAG --out=FILE
//	builder manifests --spec=FILE --yaml=OUT --inventory=OUT
//	builder render-helm      --spec=FILE --out=FILE
//	builder render-kustomize --spec=FILE --out=FILE
package main

import (
	"bufio"
	"fmt"
	"os"
	"strings"
)

var verbs = map[string]func(args []string) error{
	"layer":            layerVerb,
	"image":            imageVerb,
	"index":            indexVerb,
	"tarball":          tarballVerb,
	"manifests":        manifestsVerb,
	"render-helm":      renderHelmVerb,
	"render-kustomize": renderKustomizeVerb,
}

func main() {
	if len(os.Args) < 2 || verbs[os.Args[1]] == nil {
		fmt.Fprintf(os.Stderr, "usage: builder <%s> [@params] [flags]\n", strings.Join(verbNames(), "|"))
		os.Exit(2)
	}
	args, err := expandParams(os.Args[2:])
	if err == nil {
		err = verbs[os.Args[1]](args)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "slipway %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

func verbNames() []string {
	return []string{"layer", "image", "index", "tarball", "manifests", "render-helm", "render-kustomize"}
}

// expandParams replaces each @FILE argument with the lines of FILE (Bazel's
// "multiline" params file format: one argument per line).
func expandParams(args []string) ([]string, error) {
	var out []string
	for _, a := range args {
		if !strings.HasPrefix(a, "@") {
			out = append(out, a)
			continue
		}
		f, err := os.Open(a[1:])
		if err != nil {
			return nil, fmt.Errorf("params file: %w", err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<24)
		for sc.Scan() {
			out = append(out, sc.Text())
		}
		f.Close()
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("params file %s: %w", a[1:], err)
		}
	}
	return out, nil
}
