package oci

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Files placed in nested folders (as the image rule places a grouping target's
// files) and directory inputs with nested folders keep every level.
func TestFilesLayerKeepsNestedFolders(t *testing.T) {
	src := t.TempDir()
	writeTree(t, src, map[string]string{
		"web/static/index.html":        "<h1>hi</h1>",
		"web/static/css/site.css":      "body{}",
		"web/static/css/img/logo.svg":  "<svg/>",
		"tree/a/b/c.txt":               "c",
		"tree/top.txt":                 "top",
		"tree/a/b/deeper/still/d.txt*": "d",
	})
	d, err := BuildLayer(LayerSpec{Group: "files", Files: []FileSource{
		{Src: filepath.Join(src, "web/static/index.html"), Dest: "/src/static/index.html"},
		{Src: filepath.Join(src, "web/static/css/site.css"), Dest: "/src/static/css/site.css"},
		{Src: filepath.Join(src, "web/static/css/img/logo.svg"), Dest: "/src/static/css/img/logo.svg"},
		{Src: filepath.Join(src, "tree"), Dest: "/srv/tree"},
	}}, filepath.Join(t.TempDir(), "blob"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range d.Entries {
		got = append(got, e.Type+" "+e.Path)
	}
	want := []string{
		"dir /src", "dir /src/static", "dir /src/static/css", "dir /src/static/css/img",
		"file /src/static/css/img/logo.svg", "file /src/static/css/site.css", "file /src/static/index.html",
		"dir /srv", "dir /srv/tree", "dir /srv/tree/a", "dir /srv/tree/a/b", "file /srv/tree/a/b/c.txt",
		"dir /srv/tree/a/b/deeper", "dir /srv/tree/a/b/deeper/still", "file /srv/tree/a/b/deeper/still/d.txt",
		"file /srv/tree/top.txt",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("entries (-want +got):\n%s", diff)
	}
}

// Two inputs at one path, or one input where another is a folder, are named
// errors: neither silently wins.
func TestFilesLayerPlacementCollisions(t *testing.T) {
	src := t.TempDir()
	writeTree(t, src, map[string]string{
		"a/app.json":           "{}",
		"b/app.json":           "[]",
		"key":                  "k",
		"tree/config/x.json":   "x",
		"tree/static/a/b.html": "b",
	})
	in := func(p string) string { return filepath.Join(src, p) }
	tests := []struct {
		name  string
		files []FileSource
		want  string
	}{
		{"two files at one path", []FileSource{{Src: in("a/app.json"), Dest: "/etc/app.json"}, {Src: in("b/app.json"), Dest: "/etc//app.json"}},
			"files: two inputs are placed at /etc/app.json: " + in("a/app.json") + " and " + in("b/app.json")},
		{"a file under a file", []FileSource{{Src: in("a/app.json"), Dest: "/etc/app"}, {Src: in("key"), Dest: "/etc/app/key"}},
			"files: " + in("key") + " is placed at /etc/app/key, under /etc/app, where " + in("a/app.json") + " is a file"},
		{"a folder of a tree over a file", []FileSource{{Src: in("a/app.json"), Dest: "/app/config"}, {Src: in("tree"), Dest: "/app"}},
			"files: two inputs are placed at /app/config: " + in("a/app.json") + " (a file) and " + in("tree/config") + " (a folder)"},
		{"a file over a folder of a tree", []FileSource{{Src: in("tree"), Dest: "/app"}, {Src: in("a/app.json"), Dest: "/app/static/a"}},
			"files: two inputs are placed at /app/static/a: " + in("tree/static/a") + " (a folder) and " + in("a/app.json") + " (a file)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := BuildLayer(LayerSpec{Group: "files", Files: tt.files}, filepath.Join(t.TempDir(), "blob"))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v\nwant one containing %q", err, tt.want)
			}
		})
	}
}
