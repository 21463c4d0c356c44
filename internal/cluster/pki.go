package cluster

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// PKI file names inside an instance's pki folder.
const (
	caCert        = "ca.crt"
	caKey         = "ca.key"
	apiserverCert = "apiserver.crt"
	apiserverKey  = "apiserver.key"
	adminCert     = "admin.crt"
	adminKey      = "admin.key"
	saKey         = "sa.key" // signs service account tokens
	saPub         = "sa.pub" // verifies them
)

var pkiFiles = []string{caCert, caKey, apiserverCert, apiserverKey, adminCert, adminKey, saKey, saPub}

// apiserverDNSNames and apiserverIPs are the names the apiserver's serving
// certificate is valid for: loopback, and the in-cluster service names and
// ClusterIP (the first address of --service-cluster-ip-range).
var (
	apiserverDNSNames = []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"}
	apiserverIPs      = []net.IP{net.ParseIP("127.0.0.1").To4(), net.ParseIP("10.0.0.1").To4()}
)

const certValidity = 10 * 365 * 24 * time.Hour

// ensurePKI creates the instance's CA, certificates and service-account key pair
// unless a complete set is already there. It writes into a temporary folder and
// renames it into place, so an interrupted run never leaves half a PKI.
func ensurePKI(dir, instance string, now time.Time) (created bool, err error) {
	complete := true
	for _, f := range pkiFiles {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			complete = false
		}
	}
	if complete {
		return false, nil
	}
	files, err := generatePKI(instance, now)
	if err != nil {
		return false, err
	}
	tmp := dir + ".tmp"
	if err := os.RemoveAll(tmp); err != nil {
		return false, err
	}
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		return false, err
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(tmp, name), data, 0o600); err != nil {
			return false, err
		}
	}
	if err := os.RemoveAll(dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	return true, os.Rename(tmp, dir)
}

// generatePKI returns the PEM files of a fresh PKI keyed by file name: an ECDSA
// P-256 CA, the apiserver's serving certificate, an admin client certificate in
// system:masters, and an RSA key pair for service account tokens.
func generatePKI(instance string, now time.Time) (map[string][]byte, error) {
	notBefore := now.Add(-time.Hour) // tolerate a little clock skew
	ca, caPriv, err := newCert(&x509.Certificate{
		Subject:               pkix.Name{CommonName: "slipway-local-ca " + instance},
		NotBefore:             notBefore,
		NotAfter:              now.Add(certValidity),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("CA: %w", err)
	}
	server, serverPriv, err := newCert(&x509.Certificate{
		Subject:     pkix.Name{CommonName: "kube-apiserver"},
		NotBefore:   notBefore,
		NotAfter:    now.Add(certValidity),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:    apiserverDNSNames,
		IPAddresses: apiserverIPs,
	}, ca, caPriv)
	if err != nil {
		return nil, fmt.Errorf("apiserver certificate: %w", err)
	}
	admin, adminPriv, err := newCert(&x509.Certificate{
		Subject:     pkix.Name{CommonName: "slipway-admin", Organization: []string{"system:masters"}},
		NotBefore:   notBefore,
		NotAfter:    now.Add(certValidity),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, ca, caPriv)
	if err != nil {
		return nil, fmt.Errorf("admin certificate: %w", err)
	}
	sa, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	saPubDER, err := x509.MarshalPKIXPublicKey(&sa.PublicKey)
	if err != nil {
		return nil, err
	}
	out := map[string][]byte{
		caCert:        pemBlock("CERTIFICATE", ca.Raw),
		apiserverCert: pemBlock("CERTIFICATE", server.Raw),
		adminCert:     pemBlock("CERTIFICATE", admin.Raw),
		saKey:         pemBlock("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(sa)),
		saPub:         pemBlock("PUBLIC KEY", saPubDER),
	}
	for name, k := range map[string]*ecdsa.PrivateKey{caKey: caPriv, apiserverKey: serverPriv, adminKey: adminPriv} {
		der, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			return nil, err
		}
		out[name] = pemBlock("EC PRIVATE KEY", der)
	}
	return out, nil
}

// newCert creates a key and a certificate from tmpl, signed by parent (self-signed
// when parent is nil).
func newCert(tmpl, parent *x509.Certificate, parentKey crypto.Signer) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, err
	}
	tmpl.SerialNumber = serial
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	return cert, key, err
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

// The real node's client certificate: the kubelet registers as system:node:127.0.0.1.
const (
	nodeCert = "node.crt"
	nodeKey  = "node.key"
)

// ensureNodeCert adds the kubelet's client certificate, signed by the instance's
// CA, to a PKI made before the real node existed (or keeps the one there).
func ensureNodeCert(dir string, now time.Time) error {
	if fileExists(filepath.Join(dir, nodeCert)) && fileExists(filepath.Join(dir, nodeKey)) {
		return nil
	}
	ca, caPriv, err := loadCA(dir)
	if err != nil {
		return err
	}
	cert, key, err := newCert(&x509.Certificate{
		Subject:     pkix.Name{CommonName: "system:node:" + realNodeName, Organization: []string{"system:nodes"}},
		NotBefore:   now.Add(-time.Hour),
		NotAfter:    now.Add(certValidity),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, ca, caPriv)
	if err != nil {
		return fmt.Errorf("node certificate: %w", err)
	}
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(filepath.Join(dir, nodeKey), pemBlock("EC PRIVATE KEY", der), 0o600); err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(dir, nodeCert), pemBlock("CERTIFICATE", cert.Raw), 0o600)
}

func loadCA(dir string) (*x509.Certificate, crypto.Signer, error) {
	certPEM, err := os.ReadFile(filepath.Join(dir, caCert))
	if err != nil {
		return nil, nil, err
	}
	keyPEM, err := os.ReadFile(filepath.Join(dir, caKey))
	if err != nil {
		return nil, nil, err
	}
	cb, _ := pem.Decode(certPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || kb == nil {
		return nil, nil, fmt.Errorf("%s: unreadable CA certificate or key", dir)
	}
	ca, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, nil, err
	}
	key, err := x509.ParseECPrivateKey(kb.Bytes)
	if err != nil {
		return nil, nil, err
	}
	return ca, key, nil
}
