// Package kube connects slipway to Kubernetes clusters: kubeconfig loading, the
// context guard, registry discovery, applying, diffing, pruning and readiness.
package kube

import (
	"fmt"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Target names a kubeconfig file and context; empty fields mean the defaults
// ($KUBECONFIG or ~/.kube/config, and its current context).
type Target struct {
	Kubeconfig string
	Context    string
}

// Connection is a resolved Target.
type Connection struct {
	// Context is the name of the kubeconfig context in use.
	Context string
	// Server is the API server's URL.
	Server string
	Config *rest.Config
}

// Connect resolves t against the kubeconfig.
func Connect(t Target) (*Connection, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if t.Kubeconfig != "" {
		rules.ExplicitPath = t.Kubeconfig
	}
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: t.Context})
	raw, err := cc.RawConfig()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	name := t.Context
	if name == "" {
		name = raw.CurrentContext
	}
	if name == "" {
		return nil, fmt.Errorf("kubeconfig %s has no current context; pass --context", describeKubeconfig(rules))
	}
	if _, ok := raw.Contexts[name]; !ok {
		return nil, fmt.Errorf("kubeconfig %s has no context %q", describeKubeconfig(rules), name)
	}
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig context %q: %w", name, err)
	}
	return &Connection{Context: name, Server: cfg.Host, Config: cfg}, nil
}

func describeKubeconfig(rules *clientcmd.ClientConfigLoadingRules) string {
	if rules.ExplicitPath != "" {
		return rules.ExplicitPath
	}
	if p := rules.GetLoadingPrecedence(); len(p) > 0 {
		return p[0]
	}
	return "(none)"
}
