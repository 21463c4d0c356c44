package bazel

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Graph is a configured-target graph from cquery, merged across configurations.
type Graph struct {
	// Rules maps a rule's label to the labels of its inputs.
	Rules map[string][]string
	// Kinds maps a rule's label to its rule class (e.g. "go_binary").
	Kinds map[string]string
	// Sources are source file labels.
	Sources map[string]bool
	// Generated maps a generated file's label to the rule that makes it.
	Generated map[string]string
}

// cqueryJSON is the part of cquery's jsonproto output (an analysis.CqueryResult)
// slipway reads.
type cqueryJSON struct {
	Results []struct {
		Target struct {
			Type string `json:"type"`
			Rule *struct {
				Name      string   `json:"name"`
				RuleClass string   `json:"ruleClass"`
				RuleInput []string `json:"ruleInput"`
			} `json:"rule"`
			SourceFile *struct {
				Name string `json:"name"`
			} `json:"sourceFile"`
			GeneratedFile *struct {
				Name           string `json:"name"`
				GeneratingRule string `json:"generatingRule"`
			} `json:"generatedFile"`
		} `json:"target"`
	} `json:"results"`
}

// ParseCQuery decodes `bazel cquery --output=jsonproto` output.
func ParseCQuery(data []byte) (*Graph, error) {
	var r cqueryJSON
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("decoding cquery jsonproto output: %w", err)
	}
	g := &Graph{Rules: map[string][]string{}, Kinds: map[string]string{}, Sources: map[string]bool{}, Generated: map[string]string{}}
	for _, res := range r.Results {
		t := res.Target
		switch {
		case t.Rule != nil:
			// One label may appear in several configurations: merge its inputs.
			g.Rules[t.Rule.Name] = mergeUnique(g.Rules[t.Rule.Name], t.Rule.RuleInput)
			g.Kinds[t.Rule.Name] = t.Rule.RuleClass
		case t.SourceFile != nil:
			g.Sources[t.SourceFile.Name] = true
		case t.GeneratedFile != nil:
			g.Generated[t.GeneratedFile.Name] = t.GeneratedFile.GeneratingRule
		}
	}
	return g, nil
}

func mergeUnique(a, b []string) []string {
	if len(a) == 0 {
		return append([]string(nil), b...)
	}
	seen := make(map[string]bool, len(a))
	for _, x := range a {
		seen[x] = true
	}
	for _, x := range b {
		if !seen[x] {
			a = append(a, x)
			seen[x] = true
		}
	}
	return a
}

// SourcePath is the workspace-relative path of a main-repository source label
// ("//pkg/sub:file.go" -> "pkg/sub/file.go"), or false for other labels.
func SourcePath(label string) (string, bool) {
	label = strings.TrimPrefix(strings.TrimPrefix(label, "@@"), "@")
	if !strings.HasPrefix(label, "//") {
		return "", false
	}
	pkg, name, ok := strings.Cut(label[2:], ":")
	if !ok {
		return "", false
	}
	if pkg == "" {
		return name, true
	}
	return pkg + "/" + name, true
}
