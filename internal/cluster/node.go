package cluster

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// The real node's components (names of their pid and log files too).
const (
	Containerd = "containerd"
	Kubelet    = "kubelet"
	KubeProxy  = "kube-proxy"
	CoreDNS    = "coredns"
)

// realNodeName is the node the kubelet registers: it must be an address the
// apiserver can dial (its InternalIP), and 127.0.0.1 keeps everything on loopback.
const realNodeName = "127.0.0.1"

// Debian's runc and CNI plugins, which the real node runs.
const (
	systemRunc   = "/usr/sbin/runc"
	systemCNIDir = "/usr/lib/cni"
	systemNft    = "/usr/sbin/nft"
	systemSbin   = "/usr/sbin" // iptables and nft (Debian's alternatives live here)
)

// nodeLayout is where the real node keeps its files, all under the instance folder.
type nodeLayout struct {
	containerd string // root, state, sockets, config
	socket     string // containerd's gRPC socket
	kubelet    string // the kubelet's root dir
	podLogs    string
	cniConf    string
	cniBin     string // wrappers: the bridge plugin runs inside the node namespace
	cniIPAM    string
	nsBin      string // wrappers on kube-proxy's PATH: nft & co. run inside the node namespace
	config     string // rendered config files
}

func (l layout) node() nodeLayout {
	c := filepath.Join(l.run, "containerd")
	return nodeLayout{
		containerd: c,
		socket:     filepath.Join(c, "containerd.sock"),
		kubelet:    filepath.Join(l.run, "kubelet"),
		podLogs:    filepath.Join(l.run, "pod-logs"),
		cniConf:    filepath.Join(l.run, "cni", "net.d"),
		cniBin:     filepath.Join(l.run, "cni", "bin"),
		cniIPAM:    filepath.Join(l.run, "cni", "ipam"),
		nsBin:      filepath.Join(l.run, "node-bin"),
		config:     filepath.Join(l.run, "config"),
	}
}

// versioned names a config file by its content, so that a component started with
// other settings has other arguments (and up refuses to mix them).
func versioned(dir, base, ext string, content []byte) string {
	sum := sha256.Sum256(content)
	return filepath.Join(dir, fmt.Sprintf("%s-%x%s", base, sum[:4], ext))
}

