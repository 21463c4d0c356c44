package kube

import (
	"fmt"
	"slices"
	"strings"
)

// localContextNames are kubeconfig contexts of clusters on the developer's machine.
var localContextNames = map[string]bool{
	"slipway-local":      true,
	"minikube":           true,
	"docker-desktop":     true,
	"docker-for-desktop": true,
	"microk8s":           true,
	"rancher-desktop":    true,
	"orbstack":           true,
}

var localContextPrefixes = []string{"kind-", "k3d-"}

// IsLocalContext reports whether a context names a local cluster (by name only: a
// loopback server address may be a tunnel to anywhere).
func IsLocalContext(name string) bool {
	if localContextNames[name] {
		return true
	}
	for _, p := range localContextPrefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// Guard decides which contexts slipway may send requests to: local ones, those the
// user allowed explicitly, and, for commands that only read, a context named
// explicitly (--context). A kubeconfig's current context that is none of these
// gets no request at all.
type Guard struct {
	Allowed []string
	// ReadOnly: the command reads from the cluster and writes nothing to it.
	ReadOnly bool
}

// Check returns an error naming the context when writing to it is not allowed.
// Call it before sending any request.
func (g Guard) Check(context string) error {
	if IsLocalContext(context) || slices.Contains(g.Allowed, context) {
		return nil
	}
	return &ForbiddenContextError{Context: context}
}

// Admit decides for a resolved connection, before any request: Check's rule, and
// for read-only commands also a context the user named with --context.
func (g Guard) Admit(c *Connection) error {
	if g.ReadOnly && !c.Current {
		return nil
	}
	if err := g.Check(c.Context); err != nil {
		return &ForbiddenContextError{Context: c.Context, Server: c.Server, Kubeconfig: c.Kubeconfig, Current: c.Current, ReadOnly: g.ReadOnly}
	}
	return nil
}

// ForbiddenContextError is a refusal to send requests to a context that is not allowed.
type ForbiddenContextError struct {
	Context string
	// Server, Kubeconfig and Current say where the context came from, when known.
	Server, Kubeconfig string
	Current            bool
	// ReadOnly: the refused command would only have read.
	ReadOnly bool
}

func (e *ForbiddenContextError) Error() string {
	verb := "write to"
	if e.ReadOnly {
		verb = "connect to"
	}
	var where []string
	if e.Server != "" {
		where = append(where, "server "+e.Server)
	}
	if e.Current {
		where = append(where, "the current context of "+e.Kubeconfig)
	}
	origin := ""
	if len(where) > 0 {
		origin = " (" + strings.Join(where, ", ") + ")"
	}
	what := fmt.Sprintf("allow it with --allow-context=%s or the manifests' allowed_contexts attribute", e.Context)
	if e.ReadOnly {
		what = fmt.Sprintf("name it with --context=%s to read from it, or allow it with --allow-context=%s", e.Context, e.Context)
	}
	return fmt.Sprintf("refusing to %s kubeconfig context %q%s: it is not a local cluster (slipway-local, kind-*, k3d-*, minikube, docker-desktop, microk8s); %s; pick another context with --context, or use slipway's local cluster with --local",
		verb, e.Context, origin, what)
}
