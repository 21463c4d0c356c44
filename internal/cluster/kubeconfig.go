package cluster

import (
	"os"
	"path/filepath"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

const adminUser = "slipway-local-admin"

// renderKubeconfig returns a kubeconfig whose only (and current) context is
// ContextName, with the CA and admin credentials embedded so that the file can be
// copied or mounted elsewhere without the pki folder.
func renderKubeconfig(server string, ca, cert, key []byte) ([]byte, error) {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[ContextName] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: ca}
	cfg.AuthInfos[adminUser] = &clientcmdapi.AuthInfo{ClientCertificateData: cert, ClientKeyData: key}
	cfg.Contexts[ContextName] = &clientcmdapi.Context{Cluster: ContextName, AuthInfo: adminUser, Namespace: "default"}
	cfg.CurrentContext = ContextName
	return clientcmd.Write(*cfg)
}

// writeKubeconfig (re)writes the instance's kubeconfig from its PKI.
func writeKubeconfig(path, pkiDir, server string) error {
	return writeKubeconfigFor(path, pkiDir, server, adminCert, adminKey)
}

// writeKubeconfigFor writes a kubeconfig with the given client certificate and key.
func writeKubeconfigFor(path, pkiDir, server, certFile, keyFile string) error {
	var pems [3][]byte
	for i, f := range []string{caCert, certFile, keyFile} {
		b, err := os.ReadFile(filepath.Join(pkiDir, f))
		if err != nil {
			return err
		}
		pems[i] = b
	}
	b, err := renderKubeconfig(server, pems[0], pems[1], pems[2])
	if err != nil {
		return err
	}
	return writeFileAtomic(path, b, 0o600)
}
