package manifest

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// The line (and column) each malformed input in testdata/yamlerrors must be
// reported at: the offending node's. They are PyYAML 6's marks for the same
// files (yaml.safe_load_all for syntax errors: the problem mark of a parser
// error, the token's start for a scanner error; yaml.compose_all's start mark of
// the node for the others), an implementation independent of the one slipway uses.
var yamlErrorLines = []struct {
	file   string
	strict bool
	at     string // file:line:column
	was    string // what slipway reported before (for the record)
}{
	{file: "bad_indent.yaml", at: "bad_indent.yaml:5:2", was: "line 4"},
	{file: "bad_indent_nested.yaml", at: "bad_indent_nested.yaml:8:4", was: "line 3"},
	{file: "list_item_indent.yaml", at: "list_item_indent.yaml:10:4", was: "line 5"},
	{file: "tab.yaml", at: "tab.yaml:6:1", was: "line 6"},
	{file: "tab_after_plain_scalar.yaml", at: "tab_after_plain_scalar.yaml:5:1", was: "line 4"},
	{file: "unclosed_quote.yaml", at: "unclosed_quote.yaml:4:9", was: "line 4"},
	{file: "missing_colon_second_doc.yaml", at: "missing_colon_second_doc.yaml:12:3", was: "line 12"},
	{file: "merge_of_a_scalar.yaml", at: "merge_of_a_scalar.yaml:6:7", was: "line 1"},
	{file: "duplicate_key.yaml", at: "duplicate_key.yaml:8:3", was: "no error"},
	{file: "duplicate_key_second_doc.yaml", at: "duplicate_key_second_doc.yaml:19:11", was: "no error"},
	{file: "strict_image_second_doc.yaml", strict: true, at: "strict_image_second_doc.yaml:25:22", was: "line 9"},
	{file: "unknown_label_in_list.yaml", at: "unknown_label_in_list.yaml:14:28", was: "line 1"},
}

func renderYAMLErrorCase(t *testing.T, file string, strict bool) error {
	t.Helper()
	_, err := Render(RenderSpec{
		Target: "//pkg:deploy", Package: "pkg", Strict: strict,
		Sources: []Source{{Path: filepath.Join("testdata", "yamlerrors", file), Name: file}},
		Images:  []ImageInput{{Refs: []string{"app"}, Label: "//pkg:app", Repository: "pkg/app", DigestFile: digestFile(t, "sha256:ab")}},
	})
	return err
}

func TestYAMLErrorsNameTheOffendingLine(t *testing.T) {
	for _, tt := range yamlErrorLines {
		t.Run(tt.file, func(t *testing.T) {
			err := renderYAMLErrorCase(t, tt.file, tt.strict)
			if err == nil || !strings.HasPrefix(err.Error(), tt.at+": ") {
				t.Errorf("err = %v\nwant one at %s (slipway used to say %s)", err, tt.at, tt.was)
			}
		})
	}
}

// The whole messages, as users read them.
func TestYAMLErrorsGolden(t *testing.T) {
	var b strings.Builder
	for _, tt := range yamlErrorLines {
		fmt.Fprintf(&b, "%v\n", renderYAMLErrorCase(t, tt.file, tt.strict))
	}
	golden(t, "testdata/yamlerrors/errors.golden", []byte(b.String()))
}
