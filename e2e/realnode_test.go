//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"hash/fnv"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/slipway-dev/slipway/internal/cluster"
)

// realNodeConfig is an instance of its own with a real node (it is stopped and
// checked for leftovers), on ports of its own.
func realNodeConfig(t *testing.T) cluster.Config {
	t.Helper()
	cfg := cluster.DefaultConfig()
	cfg.Name = e2eID() + "-node"
	cfg.Log = testWriter{t}
	cfg.Ports = freePorts(t, cluster.Ports{Etcd: 22479, EtcdPeer: 22480, APIServer: 26543, Registry: 25100,
		ControllerManager: 30357, Scheduler: 30359, Kwok: 30347})
	return cfg
}

// inventory is what a real node may change on the host, restricted to what is
// this instance's (other instances of other engineers may run at the same time):
// mounts under its folder, network interfaces and namespaces named after it, its
// cgroups, listening sockets on its ports, processes mentioning its folder, CNI
// and containerd files outside its folder, and the host-wide settings (netfilter
// rules, the sysctls the kubelet, CNI and kube-proxy are known to touch).
func inventory(t *testing.T, cfg cluster.Config) map[string][]string {
	t.Helper()
	run := filepath.Join(cfg.StateDir, cfg.Name)
	h := fnv.New32a()
	h.Write([]byte(cfg.Name))
	link := fmt.Sprintf("slw%08x", h.Sum32())
	inv := map[string][]string{}
	add := func(k, v string) { inv[k] = append(inv[k], v) }

	mi, _ := os.ReadFile("/proc/self/mountinfo")
	for _, line := range strings.Split(string(mi), "\n") {
		if f := strings.Fields(line); len(f) > 4 && strings.HasPrefix(f[4], run) {
			add("mounts", f[4])
		}
	}
	links, _ := os.ReadDir("/sys/class/net")
	for _, l := range links {
		if strings.HasPrefix(l.Name(), link) {
			add("links", l.Name())
		}
	}
	if _, err := os.Stat("/run/netns/slipway-" + cfg.Name); err == nil {
		add("netns", "slipway-"+cfg.Name)
	}
	cgs, _ := filepath.Glob("/sys/fs/cgroup/*/slipway-" + cfg.Name)
	inv["cgroups"] = append(inv["cgroups"], cgs...)
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6", "/proc/net/udp"} {
		b, _ := os.ReadFile(f)
		for _, line := range strings.Split(string(b), "\n")[1:] {
			fl := strings.Fields(line)
			if len(fl) < 4 {
				continue
			}
			for _, p := range []int{cfg.Ports.Etcd, cfg.Ports.APIServer, cfg.Ports.Registry, cfg.Ports.Kubelet,
				cfg.Ports.KubeletHealthz, cfg.Ports.KubeProxy, cfg.Ports.KubeProxyMetrics, cfg.Ports.CoreDNS, 53} {
				if strings.HasSuffix(fl[1], fmt.Sprintf(":%04X", p)) && (fl[3] == "0A" || strings.HasSuffix(f, "udp")) {
					add("listening", f+" "+fl[1])
				}
			}
		}
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		if b, _ := os.ReadFile(p); strings.Contains(string(b), run+"/") {
			add("processes", strings.ReplaceAll(string(b), "\x00", " "))
		}
	}
	results, _ := filepath.Glob("/var/lib/cni/results/slipway-" + cfg.Name + "-*")
	inv["cni results"] = results
	for _, k := range []string{"net/ipv4/ip_forward", "net/ipv4/conf/all/route_localnet", "vm/overcommit_memory",
		"vm/panic_on_oom", "kernel/panic", "kernel/panic_on_oops", "kernel/keys/root_maxkeys", "kernel/keys/root_maxbytes",
		"net/netfilter/nf_conntrack_max", "net/bridge/bridge-nf-call-iptables"} {
		b, _ := os.ReadFile("/proc/sys/" + k)
		add("sysctls", k+"="+strings.TrimSpace(string(b)))
	}
	if out, err := exec.Command("nft", "list", "ruleset").Output(); err == nil {
		inv["nft ruleset"] = []string{string(out)}
	}
	for k := range inv {
		sort.Strings(inv[k])
	}
	return inv
}

