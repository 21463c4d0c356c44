package cluster

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func parseCertPEM(t *testing.T, b []byte) *x509.Certificate {
	t.Helper()
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "CERTIFICATE" {
		t.Fatalf("not a PEM certificate: %q", b)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestGeneratePKICertificates(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	files, err := generatePKI("dev", now)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names)
	want := slices.Clone(pkiFiles)
	slices.Sort(want)
	if diff := cmp.Diff(want, names); diff != "" {
		t.Fatalf("PKI files (-want +got):\n%s", diff)
	}

	ca := parseCertPEM(t, files[caCert])
	roots := x509.NewCertPool()
	roots.AddCert(ca)

	type certFacts struct {
		CommonName   string
		Organization []string
		IsCA         bool
		KeyUsage     x509.KeyUsage
		ExtKeyUsage  []x509.ExtKeyUsage
		DNSNames     []string
		IPs          []string
		NotBefore    time.Time
		NotAfter     time.Time
	}
	facts := func(c *x509.Certificate) certFacts {
		var ips []string
		for _, ip := range c.IPAddresses {
			ips = append(ips, ip.String())
		}
		return certFacts{c.Subject.CommonName, c.Subject.Organization, c.IsCA, c.KeyUsage, c.ExtKeyUsage,
			c.DNSNames, ips, c.NotBefore.UTC(), c.NotAfter.UTC()}
	}
	notBefore, notAfter := now.Add(-time.Hour), now.Add(certValidity)
	tests := []struct {
		file   string
		want   certFacts
		usage  x509.ExtKeyUsage // verified against the CA
		verify string           // DNS name to verify for (server certs)
	}{
		{caCert, certFacts{CommonName: "slipway-local-ca dev", IsCA: true,
			KeyUsage:  x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
			NotBefore: notBefore, NotAfter: notAfter}, x509.ExtKeyUsageAny, ""},
		{apiserverCert, certFacts{CommonName: "kube-apiserver", KeyUsage: x509.KeyUsageDigitalSignature,
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			DNSNames:    []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"},
			IPs:         []string{"127.0.0.1", "10.0.0.1"}, NotBefore: notBefore, NotAfter: notAfter},
			x509.ExtKeyUsageServerAuth, "kubernetes.default.svc"},
		{adminCert, certFacts{CommonName: "slipway-admin", Organization: []string{"system:masters"},
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
			NotBefore: notBefore, NotAfter: notAfter}, x509.ExtKeyUsageClientAuth, ""},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			c := parseCertPEM(t, files[tc.file])
			if diff := cmp.Diff(tc.want, facts(c)); diff != "" {
				t.Errorf("certificate (-want +got):\n%s", diff)
			}
			_, err := c.Verify(x509.VerifyOptions{Roots: roots, DNSName: tc.verify, CurrentTime: now,
				KeyUsages: []x509.ExtKeyUsage{tc.usage}})
			if err != nil {
				t.Errorf("does not verify against the CA: %v", err)
			}
		})
	}

	// The serving certificate is valid for the ClusterIP and loopback, not for other names.
	server := parseCertPEM(t, files[apiserverCert])
	if err := server.VerifyHostname("127.0.0.1"); err != nil {
		t.Errorf("apiserver certificate: %v", err)
	}
	if err := server.VerifyHostname("example.com"); err == nil {
		t.Error("apiserver certificate verifies for example.com")
	}
	// The admin certificate cannot serve, the serving certificate cannot authenticate clients.
	if _, err := parseCertPEM(t, files[adminCert]).Verify(x509.VerifyOptions{Roots: roots, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err == nil {
		t.Error("admin certificate verifies for server auth")
	}
	if _, err := server.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err == nil {
		t.Error("apiserver certificate verifies for client auth")
	}
	// A certificate of another PKI does not verify against this CA.
	other, err := generatePKI("other", now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := parseCertPEM(t, other[adminCert]).Verify(x509.VerifyOptions{Roots: roots, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err == nil {
		t.Error("another instance's admin certificate verifies against this CA")
	}
}

func TestGeneratePKIServiceAccountKeys(t *testing.T) {
	files, err := generatePKI("dev", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	privBlk, _ := pem.Decode(files[saKey])
	pubBlk, _ := pem.Decode(files[saPub])
	if privBlk == nil || pubBlk == nil {
		t.Fatalf("service account keys are not PEM: %q %q", files[saKey], files[saPub])
	}
	priv, err := x509.ParsePKCS1PrivateKey(privBlk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := x509.ParsePKIXPublicKey(pubBlk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	rpub, ok := pub.(*rsa.PublicKey)
	if !ok {
		t.Fatalf("sa.pub holds a %T, want *rsa.PublicKey", pub)
	}
	if got, want := priv.N.BitLen(), 2048; got != want {
		t.Errorf("sa.key has %d bits, want %d", got, want)
	}
	if !priv.PublicKey.Equal(rpub) {
		t.Error("sa.pub is not the public half of sa.key")
	}
}

func TestEnsurePKIKeepsAnExistingSet(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	created, err := ensurePKI(dir, "dev", time.Now())
	if err != nil || !created {
		t.Fatalf("first ensurePKI: created=%v, err=%v; want created", created, err)
	}
	before, err := os.ReadFile(filepath.Join(dir, caCert))
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(dir, adminKey)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("admin.key: %v, mode %v; want 0600", err, fi.Mode().Perm())
	}
	created, err = ensurePKI(dir, "dev", time.Now())
	if err != nil || created {
		t.Fatalf("second ensurePKI: created=%v, err=%v; want kept", created, err)
	}
	after, _ := os.ReadFile(filepath.Join(dir, caCert))
	if !slices.Equal(before, after) {
		t.Error("second ensurePKI replaced the CA")
	}
	// An incomplete set (e.g. an interrupted earlier version) is replaced as a whole.
	if err := os.Remove(filepath.Join(dir, saPub)); err != nil {
		t.Fatal(err)
	}
	created, err = ensurePKI(dir, "dev", time.Now())
	if err != nil || !created {
		t.Fatalf("ensurePKI over an incomplete set: created=%v, err=%v; want created", created, err)
	}
	ca := parseCertPEM(t, mustRead(t, filepath.Join(dir, caCert)))
	admin := parseCertPEM(t, mustRead(t, filepath.Join(dir, adminCert)))
	if err := admin.CheckSignatureFrom(ca); err != nil {
		t.Errorf("regenerated admin certificate is not signed by the regenerated CA: %v", err)
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
