// Package cluster runs a local Kubernetes cluster and an OCI registry on
// 127.0.0.1: etcd, kube-apiserver, kube-controller-manager, kube-scheduler, a
// registry, and one real node (containerd, kubelet, kube-proxy, CoreDNS; see
// network for how its pods stay on this machine), or, when asked, kwok's fake
// nodes, where pods go Running without running anything.
// The Kubernetes binaries are built from source through the Go module proxy and
// cached; each named instance keeps its PKI, data, logs and pid files in its own
// folder, so several instances (a developer's, the e2e tests') can run side by side.
package cluster

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// Defaults. The Kubernetes version must be a k8s.io/kubernetes release on the Go
// module proxy whose k8s.io/* staging modules are published as v0.<minor>.<patch>.
const (
	DefaultName              = "default"
	DefaultKubernetesVersion = "v1.37.2"
	DefaultKwokVersion       = "v0.8.0"
	// CraneVersion is the go-containerregistry release whose registry is the fallback
	// when Debian's docker-registry cannot be installed (the version slipway builds on).
	CraneVersion = "v0.22.1"
	// ContextName is the kubeconfig context (and cluster) name of every instance;
	// each instance has its own kubeconfig file.
	ContextName = "slipway-local"
)

// Registry implementations.
const (
	RegistryAuto         = "auto"         // distribution when available, else crane
	RegistryDistribution = "distribution" // Debian's docker-registry (distribution 2.8)
	RegistryCrane        = "crane"        // go-containerregistry's `crane registry serve`
)

// Ports are the 127.0.0.1 TCP ports the components listen on.
type Ports struct {
	Etcd              int `json:"etcd"`
	EtcdPeer          int `json:"etcdPeer"`
	APIServer         int `json:"apiServer"`
	Registry          int `json:"registry"`
	ControllerManager int `json:"controllerManager"`
	Scheduler         int `json:"scheduler"`
	Kwok              int `json:"kwok"`
	// The real node's (unused with fake nodes).
	Kubelet          int `json:"kubelet"`
	KubeletHealthz   int `json:"kubeletHealthz"`
	KubeProxy        int `json:"kubeProxy"` // healthz
	KubeProxyMetrics int `json:"kubeProxyMetrics"`
	CoreDNS          int `json:"coreDNS"` // the ready plugin
}

// DefaultPorts are the usual ports of each component, for the default instance.
func DefaultPorts() Ports {
	return Ports{Etcd: 2379, EtcdPeer: 2380, APIServer: 6443, Registry: 5000,
		ControllerManager: 10257, Scheduler: 10259, Kwok: 10247,
		Kubelet: 10250, KubeletHealthz: 10248, KubeProxy: 10256, KubeProxyMetrics: 10249, CoreDNS: 8181}
}

// withDefaults fills each zero port from DefaultPorts.
func (p Ports) withDefaults() Ports {
	d := DefaultPorts()
	for _, f := range []struct{ have, def *int }{
		{&p.Etcd, &d.Etcd}, {&p.EtcdPeer, &d.EtcdPeer}, {&p.APIServer, &d.APIServer}, {&p.Registry, &d.Registry},
		{&p.ControllerManager, &d.ControllerManager}, {&p.Scheduler, &d.Scheduler}, {&p.Kwok, &d.Kwok},
		{&p.Kubelet, &d.Kubelet}, {&p.KubeletHealthz, &d.KubeletHealthz}, {&p.KubeProxy, &d.KubeProxy},
		{&p.KubeProxyMetrics, &d.KubeProxyMetrics}, {&p.CoreDNS, &d.CoreDNS},
	} {
		if *f.have == 0 {
			*f.have = *f.def
		}
	}
	return p
}

// Config describes one local cluster instance.
type Config struct {
	// Name names the instance; its state lives in StateDir/Name.
	Name string
	// StateDir holds one folder per instance (pki, data, logs, pids, kubeconfig).
	StateDir string
	// CacheDir holds the built binaries, shared by all instances.
	CacheDir string
	// KubeAssetsDir, when it holds etcd, kube-apiserver, ... binaries (like
	// KUBEBUILDER_ASSETS), provides those instead of building them.
	KubeAssetsDir     string
	KubernetesVersion string
	KwokVersion       string
	Ports             Ports
	// Registry is auto, distribution or crane.
	Registry string
	// FakeNodes, when above zero, replaces the real node by that many kwok nodes
	// (pods never run; for scale benchmarks).
	FakeNodes int
	// PodCIDR and ServiceCIDR are the real node's pod and Service ranges; empty
	// picks ranges of the instance's own (see network).
	PodCIDR, ServiceCIDR string
	// StopTimeout is how long Down waits after SIGTERM before SIGKILL.
	StopTimeout time.Duration
	// Log receives progress lines; nil discards them.
	Log io.Writer
}

// DefaultConfig is the "default" instance with its state under the user's cache
// folder. SLIPWAY_CACHE_DIR and SLIPWAY_STATE_DIR move the caches and the state;
// KUBEBUILDER_ASSETS provides prebuilt Kubernetes binaries.
func DefaultConfig() Config {
	cache := os.Getenv("SLIPWAY_CACHE_DIR")
	if cache == "" {
		base, err := os.UserCacheDir()
		if err != nil { // no HOME (e.g. some sandboxes): still usable
			base = os.TempDir()
		}
		cache = filepath.Join(base, "slipway")
	}
	state := os.Getenv("SLIPWAY_STATE_DIR")
	if state == "" {
		state = filepath.Join(cache, "cluster")
	}
	return Config{
		Name:              DefaultName,
		StateDir:          state,
		CacheDir:          cache,
		KubeAssetsDir:     os.Getenv("KUBEBUILDER_ASSETS"),
		KubernetesVersion: DefaultKubernetesVersion,
		KwokVersion:       DefaultKwokVersion,
		Ports:             DefaultPorts(),
		Registry:          RegistryAuto,
		StopTimeout:       15 * time.Second,
	}
}

