// Package kube connects slipway to Kubernetes clusters: kubeconfig loading, the
// context guard, registry discovery, applying, diffing, pruning and readiness.
package kube

import (
	"fmt"
	"sort"
	"strings"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Target names a kubeconfig file and context; empty fields mean the defaults
// ($KUBECONFIG or ~/.kube/config, and its current context).
type Target struct {
	Kubeconfig string
	Context    string
}

// Connection is a resolved Target. Resolving it sent no request.
type Connection struct {
	// Context is the name of the kubeconfig context in use.
	Context string
	// Server is the API server's URL.
	Server string
	// Kubeconfig names the file (or files) the context came from.
	Kubeconfig string
	// Current: the context is the kubeconfig's current one (no context was named).
	Current bool
	Config  *rest.Config
}

// NoContextError: no context was named and the kubeconfig has no current context
// (or there is no kubeconfig at all).
type NoContextError struct{ Kubeconfig string }

func (e *NoContextError) Error() string {
	return fmt.Sprintf("kubeconfig %s has no current context", e.Kubeconfig)
}

// UnknownContextError: the named context is not in the kubeconfig.
type UnknownContextError struct {
	Kubeconfig, Context string
	// Known are the contexts the kubeconfig has, sorted.
	Known []string
}

func (e *UnknownContextError) Error() string {
	known := "it has none"
	if len(e.Known) > 0 {
		known = "it has " + strings.Join(e.Known, ", ")
	}
	return fmt.Sprintf("kubeconfig %s has no context %q (%s)", e.Kubeconfig, e.Context, known)
}

// Connect resolves t against the kubeconfig alone: it reads files and sends no
// request, so the guard can decide before anything reaches the cluster.
func Connect(t Target) (*Connection, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if t.Kubeconfig != "" {
		rules.ExplicitPath = t.Kubeconfig
	}
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: t.Context})
	raw, err := cc.RawConfig()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig %s: %w", describeKubeconfig(rules), err)
	}
	name := t.Context
	if name == "" {
		name = raw.CurrentContext
	}
	if name == "" {
		return nil, &NoContextError{Kubeconfig: describeKubeconfig(rules)}
	}
	if _, ok := raw.Contexts[name]; !ok {
		known := make([]string, 0, len(raw.Contexts))
		for k := range raw.Contexts {
			known = append(known, k)
		}
		sort.Strings(known)
		return nil, &UnknownContextError{Kubeconfig: describeKubeconfig(rules), Context: name, Known: known}
	}
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig %s, context %q: %w", describeKubeconfig(rules), name, err)
	}
	return &Connection{Context: name, Server: cfg.Host, Kubeconfig: describeKubeconfig(rules), Current: t.Context == "", Config: cfg}, nil
}

func describeKubeconfig(rules *clientcmd.ClientConfigLoadingRules) string {
	if rules.ExplicitPath != "" {
		return rules.ExplicitPath
	}
	if p := rules.GetLoadingPrecedence(); len(p) > 0 {
		return strings.Join(p, ":")
	}
	return "(none)"
}
