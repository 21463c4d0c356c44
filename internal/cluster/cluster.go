package cluster

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/rest"
)

// Cluster is a running instance: where its kubeconfig, registry and tools are.
// Up writes it to the instance's instance.json; Load reads it back.
type Cluster struct {
	Name              string `json:"name"`
	RunDir            string `json:"runDir"`     // pki, data, logs, pids
	Kubeconfig        string `json:"kubeconfig"` // a file of its own, context Context
	Context           string `json:"context"`
	Server            string `json:"server"`       // https://127.0.0.1:<port>
	RegistryHost      string `json:"registryHost"` // 127.0.0.1:<port>, plain HTTP
	RegistryImpl      string `json:"registryImpl"` // distribution or crane
	BinDir            string `json:"binDir"`       // the cached Kubernetes binaries
	KubectlDir        string `json:"kubectlDir"`   // holds the kubectl matching the cluster
	KubernetesVersion string `json:"kubernetesVersion"`
	KwokVersion       string `json:"kwokVersion"`
	Ports             Ports  `json:"ports"`
	// FakeNodes is the number of kwok nodes; 0 means one real node, Node.
	FakeNodes int `json:"fakeNodes,omitempty"`
	// The real node: its name, its pod and Service ranges and the cluster DNS address.
	Node        string `json:"node,omitempty"`
	PodCIDR     string `json:"podCIDR,omitempty"`
	ServiceCIDR string `json:"serviceCIDR,omitempty"`
	DNS         string `json:"dns,omitempty"`

	// Built lists the binaries this Up built or installed (empty when all were cached).
	Built []string `json:"-"`
}

// RESTConfig is a client-go configuration for the cluster's admin user.
func (c *Cluster) RESTConfig() (*rest.Config, error) { return restConfig(c.Kubeconfig) }

// Env is the environment that points tools at the cluster: KUBECONFIG, the
// registry address and a PATH starting with the matching kubectl.
func (c *Cluster) Env() []string {
	return []string{
		"KUBECONFIG=" + c.Kubeconfig,
		"SLIPWAY_REGISTRY=" + c.RegistryHost,
		"PATH=" + c.KubectlDir + string(os.PathListSeparator) + os.Getenv("PATH"),
	}
}

// ShellEnv is Env as shell commands, for eval "$(slipway cluster env)".
func (c *Cluster) ShellEnv() string {
	return fmt.Sprintf("export KUBECONFIG=%s\nexport SLIPWAY_REGISTRY=%s\nexport PATH=%s:\"$PATH\"\n",
		shellQuote(c.Kubeconfig), shellQuote(c.RegistryHost), shellQuote(c.KubectlDir))
}

func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-:+=,@") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// ErrNotUp is returned by Load for an instance that was never brought up (or was purged).
var ErrNotUp = errors.New("cluster instance is not up")

// Load returns the instance as the last successful Up left it.
func Load(cfg Config) (*Cluster, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	l := cfg.layout()
	b, err := os.ReadFile(l.instance)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: instance %q has no state in %s; run `slipway cluster up%s`", ErrNotUp, cfg.Name, l.run, nameFlag(cfg.Name))
	}
	if err != nil {
		return nil, err
	}
	var c Cluster
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("%s: %w", l.instance, err)
	}
	return &c, nil
}

// nameFlag is the --name flag to repeat in suggested commands.
func nameFlag(name string) string {
	if name == DefaultName {
		return ""
	}
	return " --name " + name
}

// progress prints timestamped progress lines.
type progress struct {
	mu    sync.Mutex
	w     io.Writer
	start time.Time
}

func newProgress(w io.Writer) *progress { return &progress{w: w, start: time.Now()} }

func (p *progress) printf(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "[cluster %6.1fs] %s\n", time.Since(p.start).Seconds(), fmt.Sprintf(format, args...))
}
