// Package portforward keeps local ports forwarded to the pods of deployed
// workloads, through the Kubernetes API's port-forward subresource (no kubectl).
//
// A forward names a workload, not a pod: each new local connection goes to a
// ready pod of that workload as of that moment, so a forward keeps working across
// rollouts, killed pods and API server restarts without being restarted itself.
package portforward

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Spec is one declared forward: a local port to a workload's port, as written in a
// manifests target's port_forwards attribute ("8081": "deployment/frontend:8080").
type Spec struct {
	LocalPort int
	// Kind is the workload's kind, lower case: deployment, statefulset, daemonset,
	// replicaset, service or pod.
	Kind string
	Name string
	// Port is the remote port: a number, or the name of a container port (of a
	// service port, for services).
	Port string
}

// Kinds a forward may name, with their short names (as kubectl accepts them).
var kinds = map[string]string{
	"deployment": "deployment", "deployments": "deployment", "deploy": "deployment",
	"statefulset": "statefulset", "statefulsets": "statefulset", "sts": "statefulset",
	"daemonset": "daemonset", "daemonsets": "daemonset", "ds": "daemonset",
	"replicaset": "replicaset", "replicasets": "replicaset", "rs": "replicaset",
	"service": "service", "services": "service", "svc": "service",
	"pod": "pod", "pods": "pod", "po": "pod",
}

var remoteSyntax = regexp.MustCompile(`^([a-z]+)/([a-z0-9]([-a-z0-9.]*[a-z0-9])?):([a-z0-9-]+)$`)

// ParseSpec reads one port_forwards entry. The error says what was expected.
func ParseSpec(local, remote string) (Spec, error) {
	port, err := strconv.Atoi(local)
	if err != nil || port < 1 || port > 65535 {
		return Spec{}, fmt.Errorf("port_forwards key %q: want a local port number (1-65535)", local)
	}
	m := remoteSyntax.FindStringSubmatch(strings.TrimSpace(remote))
	if m == nil {
		return Spec{}, fmt.Errorf("port_forwards[%q] = %q: want KIND/NAME:PORT, such as deployment/frontend:8080", local, remote)
	}
	kind, ok := kinds[m[1]]
	if !ok {
		return Spec{}, fmt.Errorf("port_forwards[%q] = %q: kind %q is not one of deployment, statefulset, daemonset, replicaset, service, pod", local, remote, m[1])
	}
	if n, err := strconv.Atoi(m[4]); err == nil && (n < 1 || n > 65535) {
		return Spec{}, fmt.Errorf("port_forwards[%q] = %q: remote port %d is out of range", local, remote, n)
	}
	return Spec{LocalPort: port, Kind: kind, Name: m[2], Port: m[4]}, nil
}

// ParseSpecs reads a port_forwards attribute, sorted by local port.
func ParseSpecs(m map[string]string) ([]Spec, error) {
	var specs []Spec
	for local, remote := range m {
		s, err := ParseSpec(local, remote)
		if err != nil {
			return nil, err
		}
		specs = append(specs, s)
	}
	sort.Slice(specs, func(i, j int) bool { return specs[i].LocalPort < specs[j].LocalPort })
	return specs, nil
}

// String is the remote side as written: deployment/frontend:8080.
func (s Spec) String() string { return fmt.Sprintf("%s/%s:%s", s.Kind, s.Name, s.Port) }

// Forward is a spec placed: the deployable that declares it and the namespace its
// workload lives in.
type Forward struct {
	Target    string
	Namespace string
	Spec
}

// URL is the forward's local address as a link.
func (f Forward) URL() string { return fmt.Sprintf("http://127.0.0.1:%d", f.LocalPort) }

// String names the forward in messages.
func (f Forward) String() string {
	return fmt.Sprintf("127.0.0.1:%d -> %s/%s (%s)", f.LocalPort, f.Namespace, f.Spec.String(), f.Target)
}
