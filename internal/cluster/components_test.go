package cluster

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"
)

func testConfig() Config {
	return Config{Name: "e2e", StateDir: "/s", CacheDir: "/c", KubernetesVersion: "v1.37.2", KwokVersion: "v0.8.0",
		Ports:    Ports{Etcd: 12379, EtcdPeer: 12380, APIServer: 16443, Registry: 15000, ControllerManager: 20257, Scheduler: 20259, Kwok: 20247},
		Registry: RegistryAuto}
}

func TestLayout(t *testing.T) {
	l := testConfig().layout()
	got := []string{l.run, l.pki, l.data, l.logs, l.pids, l.kubeconfig, l.registry, l.instance, l.k8sBin, l.k8sSrc, l.tools, l.logFile(APIServer)}
	want := []string{"/s/e2e", "/s/e2e/pki", "/s/e2e/data", "/s/e2e/logs", "/s/e2e/pids", "/s/e2e/kubeconfig",
		"/s/e2e/registry.yml", "/s/e2e/instance.json", "/c/k8s/v1.37.2", "/c/k8s/src/v1.37.2", "/c/tools", "/s/e2e/logs/kube-apiserver.log"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("layout (-want +got):\n%s", diff)
	}
}

func TestComponentArgs(t *testing.T) {
	cfg := testConfig()
	l := cfg.layout()
	bins := binaries{
		kube: map[string]string{"etcd": "/c/k8s/v1.37.2/etcd", "kube-apiserver": "/c/k8s/v1.37.2/kube-apiserver",
			"kube-controller-manager": "/c/k8s/v1.37.2/kube-controller-manager", "kube-scheduler": "/c/k8s/v1.37.2/kube-scheduler"},
		kwok: "/c/tools/kwok-v0.8.0/kwok", kwokStages: "/c/tools/kwok-v0.8.0/kwok-stages-slipway2.yaml",
		registry: "/c/tools/docker-registry/docker-registry", registryKind: RegistryDistribution,
	}
	type rendered struct {
		Binary string
		Args   []string
		Ports  []int
		Files  []string
	}
	cfg.FakeNodes = 1
	cfg.ServiceCIDR = "10.0.0.0/24"
	nw, err := cfg.network()
	if err != nil {
		t.Fatal(err)
	}
	comps, err := components(cfg, l, bins, nw, "")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]rendered{}
	for name, c := range comps {
		var files []string
		for f := range c.files {
			files = append(files, f)
		}
		got[name] = rendered{c.binary, c.args, c.portList(), files}
	}
	kubeconfigFlags := []string{"--kubeconfig=/s/e2e/kubeconfig", "--authentication-kubeconfig=/s/e2e/kubeconfig",
		"--authorization-kubeconfig=/s/e2e/kubeconfig", "--bind-address=127.0.0.1", "--leader-elect=false"}
	want := map[string]rendered{
		Etcd: {"/c/k8s/v1.37.2/etcd", []string{
			"--name=slipway", "--data-dir=/s/e2e/data/etcd",
			"--listen-client-urls=http://127.0.0.1:12379", "--advertise-client-urls=http://127.0.0.1:12379",
			"--listen-peer-urls=http://127.0.0.1:12380", "--initial-advertise-peer-urls=http://127.0.0.1:12380",
			"--initial-cluster=slipway=http://127.0.0.1:12380", "--unsafe-no-fsync",
			"--quota-backend-bytes=2147483648", "--log-level=warn"}, []int{12379, 12380}, nil},
		APIServer: {"/c/k8s/v1.37.2/kube-apiserver", []string{
			"--etcd-servers=http://127.0.0.1:12379", "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
			"--secure-port=16443", "--tls-cert-file=/s/e2e/pki/apiserver.crt", "--tls-private-key-file=/s/e2e/pki/apiserver.key",
			"--client-ca-file=/s/e2e/pki/ca.crt", "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
			"--service-account-key-file=/s/e2e/pki/sa.pub", "--service-account-signing-key-file=/s/e2e/pki/sa.key",
			"--service-cluster-ip-range=10.0.0.0/24", "--authorization-mode=Node,RBAC",
			"--kubelet-preferred-address-types=InternalIP", "--kubelet-client-certificate=/s/e2e/pki/admin.crt",
			"--kubelet-client-key=/s/e2e/pki/admin.key", "--allow-privileged=true",
			"--endpoint-reconciler-type=none", "--profiling=false", "--cert-dir=/s/e2e/data/apiserver"}, []int{16443}, nil},
		ControllerManager: {"/c/k8s/v1.37.2/kube-controller-manager", append(kubeconfigFlags,
			"--secure-port=20257", "--service-account-private-key-file=/s/e2e/pki/sa.key", "--root-ca-file=/s/e2e/pki/ca.crt",
			"--cluster-signing-cert-file=/s/e2e/pki/ca.crt", "--cluster-signing-key-file=/s/e2e/pki/ca.key",
			"--cert-dir=/s/e2e/data/kube-controller-manager"), []int{20257}, nil},
		Scheduler: {"/c/k8s/v1.37.2/kube-scheduler", append(kubeconfigFlags,
			"--secure-port=20259", "--cert-dir=/s/e2e/data/kube-scheduler"), []int{20259}, nil},
		Kwok: {"/c/tools/kwok-v0.8.0/kwok", []string{
			"--kubeconfig=/s/e2e/kubeconfig", "--config=/c/tools/kwok-v0.8.0/kwok-stages-slipway2.yaml", "--manage-all-nodes=true",
			"--cidr=10.244.0.0/16", "--node-ip=127.0.0.1", "--node-lease-duration-seconds=40",
			"--server-address=127.0.0.1:20247"}, []int{20247}, nil},
		Registry: {"/c/tools/docker-registry/docker-registry", []string{"serve", "/s/e2e/registry.yml"}, []int{15000}, []string{"/s/e2e/registry.yml"}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("components (-want +got):\n%s", diff)
	}

	if got, want := registryArgs(RegistryCrane, l, cfg.Ports), []string{"registry", "serve",
		"--address=127.0.0.1:15000", "--disk=/s/e2e/data/registry"}; !cmp.Equal(got, want) {
		t.Errorf("crane registry args = %q, want %q", got, want)
	}
}

