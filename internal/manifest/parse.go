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
	"strings"

	yaml "go.yaml.in/yaml/v4"
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
	// node is the object's YAML, for the lines of its fields; nil when unknown.
	node *yaml.Node
}

func (d Document) where() string {
	return fmt.Sprintf("%s:%d: document %d", d.Source.Name, d.Line, d.Index)
}

// whereField is where the field at path (map keys and list indexes, as in
// ImageField.Keys) is written: file:line:column, or the document's line when
// the field cannot be found in the YAML.
func (d Document) whereField(path []any) string {
	if n := fieldNode(d.node, path); n != nil {
		return fmt.Sprintf("%s:%d:%d: document %d", d.Source.Name, n.Line, n.Column, d.Index)
	}
	return d.where()
}

// ParseFile splits a multi-document YAML file into objects. Errors name the
// file, line and column of the offending node.
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
			return nil, syntaxError(src, data, i, err)
		}
		doc := Document{Source: src, Index: i, Line: node.Line}
		if len(node.Content) > 0 {
			doc.node = node.Content[0]
			if doc.node.Line > 0 {
				doc.Line = doc.node.Line
			}
		}
		if key, first := duplicateKey(doc.node); key != nil {
			return nil, fmt.Errorf("%s:%d:%d: document %d: mapping key %q is already defined at line %d", src.Name, key.Line, key.Column, i, key.Value, first)
		}
		obj, err := nodeToObject(&node)
		if err != nil {
			return nil, conversionError(doc, &node, err)
		}
		doc.Object = obj
		docs = append(docs, doc)
	}
}

var (
	yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)
	// yamlLineAnywhere is the line sigs.k8s.io/yaml's errors name.
	yamlLineAnywhere = regexp.MustCompile(`yaml: line \d+: `)
)

// syntaxError reports a parse error at the offending node. For a token the
// scanner could not finish (an unclosed quote, a key without ':'), that is
// where the token starts; for a token the parser did not expect (a bad
// indent), that is the token itself, not the mapping it breaks.
func syntaxError(src Source, data []byte, index int, err error) error {
	var le *yaml.LoadError
	if !errors.As(err, &le) || le.Mark.Line == 0 {
		if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
			return fmt.Errorf("%s:%s: %s", src.Name, m[1], m[2])
		}
		return fmt.Errorf("%s: document %d: %v", src.Name, index, err)
	}
	at, msg := le.Mark, le.Message
	switch {
	case isTabAt(data, le.Mark):
		msg += " (a tab: YAML indents with spaces)"
	case le.ContextMsg == "" || le.ContextMark == le.Mark || le.ContextMark.Line == 0:
	case unfinishedToken(le.Message):
		// Found where the scanner gave up (often the end of the file): the
		// offending token is the one it could not finish.
		at, msg = le.ContextMark, fmt.Sprintf("%s: %s at %s", le.ContextMsg, msg, le.Mark)
	case strings.HasPrefix(le.ContextMsg, "while parsing a "): // the construct the token breaks
		msg = fmt.Sprintf("%s (in the %s that starts at %s)", msg, strings.TrimPrefix(le.ContextMsg, "while parsing a "), le.ContextMark)
	default:
		msg = fmt.Sprintf("%s (%s that starts at %s)", msg, le.ContextMsg, le.ContextMark)
	}
	if at.Column > 0 {
		return fmt.Errorf("%s:%d:%d: %s", src.Name, at.Line, at.Column, msg)
	}
	return fmt.Errorf("%s:%d: %s", src.Name, at.Line, msg)
}

// conversionError reports a document that parses but does not convert to JSON
// (a merge of a scalar, bad base64 in !!binary) at the offending node, which
// decoding the node again, with its positions, finds.
func conversionError(doc Document, node *yaml.Node, err error) error {
	var v any
	var le *yaml.LoadError
	if derr := node.Decode(&v); errors.As(derr, &le) && le.Mark.Line > 0 {
		return fmt.Errorf("%s:%d:%d: document %d: %s", doc.Source.Name, le.Mark.Line, le.Mark.Column, doc.Index, le.Message)
	}
	return fmt.Errorf("%s: %w", doc.where(), err)
}

// unfinishedToken reports whether a scanner error says a token never ended.
func unfinishedToken(problem string) bool {
	for _, p := range []string{"found unexpected end of stream", "found unexpected document indicator", "could not find expected ':'"} {
		if strings.HasPrefix(problem, p) {
			return true
		}
	}
	return false
}

// isTabAt reports whether the character at a mark (1-based line and column, in
// characters) is a tab.
func isTabAt(data []byte, at yaml.Mark) bool {
	lines := bytes.Split(data, []byte("\n"))
	if at.Line < 1 || at.Line > len(lines) || at.Column < 1 {
		return false
	}
	line := []rune(string(lines[at.Line-1]))
	return at.Column <= len(line) && line[at.Column-1] == '\t'
}

// duplicateKey finds a mapping under n that has a key twice (YAML forbids it;
// the JSON conversion would silently keep the last value): the second key, and
// the line of the first.
func duplicateKey(n *yaml.Node) (*yaml.Node, int) {
	if n == nil || n.Kind == yaml.AliasNode { // an alias's anchor is checked where it is defined
		return nil, 0
	}
	if n.Kind == yaml.MappingNode {
		first := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind != yaml.ScalarNode || k.Value == "<<" {
				continue
			}
			if line, ok := first[k.Value]; ok {
				return k, line
			}
			first[k.Value] = k.Line
		}
	}
	for _, c := range n.Content {
		if key, line := duplicateKey(c); key != nil {
			return key, line
		}
	}
	return nil, 0
}

// fieldNode finds the value at path under n (following aliases and merge
// keys), or nil.
func fieldNode(n *yaml.Node, path []any) *yaml.Node {
	for _, step := range path {
		for n != nil && n.Kind == yaml.AliasNode {
			n = n.Alias
		}
		if n == nil {
			return nil
		}
		switch s := step.(type) {
		case string:
			n = mappingValue(n, s)
		case int:
			if n.Kind != yaml.SequenceNode || s < 0 || s >= len(n.Content) {
				return nil
			}
			n = n.Content[s]
		default:
			return nil
		}
	}
	return n
}

// mappingValue is the value of key in mapping n, or in what n merges with "<<".
func mappingValue(n *yaml.Node, key string) *yaml.Node {
	if n.Kind != yaml.MappingNode {
		return nil
	}
	var merged []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch {
		case k.Value == key:
			return v
		case k.Value == "<<" && v.Kind == yaml.SequenceNode:
			merged = append(merged, v.Content...)
		case k.Value == "<<":
			merged = append(merged, v)
		}
	}
	for _, m := range merged {
		if m.Kind == yaml.AliasNode {
			m = m.Alias
		}
		if v := mappingValue(m, key); v != nil {
			return v
		}
	}
	return nil
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
		// Its line would count in the re-encoded document, not in the file.
		return nil, errors.New(yamlLineAnywhere.ReplaceAllString(err.Error(), "yaml: "))
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
