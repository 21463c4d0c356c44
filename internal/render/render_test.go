package render

import (
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// filesUnder lists the files under root/dir as render inputs named dir/...
func filesUnder(t *testing.T, root, dir string) []File {
	t.Helper()
	var files []File
	err := filepath.WalkDir(filepath.Join(root, dir), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(root, p)
		files = append(files, File{Path: p, Name: filepath.ToSlash(rel)})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// copyTestdata copies testdata to a new directory, as a second output base.
func copyTestdata(t *testing.T) string {
	t.Helper()
	dst := t.TempDir()
	if err := os.CopyFS(dst, os.DirFS("testdata")); err != nil {
		t.Fatal(err)
	}
	return dst
}

func webSpec(t *testing.T, root string) HelmSpec {
	return HelmSpec{
		Target: "//test:web",
		Chart:  "helm/web",
		Files:  filesUnder(t, root, "helm/web"),
		Values: []File{
			{Path: filepath.Join(root, "helm/values-dev.yaml"), Name: "helm/values-dev.yaml"},
			{Path: filepath.Join(root, "helm/values-user.yaml"), Name: "helm/values-user.yaml"},
		},
		Set:         []string{"service.port=9090"},
		Release:     "shop",
		Namespace:   "dev-alice",
		KubeVersion: "1.31.0",
		Images:      []Image{{Key: "image", Label: "//test:image", Repository: "test/web", DigestFile: filepath.Join(root, "digest.txt")}},
	}
}

func workerSpec(t *testing.T, root string) KustomizeSpec {
	return KustomizeSpec{
		Target: "//test:worker",
		Dir:    "kustomize/overlay",
		Files:  filesUnder(t, root, "kustomize"),
		Images: []Image{{Key: "worker", Label: "//test:worker_image", Registry: "localhost:5000", Repository: "test/worker", DigestFile: filepath.Join(root, "digest.txt")}},
	}
}

func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	golden := filepath.Join("testdata/golden", name)
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", golden, diff)
	}
}

func TestRenderGolden(t *testing.T) {
	tests := []struct {
		name   string
		render func(root string) ([]byte, error)
	}{
		{"helm.yaml", func(root string) ([]byte, error) { return Helm(webSpec(t, root)) }},
		{"kustomize.yaml", func(root string) ([]byte, error) { return Kustomize(workerSpec(t, root)) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.render("testdata")
			if err != nil {
				t.Fatal(err)
			}
			checkGolden(t, tt.name, got)
			// Another output base (other paths, same names): the same bytes.
			again, err := tt.render(copyTestdata(t))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(string(got), string(again)); diff != "" {
				t.Errorf("rendering from another directory differs (-first +second):\n%s", diff)
			}
		})
	}
}

func badChart(t *testing.T, name string) HelmSpec {
	return HelmSpec{
		Target: "//bad:" + name, Chart: "bad/" + name, Files: filesUnder(t, "testdata", "bad/"+name),
		Release: "r", KubeVersion: "1.31.0",
	}
}

func TestRenderErrors(t *testing.T) {
	tests := []struct {
		name   string
		render func() ([]byte, error)
		want   []string // substrings of the error
	}{
		{"template syntax", func() ([]byte, error) { return Helm(badChart(t, "syntax")) },
			[]string{"//bad:syntax", "bad/syntax/templates/cm.yaml:6", `function "nosuchfunc" not defined`}},
		{"required value", func() ([]byte, error) { return Helm(badChart(t, "required")) },
			[]string{"bad/required/templates/cm.yaml:6:", "host is required"}},
		{"hook", func() ([]byte, error) { return Helm(badChart(t, "hook")) },
			[]string{"bad/hook/templates/job.yaml: Job migrate is a Helm hook (pre-install): hooks are not supported"}},
		{"random", func() ([]byte, error) { return Helm(badChart(t, "random")) },
			[]string{"bad/random/templates/secret.yaml:6:16: randAlphaNum changes on every render"}},
		{"lookup", func() ([]byte, error) { return Helm(badChart(t, "lookup")) },
			[]string{"bad/lookup/templates/cm.yaml:6:", "lookup of v1 Secret is not supported"}},
		{"kube version", func() ([]byte, error) {
			s := webSpec(t, "testdata")
			s.KubeVersion = "1.27.0"
			return Helm(s)
		}, []string{"helm/web/Chart.yaml: the chart requires kubeVersion >=1.28.0-0, the target declares kube_version v1.27.0"}},
		{"kustomization missing file", func() ([]byte, error) {
			return Kustomize(KustomizeSpec{Target: "//bad:k", Dir: "bad/kmissing", Files: filesUnder(t, "testdata", "bad/kmissing")})
		}, []string{"//bad:k: bad/kmissing/kustomization.yaml:5: bad/kmissing/missing.yaml not found"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.render()
			if err == nil {
				t.Fatal("rendered, want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not contain %q", err, w)
				}
			}
		})
	}
}