func TestRegistryEnvDropsOverrides(t *testing.T) {
	got := registryEnv([]string{"HOME=/root", "REGISTRY_HTTP_ADDR=0.0.0.0:5000", "PATH=/bin", "MY_REGISTRY_X=1"})
	want := []string{"HOME=/root", "PATH=/bin", "MY_REGISTRY_X=1"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("registryEnv (-want +got):\n%s", diff)
	}
}

func TestRegistryConfig(t *testing.T) {
	b, err := registryConfig("/s/e2e/data/registry", 15000)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := yaml.Unmarshal(b, &got); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	want := map[string]any{
		"version": "0.1", // a string: distribution rejects the float 0.1
		"log":     map[string]any{"level": "warn", "accesslog": map[string]any{"disabled": true}},
		"storage": map[string]any{
			"filesystem": map[string]any{"rootdirectory": "/s/e2e/data/registry"},
			"delete":     map[string]any{"enabled": true},
			"cache":      map[string]any{"blobdescriptor": "inmemory"},
		},
		"http": map[string]any{"addr": "127.0.0.1:15000", "secret": "slipway-local"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("registry config (-want +got):\n%s\n%s", diff, b)
	}
}

func TestRegistryConfigMap(t *testing.T) {
	cm := registryConfigMap("127.0.0.1:15000")
	if got, want := []string{*cm.Namespace, *cm.Name, *cm.Kind, *cm.APIVersion},
		[]string{"kube-public", "local-registry-hosting", "ConfigMap", "v1"}; !cmp.Equal(got, want) {
		t.Errorf("ConfigMap namespace, name, kind, apiVersion = %q, want %q", got, want)
	}
	value := cm.Data["localRegistryHosting.v1"]
	var got struct{ Host, Help string }
	if err := yaml.Unmarshal([]byte(value), &got); err != nil {
		t.Fatalf("%v\n%s", err, value)
	}
	want := struct{ Host, Help string }{"127.0.0.1:15000", registryHelpURL}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("localRegistryHosting.v1 (-want +got):\n%s", diff)
	}
	if !strings.HasPrefix(value, `host: "127.0.0.1:15000"`) {
		t.Errorf("value = %q, want it to start with the quoted host", value)
	}
}

