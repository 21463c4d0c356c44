package cluster

import (
	"context"
	"fmt"
	"runtime"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// The harness's objects are applied server-side, so re-running up is a no-op.
var applyOptions = metav1.ApplyOptions{FieldManager: "slipway-cluster", Force: true}

// restConfig loads the instance's kubeconfig for ContextName.
func restConfig(kubeconfig string) (*rest.Config, error) {
	return clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
		&clientcmd.ClientConfigLoadingRules{ExplicitPath: kubeconfig},
		&clientcmd.ConfigOverrides{CurrentContext: ContextName},
	).ClientConfig()
}

func newClientset(kubeconfig string) (kubernetes.Interface, error) {
	rc, err := restConfig(kubeconfig)
	if err != nil {
		return nil, err
	}
	return kubernetes.NewForConfig(rc)
}

// fakeNode is a node kwok pretends to be the kubelet of.
func fakeNode(nodeName string) *corev1ac.NodeApplyConfiguration {
	return corev1ac.Node(nodeName).
		WithAnnotations(map[string]string{
			"kwok.x-k8s.io/node":           "fake",
			"node.alpha.kubernetes.io/ttl": "0",
		}).
		WithLabels(map[string]string{
			"kubernetes.io/hostname": nodeName,
			"kubernetes.io/os":       "linux",
			"kubernetes.io/arch":     runtime.GOARCH,
			"type":                   "kwok",
		})
}

// registryConfigMap is the KEP-1755 ConfigMap announcing the local registry.
func registryConfigMap(host string) *corev1ac.ConfigMapApplyConfiguration {
	return corev1ac.ConfigMap("local-registry-hosting", "kube-public").
		WithData(map[string]string{"localRegistryHosting.v1": localRegistryHosting(host)})
}

// applyNodes registers n fake nodes: kwok-node-0, kwok-node-1, ...
func applyNodes(ctx context.Context, cs kubernetes.Interface, n int) error {
	for i := range n {
		name := fmt.Sprintf("kwok-node-%d", i)
		if _, err := cs.CoreV1().Nodes().Apply(ctx, fakeNode(name), applyOptions); err != nil {
			return fmt.Errorf("creating the fake node %s: %w", name, err)
		}
	}
	return nil
}

func applyRegistryConfigMap(ctx context.Context, cs kubernetes.Interface, host string) error {
	if _, err := cs.CoreV1().ConfigMaps("kube-public").Apply(ctx, registryConfigMap(host), applyOptions); err != nil {
		return fmt.Errorf("publishing the local-registry-hosting ConfigMap: %w", err)
	}
	return nil
}

// nodeReady fails unless the node reports the Ready condition True.
func nodeReady(ctx context.Context, cs kubernetes.Interface, name string) error {
	n, err := cs.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			if c.Status == corev1.ConditionTrue {
				return nil
			}
			return fmt.Errorf("node %s: Ready=%s (%s)", name, c.Status, c.Reason)
		}
	}
	return fmt.Errorf("node %s: no Ready condition yet", name)
}

// serviceAccountExists fails until the ServiceAccount exists (the controller
// manager creates "default" in each namespace; pods cannot be created before).
func serviceAccountExists(ctx context.Context, cs kubernetes.Interface, namespace, name string) error {
	_, err := cs.CoreV1().ServiceAccounts(namespace).Get(ctx, name, metav1.GetOptions{})
	return err
}
