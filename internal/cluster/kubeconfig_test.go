package cluster

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/client-go/tools/clientcmd"
)

func TestRenderKubeconfig(t *testing.T) {
	b, err := renderKubeconfig("https://127.0.0.1:16443", []byte("CA"), []byte("CERT"), []byte("KEY"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.Load(b)
	if err != nil {
		t.Fatalf("kubeconfig does not load: %v\n%s", err, b)
	}
	type ctx struct{ Cluster, User, Namespace, Server, CA, Cert, Key string }
	got := map[string]ctx{}
	for name, c := range cfg.Contexts {
		cl, u := cfg.Clusters[c.Cluster], cfg.AuthInfos[c.AuthInfo]
		if cl == nil || u == nil {
			t.Fatalf("context %s names a missing cluster or user: %+v", name, c)
		}
		got[name] = ctx{c.Cluster, c.AuthInfo, c.Namespace, cl.Server, string(cl.CertificateAuthorityData),
			string(u.ClientCertificateData), string(u.ClientKeyData)}
	}
	want := map[string]ctx{"slipway-local": {"slipway-local", "slipway-local-admin", "default",
		"https://127.0.0.1:16443", "CA", "CERT", "KEY"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("contexts (-want +got):\n%s", diff)
	}
	if got, want := cfg.CurrentContext, "slipway-local"; got != want {
		t.Errorf("current-context = %q, want %q", got, want)
	}
}

// A kubeconfig written from a real PKI gives a client-go config with the admin
// credentials, even when $KUBECONFIG points elsewhere.
func TestWriteKubeconfigRESTConfig(t *testing.T) {
	dir := t.TempDir()
	pki := filepath.Join(dir, "pki")
	if _, err := ensurePKI(pki, "dev", time.Now()); err != nil {
		t.Fatal(err)
	}
	kc := filepath.Join(dir, "kubeconfig")
	if err := writeKubeconfig(kc, pki, "https://127.0.0.1:26443"); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(kc); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("kubeconfig: %v, want mode 0600", err)
	}
	t.Setenv("KUBECONFIG", filepath.Join(dir, "elsewhere"))
	rc, err := (&Cluster{Kubeconfig: kc}).RESTConfig()
	if err != nil {
		t.Fatal(err)
	}
	got := []string{rc.Host, string(rc.CAData), string(rc.CertData), string(rc.KeyData)}
	want := []string{"https://127.0.0.1:26443", string(mustRead(t, filepath.Join(pki, caCert))),
		string(mustRead(t, filepath.Join(pki, adminCert))), string(mustRead(t, filepath.Join(pki, adminKey)))}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("rest config host, CA, cert, key (-want +got):\n%s", diff)
	}
}