func TestFakeNode(t *testing.T) {
	n := fakeNode("kwok-node-0")
	got := map[string]any{"name": *n.Name, "annotations": n.Annotations, "os": n.Labels["kubernetes.io/os"]}
	want := map[string]any{"name": "kwok-node-0", "os": "linux",
		"annotations": map[string]string{"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("fake node (-want +got):\n%s", diff)
	}
}

func TestWrapperGoMod(t *testing.T) {
	upstream := `module k8s.io/kubernetes

go 1.26.0

godebug default=go1.26

require (
	k8s.io/api v0.0.0
	github.com/x/y v1.0.0
)

replace (
	k8s.io/api => ./staging/src/k8s.io/api
	k8s.io/cri-api => ./staging/src/k8s.io/cri-api
	github.com/x/y => github.com/x/y v1.0.1
)

replace k8s.io/kubectl => ./staging/src/k8s.io/kubectl
`
	got, err := wrapperGoMod("v1.37.2", []byte(upstream))
	if err != nil {
		t.Fatal(err)
	}
	want := `// Generated by slipway: builds the Kubernetes binaries from the Go module proxy.
module slipway.local/kube-binaries

go 1.26.0
godebug default=go1.26

require k8s.io/kubernetes v1.37.2

replace (
	k8s.io/api => k8s.io/api v0.37.2
	k8s.io/cri-api => k8s.io/cri-api v0.37.2
	k8s.io/kubectl => k8s.io/kubectl v0.37.2
)
`
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("wrapper go.mod (-want +got):\n%s", diff)
	}
	if _, err := wrapperGoMod("v1.37.2", []byte("module k8s.io/kubernetes\n")); err == nil {
		t.Error("wrapperGoMod without staging replacements succeeded, want an error")
	}
}

