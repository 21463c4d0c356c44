//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/slipway-dev/slipway/internal/cli"
)

// gazelleServices are the services of the generated workspace.
var gazelleServices = []string{"alpha", "bravo", "charlie"}

// writeGazelleWorkspace writes gaz/: a Gazelle binary with slipway's extension, the
// conventions as directives, and services made of main.go and YAML only: no image,
// manifests or dev target written by hand.
func writeGazelleWorkspace(w *workspace, namespace string) {
	w.write("gaz/BUILD.bazel", fmt.Sprintf(`load("@gazelle//:def.bzl", "gazelle", "gazelle_binary")

# gazelle:prefix example.com/gaz
# gazelle:slipway_dev
# gazelle:slipway_namespace %s
# gazelle:slipway_label app.kubernetes.io/part-of=gaz
# gazelle:slipway_image_env PORT=8080

gazelle_binary(
    name = "gazelle_bin",
    languages = [
        "@gazelle//language/go",
        "@slipway//rules/gazelle",
    ],
)

gazelle(
    name = "gazelle",
    gazelle = ":gazelle_bin",
)
`, namespace))
	for _, s := range gazelleServices {
		w.write("gaz/services/"+s+"/main.go", goMain(s+"-v1"))
		w.write("gaz/services/"+s+"/deploy.yaml", fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: %[1]s
spec:
  selector:
    matchLabels:
      app: %[1]s
  template:
    metadata:
      labels:
        app: %[1]s
    spec:
      containers:
        - name: %[1]s
          image: %[1]s
          ports:
            - containerPort: 8080
---
apiVersion: v1
kind: Service
metadata:
  name: %[1]s
spec:
  selector:
    app: %[1]s
  ports:
    - port: 80
      targetPort: 8080
`, s))
	}
}

// buildFiles are the contents of the BUILD files under dir of the workspace.
func buildFiles(t *testing.T, w *workspace, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(w.path(dir), func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() != "BUILD.bazel" {
			return err
		}
		rel, _ := filepath.Rel(w.dir, p)
		out[filepath.ToSlash(rel)] = w.read(rel)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestGazelleGeneratedWorkspaceDeploys(t *testing.T) {
	cl := sharedCluster(t)
	cs := clientset(t, cl)
	w := newWorkspace(t, "gaz")
	ns := fmt.Sprintf("gazelle-%s-%d", e2eID(), time.Now().UnixNano()%1_000_000)
	defer cs.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{})
	writeGazelleWorkspace(w, ns)

	w.mustBazel("run", "//gaz:gazelle", "--", "gaz")
	generated := buildFiles(t, w, "gaz")
	for _, s := range gazelleServices {
		got := generated["gaz/services/"+s+"/BUILD.bazel"]
		for _, want := range []string{
			fmt.Sprintf("image(\n    name = \"image\",\n    binary = \":%s\",\n    env = {\"PORT\": \"8080\"},\n    exposed_ports = [\"8080\"],\n)", s),
			fmt.Sprintf("images = {\"%s\": \":image\"},", s),
			fmt.Sprintf("namespace = %q,", ns),
			"strict = True,",
		} {
			if !strings.Contains(got, want) {
				t.Errorf("gaz/services/%s/BUILD.bazel lacks %q:\n%s", s, want, got)
			}
		}
	}
	if !strings.Contains(generated["gaz/BUILD.bazel"], `targets = ["//gaz/services/..."],`) {
		t.Errorf("gaz/BUILD.bazel: no dev target over the services:\n%s", generated["gaz/BUILD.bazel"])
	}

	t.Run("a second run changes nothing", func(t *testing.T) {
		w.mustBazel("run", "//gaz:gazelle", "--", "gaz")
		again := buildFiles(t, w, "gaz")
		for f, want := range generated {
			if again[f] != want {
				t.Errorf("%s changed on the second run:\n%s", f, again[f])
			}
		}
	})

	t.Run("dev.ci deploys every service", func(t *testing.T) {
		cmd := w.bazelCommand(context.Background(), "run", "--ui_event_filters=-info,-stdout,-stderr", "--noshow_progress",
			"//gaz:dev.ci", "--", "--json", "--timeout=60s", "--kubeconfig="+cl.Kubeconfig, "--context="+cl.Context)
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		var r cli.CIReport
		if jerr := json.Unmarshal([]byte(stdout.String()), &r); jerr != nil || err != nil {
			t.Fatalf("dev.ci: %v, printed %q (%v):\n%s", err, stdout.String(), jerr, tailLines(stderr.String(), 30))
		}
		var targets []string
		for _, tr := range r.Targets {
			targets = append(targets, tr.Target)
		}
		sort.Strings(targets)
		if want := "[//gaz/services/alpha:deploy //gaz/services/bravo:deploy //gaz/services/charlie:deploy]"; fmt.Sprint(targets) != want {
			t.Errorf("deployed %v, want %s", targets, want)
		}
		if len(r.Readiness) != 2*len(gazelleServices) || len(r.Failures) != 0 {
			t.Errorf("readiness of %d objects, want %d; failures %v", len(r.Readiness), 2*len(gazelleServices), r.Failures)
		}
		for _, s := range gazelleServices {
			d, err := cs.AppsV1().Deployments(ns).Get(context.Background(), s, metav1.GetOptions{})
			if err != nil {
				t.Errorf("deployment %s/%s: %v", ns, s, err)
				continue
			}
			img := d.Spec.Template.Spec.Containers[0].Image
			if !strings.Contains(img, "@sha256:") || d.Labels["app.kubernetes.io/part-of"] != "gaz" {
				t.Errorf("deployment %s: image %q, labels %v; want a digest and the directive's label", s, img, d.Labels)
			}
		}
	})
}
