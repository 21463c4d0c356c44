package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"

	yaml "go.yaml.in/yaml/v3"
	sigsyaml "sigs.k8s.io/yaml"
)

// Document is one YAML document of a source file.
type Document struct {
	Source Source
	// Index counts documents in the file from 1, skipping none (empty ones included).
	Index int
	Line  int
	// Object is nil for an empty document.
	Object map[string]any
}

func (d Document) where() string {
	return fmt.Sprintf("%s:%d: document %d", d.Source.Name, d.Line, d.Index)
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// ParseFile splits a multi-document YAML file into objects, reporting syntax errors
// as file:line: message.
func ParseFile(src Source, data []byte) ([]Document, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []Document
	for i := 1; ; i++ {
		var node yaml.Node
		err := dec.Decode(&node)
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
				return nil, fmt.Errorf("%s:%s: %s", src.Name, m[1], m[2])
			}
			return nil, fmt.Errorf("%s: document %d: %v", src.Name, i, err)
		}
		doc := Document{Source: src, Index: i, Line: node.Line}
		if len(node.Content) > 0 && node.Content[0].Line > 0 {
			doc.Line = node.Content[0].Line
		}
		obj, err := nodeToObject(&node)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", doc.where(), err)
		}
		doc.Object = obj
		docs = append(docs, doc)
	}
}

// nodeToObject converts a YAML document to the JSON-shaped map Kubernetes uses
// (integers stay integers).
func nodeToObject(node *yaml.Node) (map[string]any, error) {
	if len(node.Content) == 0 || (node.Content[0].Kind == yaml.ScalarNode && node.Content[0].Tag == "!!null") {
		return nil, nil
	}
	if node.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("not an object (a YAML mapping), but a %s", kindName(node.Content[0].Kind))
	}
	raw, err := yaml.Marshal(node.Content[0])
	if err != nil {
		return nil, err
	}
	js, err := sigsyaml.YAMLToJSON(raw)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil {
		return nil, err
	}
	return fixNumbers(obj).(map[string]any), nil
}

func fixNumbers(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = fixNumbers(e)
		}
	case []any:
		for i, e := range x {
			x[i] = fixNumbers(e)
		}
	case json.Number:
		if n, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			return n
		}
		f, _ := x.Float64()
		return f
	}
	return v
}

func kindName(k yaml.Kind) string {
	switch k {
	case yaml.SequenceNode:
		return "list"
	case yaml.ScalarNode:
		return "scalar"
	case yaml.AliasNode:
		return "alias"
	}
	return "document"
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