// nodeComponents renders the real node's components.
func nodeComponents(cfg Config, l layout, bins binaries, nw network, pauseRef string) map[string]component {
	nl := l.node()
	env := os.Environ()
	p := cfg.Ports
	registryHost := fmt.Sprintf("127.0.0.1:%d", p.Registry)

	ctrdConf := []byte(containerdConfig(nl, bins.shim, pauseRef))
	ctrdPath := versioned(nl.config, "containerd", ".toml", ctrdConf)
	hostsToml := fmt.Sprintf("server = %q\n\n[host.%q]\n  capabilities = [\"pull\", \"resolve\"]\n", "http://"+registryHost, "http://"+registryHost)
	cni := cniConfig(nw, nl)
	ctrdFiles := map[string][]byte{
		ctrdPath: ctrdConf,
		filepath.Join(nl.containerd, "certs.d", registryHost, "hosts.toml"): []byte(hostsToml),
		filepath.Join(nl.cniConf, "10-slipway.conflist"):                    cni,
		filepath.Join(nl.cniBin, "bridge"):                                  nsWrapper(nw, filepath.Join(systemCNIDir, "bridge")),
		filepath.Join(nl.cniBin, "host-local"):                              execWrapper(filepath.Join(systemCNIDir, "host-local")),
		filepath.Join(nl.cniBin, "loopback"):                                execWrapper(filepath.Join(systemCNIDir, "loopback")),
	}

	kubeletConf := []byte(kubeletConfig(l, nl, nw, p))
	kubeletPath := versioned(nl.config, "kubelet", ".yaml", kubeletConf)
	proxyConf := []byte(kubeProxyConfig(l, nw, p))
	proxyPath := versioned(nl.config, "kube-proxy", ".yaml", proxyConf)
	proxyFiles := map[string][]byte{proxyPath: proxyConf}
	for _, tool := range []string{"nft", "iptables", "iptables-save", "iptables-restore", "ip6tables", "ip6tables-save", "ip6tables-restore"} {
		// The system's program by its path: by name, nsenter would find this wrapper again on PATH.
		proxyFiles[filepath.Join(nl.nsBin, tool)] = nsWrapper(nw, filepath.Join(systemSbin, tool))
	}
	corefile := []byte(corefile(l, nw, p))
	corePath := versioned(nl.config, "Corefile", "", corefile)

	return map[string]component{
		Containerd: {name: Containerd, binary: bins.containerd, args: []string{"--config=" + ctrdPath}, env: env,
			files: ctrdFiles, dirs: []string{nl.containerd, nl.cniIPAM}},
		Kubelet: {name: Kubelet, binary: bins.kube["kubelet"], env: env,
			args: []string{"--config=" + kubeletPath, "--kubeconfig=" + filepath.Join(l.run, "kubelet.kubeconfig"),
				"--hostname-override=" + realNodeName, "--root-dir=" + nl.kubelet, "--cert-dir=" + filepath.Join(nl.kubelet, "pki"), "--v=1"},
			ports: []portFlag{{p.Kubelet, "--kubelet-port"}, {p.KubeletHealthz, "--kubelet-healthz-port"}},
			files: map[string][]byte{kubeletPath: kubeletConf}, dirs: []string{nl.kubelet, nl.podLogs}},
		KubeProxy: {name: KubeProxy, binary: bins.kube["kube-proxy"], args: []string{"--config=" + proxyPath, "--v=1"},
			env:   append(pathFirst(env, nl.nsBin), "KUBE_PROXY_NFTABLES_SKIP_KERNEL_VERSION_CHECK=1"),
			ports: []portFlag{{p.KubeProxy, "--kube-proxy-port"}, {p.KubeProxyMetrics, "--kube-proxy-metrics-port"}}, files: proxyFiles},
		CoreDNS: {name: CoreDNS, binary: bins.coredns, args: []string{"-conf", corePath}, env: env,
			ports: []portFlag{{p.CoreDNS, "--coredns-port"}}, files: map[string][]byte{corePath: corefile}},
	}
}

// pathFirst puts dir first on the environment's PATH.
func pathFirst(env []string, dir string) []string {
	out := make([]string, 0, len(env)+1)
	path := "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, "PATH="); ok {
			path = v
			continue
		}
		out = append(out, e)
	}
	return append(out, "PATH="+dir+string(os.PathListSeparator)+path)
}

// nsWrapper is a script that runs a program inside the node namespace (network only).
func nsWrapper(nw network, program string) []byte {
	return fmt.Appendf(nil, "#!/bin/sh\n# slipway: run %s in the node network namespace of this instance\nexec nsenter --net=%s %s \"$@\"\n",
		program, nw.netnsPath(), program)
}

func execWrapper(program string) []byte {
	return fmt.Appendf(nil, "#!/bin/sh\nexec %s \"$@\"\n", program)
}

func containerdConfig(nl nodeLayout, shim, pauseRef string) string {
	q := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	return `# Generated by slipway: the real node's containerd.
version = 3
root = ` + q(filepath.Join(nl.containerd, "root")) + `
state = ` + q(filepath.Join(nl.containerd, "state")) + `
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.erofs", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing", "io.containerd.nri.v1.nri"]

[grpc]
  address = ` + q(nl.socket) + `
[ttrpc]
  address = ` + q(nl.socket+".ttrpc") + `
[debug]
  address = ""
[metrics]
  address = ""

[plugins]
  [plugins."io.containerd.internal.v1.opt"]
    path = ` + q(filepath.Join(nl.containerd, "opt")) + `
  [plugins."io.containerd.cri.v1.images"]
    snapshotter = "overlayfs"
    [plugins."io.containerd.cri.v1.images".pinned_images]
      sandbox = ` + q(pauseRef) + `
    [plugins."io.containerd.cri.v1.images".registry]
      config_path = ` + q(filepath.Join(nl.containerd, "certs.d")) + `
  [plugins."io.containerd.cri.v1.runtime"]
    enable_selinux = false
    restrict_oom_score_adj = true
    netns_mounts_under_state_dir = true
    [plugins."io.containerd.cri.v1.runtime".containerd]
      default_runtime_name = "runc"
      [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"
        runtime_path = ` + q(shim) + `
        [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]
          SystemdCgroup = false
          BinaryName = ` + q(systemRunc) + `
          Root = ` + q(filepath.Join(nl.containerd, "runc")) + `
    [plugins."io.containerd.cri.v1.runtime".cni]
      bin_dirs = [` + q(nl.cniBin) + `]
      conf_dir = ` + q(nl.cniConf) + `
  [plugins."io.containerd.grpc.v1.cri"]
    stream_server_address = "127.0.0.1"
    stream_server_port = "0"
`
}

