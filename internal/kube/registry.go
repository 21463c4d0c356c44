package kube

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"
)

// KEP-1755: a cluster tells tools where its local registry is in this ConfigMap.
const (
	registryConfigMapNamespace = "kube-public"
	registryConfigMapName      = "local-registry-hosting"
	registryConfigMapKey       = "localRegistryHosting.v1"
)

// LocalRegistry is the KEP-1755 description of a cluster's local registry.
type LocalRegistry struct {
	// Host is where tools push, e.g. "localhost:5000".
	Host string `json:"host"`
	// HostFromContainerRuntime is where nodes pull from, when it differs from Host.
	HostFromContainerRuntime string `json:"hostFromContainerRuntime,omitempty"`
	HostFromClusterNetwork   string `json:"hostFromClusterNetwork,omitempty"`
	Help                     string `json:"help,omitempty"`
}

// PullHost is the registry host images should name in manifests.
func (r LocalRegistry) PullHost() string {
	if r.HostFromContainerRuntime != "" {
		return r.HostFromContainerRuntime
	}
	return r.Host
}

// ParseLocalRegistry parses the ConfigMap's localRegistryHosting.v1 value.
func ParseLocalRegistry(value string) (*LocalRegistry, error) {
	var r LocalRegistry
	if err := yaml.UnmarshalStrict([]byte(value), &r); err != nil {
		return nil, fmt.Errorf("%s/%s %s: %w", registryConfigMapNamespace, registryConfigMapName, registryConfigMapKey, err)
	}
	if r.Host == "" {
		return nil, fmt.Errorf("%s/%s %s has no host", registryConfigMapNamespace, registryConfigMapName, registryConfigMapKey)
	}
	return &r, nil
}

// DiscoverRegistry reads the cluster's KEP-1755 local-registry-hosting ConfigMap.
func DiscoverRegistry(ctx context.Context, client kubernetes.Interface) (*LocalRegistry, error) {
	cm, err := client.CoreV1().ConfigMaps(registryConfigMapNamespace).Get(ctx, registryConfigMapName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("the cluster publishes no local registry (no ConfigMap %s/%s); pass --registry", registryConfigMapNamespace, registryConfigMapName)
	}
	if err != nil {
		return nil, fmt.Errorf("reading ConfigMap %s/%s: %w", registryConfigMapNamespace, registryConfigMapName, err)
	}
	return ParseLocalRegistry(cm.Data[registryConfigMapKey])
}
