package kube

import (
	"fmt"
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

// Guard decides which contexts slipway may write to: local ones, and those the
// user allowed explicitly.
type Guard struct {
	Allowed []string
}

// Check returns an error naming the context when writing to it is not allowed.
// Call it before sending any request.
func (g Guard) Check(context string) error {
	if IsLocalContext(context) {
		return nil
	}
	for _, a := range g.Allowed {
		if a == context {
			return nil
		}
	}
	return &ForbiddenContextError{Context: context}
}

// ForbiddenContextError is a refusal to write to a context that is not allowed.
type ForbiddenContextError struct{ Context string }

func (e *ForbiddenContextError) Error() string {
	return fmt.Sprintf("refusing to write to kubeconfig context %q: it is not a local cluster (slipway-local, kind-*, k3d-*, minikube, docker-desktop, microk8s); allow it with --allow-context=%s or the manifests' allowed_contexts attribute", e.Context, e.Context)
}
