package cluster

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func touchExecutable(t *testing.T, p string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
}

// Binaries come from KubeAssetsDir when it has them, else from the cache; when
// every one is found nothing is built (the go command is never looked for).
func TestEnsureKubeUsesAssetsAndCache(t *testing.T) {
	assets := t.TempDir()
	cfg := testConfig()
	cfg.CacheDir = t.TempDir()
	cfg.KubeAssetsDir = assets
	l := cfg.layout()
	for _, n := range []string{"etcd", "kube-apiserver", "kubectl"} { // like setup-envtest's assets
		touchExecutable(t, filepath.Join(assets, n))
	}
	for _, n := range []string{"kube-controller-manager", "kube-scheduler", "kubectl", "kubelet", "kube-proxy"} {
		touchExecutable(t, filepath.Join(l.k8sBin, n))
	}
	if err := os.WriteFile(filepath.Join(assets, "kube-scheduler"), []byte("not executable"), 0o644); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	b := &builder{cfg: cfg, l: l, p: newProgress(&log), goBin: "/nonexistent/go"}
	got, err := b.ensureKube(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"etcd":                    filepath.Join(assets, "etcd"),
		"kube-apiserver":          filepath.Join(assets, "kube-apiserver"),
		"kubectl":                 filepath.Join(assets, "kubectl"),
		"kube-controller-manager": filepath.Join(l.k8sBin, "kube-controller-manager"),
		"kube-scheduler":          filepath.Join(l.k8sBin, "kube-scheduler"),
		"kubelet":                 filepath.Join(l.k8sBin, "kubelet"),
		"kube-proxy":              filepath.Join(l.k8sBin, "kube-proxy"),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("binaries (-want +got):\n%s", diff)
	}
	if len(b.built) != 0 || log.Len() != 0 {
		t.Errorf("built %v and printed %q, want nothing built", b.built, log.String())
	}

	// A missing binary means a build, which needs the go command.
	if err := os.Remove(filepath.Join(l.k8sBin, "kube-scheduler")); err != nil {
		t.Fatal(err)
	}
	if _, err := b.ensureKube(context.Background()); err == nil {
		t.Error("ensureKube with a missing binary and no go command succeeded, want an error")
	}
}
