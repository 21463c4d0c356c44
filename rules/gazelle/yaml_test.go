package gazelle

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestScanManifest(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		want    []imageUse
		wantErr string
	}{{
		name: "deployment with ports, and a second document",
		yaml: `apiVersion: apps/v1
kind: Deployment
spec:
  template:
    spec:
      initContainers:
        - name: init
          image: migrate
      containers:
        - name: api
          image: api
          ports:
            - containerPort: 8080
            - containerPort: 53
              protocol: UDP
---
kind: Pod
spec:
  containers:
    - image: nginx:1.27
`,
		want: []imageUse{
			{name: "migrate", file: "x/deploy.yaml", line: 8},
			{name: "api", file: "x/deploy.yaml", line: 11, ports: []string{"8080", "53/udp"}},
			{name: "nginx:1.27", file: "x/deploy.yaml", line: 20},
		},
	}, {
		name: "image keys outside container lists are not images",
		yaml: "kind: ConfigMap\ndata:\n  image: api\n",
	}, {
		name:    "a syntax error names the file and line",
		yaml:    "kind: Pod\nspec: [\n",
		wantErr: "x/deploy.yaml: yaml: line 3",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "deploy.yaml")
			if err := os.WriteFile(p, []byte(tt.yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := scanManifest(p, "x/deploy.yaml")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(imageUse{})); diff != "" {
				t.Errorf("uses (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLocalImageName(t *testing.T) {
	tests := map[string]bool{
		"api":                  true,
		"team/api":             true,
		"nginx:1.27":           false,
		"ghcr.io/team/api":     false,
		"localhost:5000/api":   false,
		"api@sha256:0123":      false,
		"{{ .Values.image }}":  false,
		"registry.local/x/api": false,
	}
	for name, want := range tests {
		if got := localImageName(name); got != want {
			t.Errorf("localImageName(%q) = %v, want %v", name, got, want)
		}
	}
}
