package cluster

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The kube-proxy's PATH starts with wrappers that enter the node namespace; each
// must run the system's program by its absolute path, or nsenter finds the
// wrapper itself on that PATH and execs it forever.
func TestNodeWrappersRunSystemPrograms(t *testing.T) {
	cfg := testConfig()
	l := cfg.layout()
	nw, err := cfg.network()
	if err != nil {
		t.Fatal(err)
	}
	bins := binaries{kube: map[string]string{"kubelet": "/c/kubelet", "kube-proxy": "/c/kube-proxy"}, coredns: "/c/coredns"}
	comps := nodeComponents(cfg, l, bins, nw, "127.0.0.1:15000/slipway/pause@sha256:0")
	nsBin := l.node().nsBin
	execLine := regexp.MustCompile(`(?m)^exec nsenter --net=\S+ (\S+) "\$@"$`)
	var wrappers int
	for _, c := range comps {
		for path, body := range c.files {
			if filepath.Dir(path) != nsBin {
				continue
			}
			wrappers++
			m := execLine.FindSubmatch(body)
			if m == nil {
				t.Errorf("%s: no `exec nsenter ... PROGRAM \"$@\"` line:\n%s", path, body)
				continue
			}
			if prog := string(m[1]); !filepath.IsAbs(prog) || strings.HasPrefix(prog, nsBin) || filepath.Base(prog) != filepath.Base(path) {
				t.Errorf("%s runs %q, want the system's %s by its absolute path", path, prog, filepath.Base(path))
			}
		}
	}
	if wrappers != 7 {
		t.Errorf("%d wrappers in %s, want 7 (nft, iptables and ip6tables with -save and -restore)", wrappers, nsBin)
	}
}