// cniConfig is the pod network: a bridge in the node namespace, no NAT out.
func cniConfig(nw network, nl nodeLayout) []byte {
	conf := map[string]any{
		"cniVersion": "0.4.0",
		"name":       nw.cniNetwork,
		"plugins": []any{map[string]any{
			"type": "bridge", "bridge": nw.bridge, "isGateway": true, "ipMasq": false, "hairpinMode": true,
			"ipam": map[string]any{
				"type": "host-local", "dataDir": nl.cniIPAM,
				"ranges": [][]map[string]string{{{"subnet": nw.podCIDR.String(), "gateway": nw.gateway().String()}}},
				"routes": []map[string]string{{"dst": "0.0.0.0/0"}},
			},
		}},
	}
	b, _ := json.MarshalIndent(conf, "", "  ")
	return b
}

func kubeletConfig(l layout, nl nodeLayout, nw network, p Ports) string {
	return fmt.Sprintf(`# Generated by slipway: the real node's kubelet (pitfalls: docs/reference/real-node).
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: 127.0.0.1
port: %d
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: %d
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupRoot: %s
cgroupsPerQOS: true
containerRuntimeEndpoint: unix://%s
podLogsDir: %s
oomScoreAdj: 0
failSwapOn: false
resolvConf: ""
clusterDomain: cluster.local
clusterDNS: [%s]
authentication:
  anonymous: {enabled: true}
  webhook: {enabled: false}
  x509: {clientCAFile: %s}
authorization: {mode: AlwaysAllow}
imageGCHighThresholdPercent: 100
evictionHard: {memory.available: "50Mi", nodefs.available: "1%%", imagefs.available: "1%%", nodefs.inodesFree: "1%%"}
serializeImagePulls: false
registerNode: true
syncFrequency: 10s
fileCheckFrequency: 5s
nodeStatusReportFrequency: 1m
makeIPTablesUtilChains: false
localStorageCapacityIsolation: false
`, p.Kubelet, p.KubeletHealthz, nw.cgroupRoot, nl.socket, nl.podLogs, nw.hostIP, filepath.Join(l.pki, caCert))
}

func kubeProxyConfig(l layout, nw network, p Ports) string {
	return fmt.Sprintf(`# Generated by slipway: kube-proxy, nftables mode; its nft runs inside the node namespace.
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection:
  kubeconfig: %s
mode: nftables
hostnameOverride: %s
bindAddress: 127.0.0.1
healthzBindAddress: 127.0.0.1:%d
metricsBindAddress: 127.0.0.1:%d
clusterCIDR: %s
detectLocalMode: ClusterCIDR
nodePortAddresses: [%s/32]
oomScoreAdj: 0
conntrack:
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
  udpTimeout: 0s
  udpStreamTimeout: 0s
nftables:
  masqueradeAll: true
  syncPeriod: 30s
  minSyncPeriod: 1s
`, l.kubeconfig, realNodeName, p.KubeProxy, p.KubeProxyMetrics, nw.podCIDR, nw.nodeIP)
}

// corefile serves cluster.local only, with no forward: no query leaves the machine.
func corefile(l layout, nw network, p Ports) string {
	return fmt.Sprintf(`# Generated by slipway: cluster DNS for cluster.local only (other names: REFUSED).
cluster.local:53 {
    bind %s
    errors
    ready 127.0.0.1:%d
    kubernetes cluster.local {
        kubeconfig %s %s
        pods disabled
        ttl 5
    }
    cache 5
    loadbalance
}
`, nw.hostIP, p.CoreDNS, l.kubeconfig, ContextName)
}