var (
	nameRE    = regexp.MustCompile(`^[a-z0-9]([a-z0-9._-]*[a-z0-9])?$`)
	versionRE = regexp.MustCompile(`^v\d+\.\d+\.\d+$`)
)

// withDefaults fills the zero fields of c from DefaultConfig.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Name == "" {
		c.Name = d.Name
	}
	if c.CacheDir == "" {
		c.CacheDir = d.CacheDir
	}
	if c.StateDir == "" {
		c.StateDir = filepath.Join(c.CacheDir, "cluster")
	}
	if c.KubernetesVersion == "" {
		c.KubernetesVersion = d.KubernetesVersion
	}
	if c.KwokVersion == "" {
		c.KwokVersion = d.KwokVersion
	}
	if c.Ports == (Ports{}) {
		c.Ports = d.Ports
	}
	c.Ports = c.Ports.withDefaults()
	if c.Registry == "" {
		c.Registry = d.Registry
	}
	if c.StopTimeout <= 0 {
		c.StopTimeout = d.StopTimeout
	}
	if c.Log == nil {
		c.Log = io.Discard
	}
	return c
}

// validate reports the first problem with a defaulted config.
func (c Config) validate() error {
	if !nameRE.MatchString(c.Name) {
		return fmt.Errorf("instance name %q: use lower-case letters, digits, '.', '_' and '-'", c.Name)
	}
	for _, v := range []struct{ what, v string }{{"Kubernetes version", c.KubernetesVersion}, {"kwok version", c.KwokVersion}} {
		if !versionRE.MatchString(v.v) {
			return fmt.Errorf("%s %q: want vMAJOR.MINOR.PATCH", v.what, v.v)
		}
	}
	if !strings.HasPrefix(c.KubernetesVersion, "v1.") {
		return fmt.Errorf("the Kubernetes version %q is not supported: only v1.x releases are", c.KubernetesVersion)
	}
	switch c.Registry {
	case RegistryAuto, RegistryDistribution, RegistryCrane:
	default:
		return fmt.Errorf("registry %q: want %s, %s or %s", c.Registry, RegistryAuto, RegistryDistribution, RegistryCrane)
	}
	if c.FakeNodes < 0 {
		return fmt.Errorf("fake nodes %d: want 0 (a real node) or more", c.FakeNodes)
	}
	if _, err := c.network(); err != nil {
		return err
	}
	seen := map[int]string{}
	for _, p := range c.Ports.list() {
		if p.port < 1 || p.port > 65535 {
			return fmt.Errorf("%s port %d: out of range", p.what, p.port)
		}
		if other, dup := seen[p.port]; dup {
			return fmt.Errorf("port %d is given to both %s and %s", p.port, other, p.what)
		}
		seen[p.port] = p.what
	}
	return nil
}

type namedPort struct {
	what string
	port int
}

func (p Ports) list() []namedPort {
	return []namedPort{
		{"etcd", p.Etcd}, {"etcd peer", p.EtcdPeer}, {"kube-apiserver", p.APIServer},
		{"registry", p.Registry}, {"kube-controller-manager", p.ControllerManager},
		{"kube-scheduler", p.Scheduler}, {"kwok", p.Kwok},
		{"kubelet", p.Kubelet}, {"kubelet healthz", p.KubeletHealthz}, {"kube-proxy healthz", p.KubeProxy},
		{"kube-proxy metrics", p.KubeProxyMetrics}, {"coredns ready", p.CoreDNS},
	}
}

// layout is where an instance keeps its files and where the shared caches live.
type layout struct {
	run        string // StateDir/Name
	pki        string
	data       string
	logs       string
	pids       string
	kubeconfig string
	registry   string // our own docker-registry config file
	instance   string // instance.json: what the last successful up ran
	lock       string

	k8sBin   string // CacheDir/k8s/<version>: etcd, kube-apiserver, ..., kubectl
	k8sSrc   string // CacheDir/k8s/src/<version>: the generated wrapper module
	tools    string // CacheDir/tools
	noModule string // an empty folder: `go mod download`/`go install` outside any module
}

func (c Config) layout() layout {
	run := filepath.Join(c.StateDir, c.Name)
	return layout{
		run:        run,
		pki:        filepath.Join(run, "pki"),
		data:       filepath.Join(run, "data"),
		logs:       filepath.Join(run, "logs"),
		pids:       filepath.Join(run, "pids"),
		kubeconfig: filepath.Join(run, "kubeconfig"),
		registry:   filepath.Join(run, "registry.yml"),
		instance:   filepath.Join(run, "instance.json"),
		lock:       filepath.Join(run, ".lock"),
		k8sBin:     filepath.Join(c.CacheDir, "k8s", c.KubernetesVersion),
		k8sSrc:     filepath.Join(c.CacheDir, "k8s", "src", c.KubernetesVersion),
		tools:      filepath.Join(c.CacheDir, "tools"),
		noModule:   filepath.Join(c.CacheDir, "src", "no-module"),
	}
}

func (l layout) logFile(component string) string {
	return filepath.Join(l.logs, component+".log")
}
