package productcsv

import (
	"slices"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	in := "id,name,price\nmug,Mug,12.50\ntee,\"T-shirt, large\",20\n"
	got, err := Parse("p.csv", strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []Row{{"mug", "Mug", 1250}, {"tee", "T-shirt, large", 2000}}
	if !slices.Equal(got, want) {
		t.Errorf("Parse = %+v, want %+v", got, want)
	}
}

func TestParseErrors(t *testing.T) {
	for in, wantErr := range map[string]string{
		"":                                        "p.csv: empty file",
		"id,name\n":                               "p.csv:1: header",
		"id,name,cost\nmug,Mug,1\n":               "p.csv:1: header",
		"id,name,price\n":                         "p.csv: no products",
		"id,name,price\nmug,Mug,1\nmug,Cup,2\n":   "p.csv:3: id \"mug\" already used on line 2",
		"id,name,price\nMug!,Mug,1\n":             "p.csv:2: id \"Mug!\"",
		"id,name,price\nmug,,1\n":                 "p.csv:2: product \"mug\" has no name",
		"id,name,price\nmug,Mug,cheap\n":          "p.csv:2: product \"mug\": price \"cheap\"",
		"id,name,price\nmug,Mug,-1\n":             "p.csv:2: product \"mug\": price \"-1\"",
		"id,name,price\nmug,Mug,1,extra\n":        "wrong number of fields",
		"id,name,price\nmug,Mug,1\ntee,Tee,1.5\n": "",
	} {
		_, err := Parse("p.csv", strings.NewReader(in))
		switch {
		case wantErr == "" && err != nil:
			t.Errorf("Parse(%q) = %v, want no error", in, err)
		case wantErr != "" && (err == nil || !strings.Contains(err.Error(), wantErr)):
			t.Errorf("Parse(%q) = %v, want an error containing %q", in, err, wantErr)
		}
	}
}