func TestKwokStages(t *testing.T) {
	dir := t.TempDir()
	for _, f := range kwokStageFiles {
		p := filepath.Join(dir, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		name := strings.TrimSuffix(filepath.Base(f), ".yaml")
		stage := "kind: Stage\nmetadata:\n  name: " + name + "\nspec:\n  selector:\n    matchExpressions:\n    - key: '.status.phase'\n      operator: 'Exists'\n\n"
		if err := os.WriteFile(p, []byte(stage), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := kwokStages(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, doc := range strings.Split(string(b), "---\n")[1:] {
		var s struct {
			Kind     string
			Metadata struct{ Name string }
			Spec     struct {
				Selector struct {
					MatchExpressions []struct{ Key, Operator string } `json:"matchExpressions"`
				}
			}
		}
		if err := yaml.Unmarshal([]byte(doc), &s); err != nil {
			t.Fatal(err)
		}
		entry := s.Kind + "/" + s.Metadata.Name
		for _, e := range s.Spec.Selector.MatchExpressions {
			if strings.Contains(e.Key, "slipway.dev/simulate") {
				entry += " (" + e.Operator + " simulate)"
			}
		}
		got = append(got, entry)
	}
	// pod-ready leaves pods that ask for a simulated failure to slipway's own stage.
	want := []string{"Stage/node-initialize", "Stage/node-heartbeat-with-lease", "Stage/pod-ready (DoesNotExist simulate)",
		"Stage/pod-complete", "Stage/pod-delete", "Stage/slipway-pod-crashloop (In simulate)"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("stages (-want +got):\n%s", diff)
	}
	if err := os.Remove(filepath.Join(dir, kwokStageFiles[2])); err != nil {
		t.Fatal(err)
	}
	if _, err := kwokStages(dir); err == nil {
		t.Error("kwokStages with a missing file succeeded, want an error")
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*Config)
		want   string // "" for valid
	}{
		{"valid", func(*Config) {}, ""},
		{"bad name", func(c *Config) { c.Name = "../x" }, `instance name "../x"`},
		{"bad version", func(c *Config) { c.KubernetesVersion = "1.37" }, `Kubernetes version "1.37": want vMAJOR.MINOR.PATCH`},
		{"not v1", func(c *Config) { c.KubernetesVersion = "v2.0.0" }, "only v1.x releases"},
		{"bad registry", func(c *Config) { c.Registry = "zot" }, `registry "zot"`},
		{"duplicate port", func(c *Config) { c.Ports.Kwok = c.Ports.Etcd }, "port 12379 is given to both etcd and kwok"},
		{"port out of range", func(c *Config) { c.Ports.Registry = 70000 }, "registry port 70000: out of range"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := testConfig()
			tc.modify(&c)
			err := c.withDefaults().validate()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("validate: %v, want ok", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("validate: %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestWithDefaults(t *testing.T) {
	t.Setenv("SLIPWAY_CACHE_DIR", "/cache")
	t.Setenv("SLIPWAY_STATE_DIR", "")
	t.Setenv("KUBEBUILDER_ASSETS", "/assets")
	got := Config{Name: "x", Ports: Ports{Etcd: 1}}.withDefaults()
	got.Log = nil
	want := Config{Name: "x", StateDir: "/cache/cluster", CacheDir: "/cache", KubernetesVersion: DefaultKubernetesVersion,
		KwokVersion: DefaultKwokVersion, Ports: Ports{Etcd: 1}.withDefaults(), Registry: RegistryAuto, StopTimeout: DefaultConfig().StopTimeout}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("withDefaults (-want +got):\n%s", diff)
	}
	d := DefaultConfig()
	if got, want := []string{d.CacheDir, d.StateDir, d.KubeAssetsDir}, []string{"/cache", "/cache/cluster", "/assets"}; !cmp.Equal(got, want) {
		t.Errorf("DefaultConfig dirs = %q, want %q", got, want)
	}
}

func TestArgsDiff(t *testing.T) {
	c := component{binary: "/b/etcd", args: []string{"--a=1", "--b=2"}, ports: []portFlag{{2379, "--etcd-port"}}}
	tests := []struct {
		name string
		rec  record
		want string
	}{
		{"same", record{Binary: "/b/etcd", Args: []string{"--a=1", "--b=2"}, Ports: []int{2379}}, ""},
		{"other arg", record{Binary: "/b/etcd", Args: []string{"--a=1", "--b=3"}, Ports: []int{2379}}, `running with "--b=3", want "--b=2"`},
		{"fewer args", record{Binary: "/b/etcd", Args: []string{"--a=1"}, Ports: []int{2379}}, `running with "", want "--b=2"`},
		{"other port, same args", record{Binary: "/b/etcd", Args: c.args, Ports: []int{5000}}, "ports [5000], want [2379]"},
		{"other binary", record{Binary: "/old/etcd", Args: c.args, Ports: []int{2379}}, "binary /old/etcd, want /b/etcd"},
	}
	for _, tc := range tests {
		if got := argsDiff(&tc.rec, c); got != tc.want {
			t.Errorf("%s: argsDiff = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestShellEnv(t *testing.T) {
	c := &Cluster{Kubeconfig: "/root/.cache/slipway/cluster/default/kubeconfig", RegistryHost: "127.0.0.1:5000",
		KubectlDir: "/tmp/it's here"}
	want := `export KUBECONFIG=/root/.cache/slipway/cluster/default/kubeconfig
export SLIPWAY_REGISTRY=127.0.0.1:5000
export PATH='/tmp/it'\''s here':"$PATH"
`
	if diff := cmp.Diff(want, c.ShellEnv()); diff != "" {
		t.Errorf("ShellEnv (-want +got):\n%s", diff)
	}
}
