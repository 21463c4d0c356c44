package cluster

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Component names, also the names of their pid and log files.
const (
	Etcd              = "etcd"
	APIServer         = "kube-apiserver"
	ControllerManager = "kube-controller-manager"
	Scheduler         = "kube-scheduler"
	Kwok              = "kwok"
	Registry          = "registry"
)

// Components lists every component of an instance with a real node, in start order.
var Components = []string{Etcd, Registry, APIServer, ControllerManager, Scheduler, Containerd, Kubelet, KubeProxy, CoreDNS}

// FakeNodeComponents are those of an instance with fake (kwok) nodes.
var FakeNodeComponents = []string{Etcd, Registry, APIServer, ControllerManager, Scheduler, Kwok}

// ComponentsOf lists the components of an instance with that many fake nodes.
func ComponentsOf(fakeNodes int) []string {
	if fakeNodes > 0 {
		return FakeNodeComponents
	}
	return Components
}

// Stop order: what uses the apiserver or the container runtime first (then the
// pods, see Down), containerd, then the apiserver, then etcd.
var (
	stopFirst   = []string{Kubelet, KubeProxy, CoreDNS, Kwok, Scheduler, ControllerManager, Registry}
	stopRuntime = []string{Containerd}
	stopLast    = [][]string{{APIServer}, {Etcd}}
)

const (
	podCIDR  = "10.244.0.0/16" // the fake nodes'
	nodeName = "kwok-node-0"
)

// portFlag is a port a component listens on and the CLI flag that moves it.
type portFlag struct {
	port int
	flag string
}

// component is how to run one process of an instance.
type component struct {
	name   string
	binary string
	args   []string
	ports  []portFlag
	env    []string
	files  map[string][]byte // config files written just before it starts
	dirs   []string          // folders it needs (crane's registry does not create its own)
}

func (c component) portList() []int {
	var ps []int
	for _, p := range c.ports {
		ps = append(ps, p.port)
	}
	return ps
}

// components renders every component's command line for an instance.
func components(cfg Config, l layout, bins binaries, nw network, pause string) (map[string]component, error) {
	p := cfg.Ports
	env := os.Environ()
	var registryFiles map[string][]byte
	if bins.registryKind == RegistryDistribution {
		rc, err := registryConfig(filepath.Join(l.data, "registry"), p.Registry)
		if err != nil {
			return nil, err
		}
		registryFiles = map[string][]byte{l.registry: rc}
	}
	comps := map[string]component{
		Etcd: {name: Etcd, binary: bins.kube["etcd"], args: etcdArgs(l, p), env: env,
			ports: []portFlag{{p.Etcd, "--etcd-port"}, {p.EtcdPeer, "--etcd-peer-port"}}},
		APIServer: {name: APIServer, binary: bins.kube["kube-apiserver"], args: apiserverArgs(l, p, nw), env: env,
			ports: []portFlag{{p.APIServer, "--apiserver-port"}}},
		ControllerManager: {name: ControllerManager, binary: bins.kube["kube-controller-manager"], args: controllerManagerArgs(l, p), env: env,
			ports: []portFlag{{p.ControllerManager, "--controller-manager-port"}}},
		Scheduler: {name: Scheduler, binary: bins.kube["kube-scheduler"], args: schedulerArgs(l, p), env: env,
			ports: []portFlag{{p.Scheduler, "--scheduler-port"}}},
		Kwok: {name: Kwok, binary: bins.kwok, args: kwokArgs(l, p, bins.kwokStages), env: env,
			ports: []portFlag{{p.Kwok, "--kwok-port"}}},
		Registry: {name: Registry, binary: bins.registry, args: registryArgs(bins.registryKind, l, p), env: registryEnv(env),
			ports: []portFlag{{p.Registry, "--registry-port"}}, files: registryFiles, dirs: []string{filepath.Join(l.data, "registry")}},
	}
	if cfg.FakeNodes > 0 {
		return comps, nil
	}
	delete(comps, Kwok)
	for name, c := range nodeComponents(cfg, l, bins, nw, pause) {
		comps[name] = c
	}
	return comps, nil
}

func loopback(port int) string { return fmt.Sprintf("http://127.0.0.1:%d", port) }

func etcdArgs(l layout, p Ports) []string {
	peer := loopback(p.EtcdPeer)
	return []string{
		"--name=slipway",
		"--data-dir=" + filepath.Join(l.data, "etcd"),
		"--listen-client-urls=" + loopback(p.Etcd),
		"--advertise-client-urls=" + loopback(p.Etcd),
		"--listen-peer-urls=" + peer,
		"--initial-advertise-peer-urls=" + peer,
		"--initial-cluster=slipway=" + peer,
		"--unsafe-no-fsync", // a throwaway dev cluster: speed over durability
		"--quota-backend-bytes=2147483648",
		"--log-level=warn",
	}
}

