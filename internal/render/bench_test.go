package render

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// writeTree writes files (name → content) under root.
func writeTree(b *testing.B, root string, files map[string]string) {
	b.Helper()
	for name, content := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHelm30Templates renders a chart of 30 templates (a helper each) in
// the action tool's code path.
func BenchmarkHelm30Templates(b *testing.B) {
	root := b.TempDir()
	files := map[string]string{
		"big/Chart.yaml":  "apiVersion: v2\nname: big\nversion: 0.1.0\n",
		"big/values.yaml": "replicas: 2\nimage: {repository: app, tag: v1}\n",
		"big/templates/_helpers.tpl": `{{- define "big.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}`,
	}
	for i := range 30 {
		files[fmt.Sprintf("big/templates/app%02d.yaml", i)] = fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}-app%02d
  labels: {{- include "big.labels" . | nindent 4 }}
spec:
  replicas: {{ .Values.replicas }}
  selector:
    matchLabels: {{- include "big.labels" . | nindent 6 }}
  template:
    metadata:
      labels: {{- include "big.labels" . | nindent 8 }}
    spec:
      containers:
        - name: app
          image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"
`, i)
	}
	writeTree(b, root, files)
	spec := HelmSpec{Target: "//bench:big", Chart: "big", Release: "r", KubeVersion: "1.34.0"}
	for name := range files {
		spec.Files = append(spec.Files, File{Path: filepath.Join(root, name), Name: name})
	}
	for b.Loop() {
		if _, err := Helm(spec); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkKustomize3Levels builds an overlay over an overlay over a base.
func BenchmarkKustomize3Levels(b *testing.B) {
	root := b.TempDir()
	writeTree(b, root, map[string]string{
		"k/base/kustomization.yaml": "resources: [deploy.yaml]\nconfigMapGenerator:\n  - name: cfg\n    literals: [A=1]\n",
		"k/base/deploy.yaml":        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: app}\nspec:\n  template:\n    spec:\n      containers: [{name: app, image: app}]\n",
		"k/mid/kustomization.yaml":  "resources: [../base]\nnamePrefix: mid-\nlabels: [{pairs: {tier: mid}}]\n",
		"k/top/kustomization.yaml":  "resources: [../mid]\nnamespace: top\nimages: [{name: app, newTag: v2}]\npatches:\n  - patch: '[{\"op\": \"add\", \"path\": \"/spec/replicas\", \"value\": 3}]'\n    target: {kind: Deployment}\n",
	})
	spec := KustomizeSpec{Target: "//bench:k", Dir: "k/top"}
	for _, name := range []string{"k/base/kustomization.yaml", "k/base/deploy.yaml", "k/mid/kustomization.yaml", "k/top/kustomization.yaml"} {
		spec.Files = append(spec.Files, File{Path: filepath.Join(root, name), Name: name})
	}
	for b.Loop() {
		if _, err := Kustomize(spec); err != nil {
			b.Fatal(err)
		}
	}
}