// The real node: up from nothing runs a pod; a killed kubelet is restarted by up;
// up twice is a no-op; down leaves the host as it found it.
func TestRealNodeLifecycle(t *testing.T) {
	ctx := context.Background()
	cfg := realNodeConfig(t)
	if err := cluster.Down(ctx, cfg, true); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := cluster.Down(context.Background(), cfg, true); err != nil {
			t.Errorf("final down: %v", err)
		}
	})
	before := inventory(t, cfg)

	start := time.Now()
	c, err := cluster.Up(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("up from a purged state: %s (built: %v)", time.Since(start).Round(100*time.Millisecond), c.Built)
	if c.Node != "127.0.0.1" {
		t.Fatalf("cluster node %q, want the real node 127.0.0.1", c.Node)
	}
	cs := clientset(t, c)

	t.Run("a pod runs on the real node", func(t *testing.T) {
		tags, err := remote.List(mustRepo(t, c.RegistryHost+"/slipway/pause"), remote.WithContext(ctx))
		if err != nil || len(tags) == 0 {
			t.Fatalf("the sandbox image is not in the registry: %v %v", tags, err)
		}
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "e2e-real", Namespace: "default"},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app",
				Image: c.RegistryHost + "/slipway/pause:" + tags[0]}}},
		}
		if _, err := cs.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		var last *corev1.Pod
		err = poll(ctx, 60*time.Second, func() (bool, error) {
			p, err := cs.CoreV1().Pods("default").Get(ctx, "e2e-real", metav1.GetOptions{})
			last = p
			return err == nil && p.Status.Phase == corev1.PodRunning && p.Status.PodIP != "", err
		})
		if err != nil {
			t.Fatalf("pod not Running with an IP: %v; status %+v", err, last.Status)
		}
		if !strings.HasPrefix(last.Status.PodIP, strings.TrimSuffix(c.PodCIDR, "0/24")) {
			t.Errorf("pod IP %s is not in the pod CIDR %s", last.Status.PodIP, c.PodCIDR)
		}
	})

	t.Run("a killed kubelet is restarted by up", func(t *testing.T) {
		st, err := cluster.Status(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		kubelet := st.Components[indexOf(t, st.Components, cluster.Kubelet)]
		if err := syscall.Kill(kubelet.PID, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		if err := poll(ctx, 10*time.Second, func() (bool, error) {
			alive, _ := sameProcessBinary(kubelet.PID, kubelet.Binary)
			return !alive, nil
		}); err != nil {
			t.Fatal(err)
		}
		if _, err := cluster.Up(ctx, cfg); err != nil {
			t.Fatal(err)
		}
		st, err = cluster.Status(ctx, cfg)
		if err != nil || !st.Up {
			t.Fatalf("status after up: %v %+v", err, st)
		}
	})

	t.Run("up twice is a no-op", func(t *testing.T) {
		st, _ := cluster.Status(ctx, cfg)
		start := time.Now()
		if _, err := cluster.Up(ctx, cfg); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("up while running took %s", d)
		}
		st2, _ := cluster.Status(ctx, cfg)
		for i := range st.Components {
			if st.Components[i].PID != st2.Components[i].PID {
				t.Errorf("%s: pid %d became %d", st.Components[i].Name, st.Components[i].PID, st2.Components[i].PID)
			}
		}
	})

	if err := cluster.Down(ctx, cfg, false); err != nil {
		t.Fatal(err)
	}
	after := inventory(t, cfg)
	if diff := cmp.Diff(before, after); diff != "" {
		t.Errorf("the host after down differs from before up (-before +after):\n%s", diff)
	}
}

func mustRepo(t *testing.T, s string) name.Repository {
	t.Helper()
	r, err := name.NewRepository(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
