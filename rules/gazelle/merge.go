package gazelle

import (
	"slices"

	"github.com/bazelbuild/bazel-gazelle/rule"
	bzl "github.com/bazelbuild/buildtools/build"
)

// stringDict is a string → string attribute value that merges like Gazelle's
// lists: the generated entries replace the existing ones, except entries marked
// `# keep`, which stay. (Gazelle's own merge knows only dicts of lists.)
type stringDict map[string]string

var (
	_ rule.BzlExprValue = stringDict(nil)
	_ rule.Merger       = stringDict(nil)
)

// BzlExpr is the dict sorted by key, on one line when it has one entry.
func (d stringDict) BzlExpr() bzl.Expr { return d.merged(nil) }

// Merge merges the generated entries into an existing value; nil deletes it.
func (d stringDict) Merge(other bzl.Expr) bzl.Expr {
	e := d.merged(keptEntries(other))
	if len(e.List) == 0 {
		return nil
	}
	return e
}

func (d stringDict) merged(kept map[string]*bzl.KeyValueExpr) *bzl.DictExpr {
	keys := make([]string, 0, len(d)+len(kept))
	for k := range d {
		keys = append(keys, k)
	}
	for k := range kept {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	keys = slices.Compact(keys)
	out := &bzl.DictExpr{ForceMultiLine: len(keys) > 1 || len(kept) > 0}
	for _, k := range keys {
		if kv, ok := kept[k]; ok {
			out.List = append(out.List, kv)
			continue
		}
		out.List = append(out.List, &bzl.KeyValueExpr{Key: &bzl.StringExpr{Value: k}, Value: &bzl.StringExpr{Value: d[k]}})
	}
	return out
}

// keptEntries are a dict's entries marked `# keep`, by key.
func keptEntries(e bzl.Expr) map[string]*bzl.KeyValueExpr {
	kept := map[string]*bzl.KeyValueExpr{}
	if d, ok := e.(*bzl.DictExpr); ok {
		for _, kv := range d.List {
			if k, ok := kv.Key.(*bzl.StringExpr); ok && rule.ShouldKeep(kv) {
				kept[k.Value] = kv
			}
		}
	}
	return kept
}

// keptKeys are the keys of a dict's `# keep` entries.
func keptKeys(e bzl.Expr) map[string]bool {
	keys := map[string]bool{}
	for k := range keptEntries(e) {
		keys[k] = true
	}
	return keys
}

// setDict sets a dict attribute of a generated rule: when it has entries, or when
// the existing rule old has the attribute (so that the merge empties it).
func setDict(r, old *rule.Rule, key string, m map[string]string) {
	if len(m) > 0 || old != nil && old.Attr(key) != nil {
		r.SetAttr(key, stringDict(m))
	}
}
