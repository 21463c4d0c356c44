//go:build e2e

package e2e

import (
	"net"
	"path/filepath"
	"sync/atomic"
	"testing"

	"k8s.io/client-go/tools/clientcmd"
)

// forbiddenKubeconfig writes a kubeconfig whose current context, "prod", is not a
// local one and points at a listener that only counts connections, so a test can
// check that a refusal came before any request.
func forbiddenKubeconfig(t *testing.T) (path string, connections func() int32) {
	t.Helper()
	cl := sharedCluster(t)
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { listener.Close() })
	var n atomic.Int32
	go func() {
		for {
			c, err := listener.Accept()
			if err != nil {
				return
			}
			n.Add(1)
			c.Close()
		}
	}()
	cfg, err := clientcmd.LoadFromFile(cl.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	ctxCfg := cfg.Contexts[cl.Context]
	cfg.Clusters[ctxCfg.Cluster].Server = "https://" + listener.Addr().String()
	cfg.Contexts["prod"] = ctxCfg
	cfg.CurrentContext = "prod"
	path = filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path, n.Load
}