func apiserverArgs(l layout, p Ports, nw network) []string {
	pki := func(f string) string { return filepath.Join(l.pki, f) }
	return []string{
		"--etcd-servers=" + loopback(p.Etcd),
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", p.APIServer),
		"--tls-cert-file=" + pki(apiserverCert),
		"--tls-private-key-file=" + pki(apiserverKey),
		"--client-ca-file=" + pki(caCert),
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + pki(saPub),
		"--service-account-signing-key-file=" + pki(saKey),
		"--service-cluster-ip-range=" + nw.serviceCIDR.String(),
		"--authorization-mode=Node,RBAC",
		// Logs, exec and port-forward: the apiserver dials the kubelet at the node's
		// InternalIP (127.0.0.1) with a certificate the kubelet trusts.
		"--kubelet-preferred-address-types=InternalIP",
		"--kubelet-client-certificate=" + pki(adminCert),
		"--kubelet-client-key=" + pki(adminKey),
		"--allow-privileged=true",
		// No real endpoints: the kubernetes Service would otherwise point at 127.0.0.1.
		"--endpoint-reconciler-type=none",
		"--profiling=false",
		"--cert-dir=" + filepath.Join(l.data, "apiserver"),
	}
}

// controlPlaneArgs are the flags kube-controller-manager and kube-scheduler share.
func controlPlaneArgs(l layout) []string {
	return []string{
		"--kubeconfig=" + l.kubeconfig,
		"--authentication-kubeconfig=" + l.kubeconfig,
		"--authorization-kubeconfig=" + l.kubeconfig,
		"--bind-address=127.0.0.1",
		"--leader-elect=false",
	}
}

func controllerManagerArgs(l layout, p Ports) []string {
	pki := func(f string) string { return filepath.Join(l.pki, f) }
	return append(controlPlaneArgs(l),
		fmt.Sprintf("--secure-port=%d", p.ControllerManager),
		"--service-account-private-key-file="+pki(saKey),
		"--root-ca-file="+pki(caCert),
		"--cluster-signing-cert-file="+pki(caCert),
		"--cluster-signing-key-file="+pki(caKey),
		"--cert-dir="+filepath.Join(l.data, "kube-controller-manager"),
	)
}

func schedulerArgs(l layout, p Ports) []string {
	return append(controlPlaneArgs(l),
		fmt.Sprintf("--secure-port=%d", p.Scheduler),
		"--cert-dir="+filepath.Join(l.data, "kube-scheduler"),
	)
}

func kwokArgs(l layout, p Ports, stages string) []string {
	return []string{
		"--kubeconfig=" + l.kubeconfig,
		"--config=" + stages,
		"--manage-all-nodes=true",
		"--cidr=" + podCIDR,
		// Fake kubelets report 127.0.0.1, so nothing ever dials a non-loopback address.
		"--node-ip=127.0.0.1",
		"--node-lease-duration-seconds=40",
		fmt.Sprintf("--server-address=127.0.0.1:%d", p.Kwok),
	}
}

func registryArgs(kind string, l layout, p Ports) []string {
	storage := filepath.Join(l.data, "registry")
	if kind == RegistryCrane {
		return []string{"registry", "serve", fmt.Sprintf("--address=127.0.0.1:%d", p.Registry), "--disk=" + storage}
	}
	return []string{"serve", l.registry}
}

// registryEnv drops REGISTRY_* variables: docker-registry reads them as overrides
// of its configuration, and the instance's config file must be the whole story.
func registryEnv(env []string) []string {
	var out []string
	for _, e := range env {
		if !strings.HasPrefix(e, "REGISTRY_") {
			out = append(out, e)
		}
	}
	return out
}

// argsDiff describes how a running process's command line differs from the one
// wanted now ("" when it is the same).
func argsDiff(r *record, c component) string {
	if r.Binary != c.binary {
		return fmt.Sprintf("binary %s, want %s", r.Binary, c.binary)
	}
	// Ports first: the registry's port lives in its config file, not in its arguments.
	if want := c.portList(); !slices.Equal(r.Ports, want) {
		return fmt.Sprintf("ports %v, want %v", r.Ports, want)
	}
	for i := 0; i < max(len(r.Args), len(c.args)); i++ {
		var have, want string
		if i < len(r.Args) {
			have = r.Args[i]
		}
		if i < len(c.args) {
			want = c.args[i]
		}
		if have != want {
			return fmt.Sprintf("running with %q, want %q", have, want)
		}
	}
	return ""
}

// mainPort is the component's first port (0 for containerd, which has only sockets).
func (c component) mainPort() int {
	if len(c.ports) == 0 {
		return 0
	}
	return c.ports[0].port
}
