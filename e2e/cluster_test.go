//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/slipway-dev/slipway/internal/cli"
	"github.com/slipway-dev/slipway/internal/cluster"
)

// lifecycleConfig is an instance of its own (it is stopped and restarted), on
// ports that collide neither with the default instance nor with the shared one.
func lifecycleConfig(t *testing.T) cluster.Config {
	t.Helper()
	cfg := cluster.DefaultConfig()
	cfg.Name = e2eID() + "-lifecycle"
	cfg.Log = testWriter{t}
	cfg.Ports = freePorts(t, cluster.Ports{Etcd: 22379, EtcdPeer: 22380, APIServer: 26443, Registry: 25000,
		ControllerManager: 30257, Scheduler: 30259, Kwok: 30247})
	cfg.FakeNodes = 1 // the lifecycle of the fake-node mode; the real node's is TestRealNodeLifecycle
	return cfg
}

// freePorts returns the first port set, from base in steps of 100, whose ports are
// all free: something else on the machine may hold one. Ports stay below the
// kernel's ephemeral range (32768+), where an outgoing connection could take a
// port between this check and the start.
func freePorts(t *testing.T, base cluster.Ports) cluster.Ports {
	t.Helper()
	for offset := 0; offset < 1500; offset += 100 {
		p := cluster.Ports{Etcd: base.Etcd + offset, EtcdPeer: base.EtcdPeer + offset, APIServer: base.APIServer + offset,
			Registry: base.Registry + offset, ControllerManager: base.ControllerManager + offset,
			Scheduler: base.Scheduler + offset, Kwok: base.Kwok + offset,
			Kubelet: base.Kwok + 3 + offset, KubeletHealthz: base.Kwok + 1 + offset, KubeProxy: base.Kwok + 9 + offset,
			KubeProxyMetrics: base.Kwok + 2 + offset, CoreDNS: base.Etcd - 4000 + offset}
		if portsFree(p.Etcd, p.EtcdPeer, p.APIServer, p.Registry, p.ControllerManager, p.Scheduler, p.Kwok,
			p.Kubelet, p.KubeletHealthz, p.KubeProxy, p.KubeProxyMetrics, p.CoreDNS) {
			return p
		}
	}
	t.Fatalf("no free port set from %+v", base)
	return base
}

func portsFree(ports ...int) bool {
	for _, p := range ports {
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			return false
		}
		l.Close()
	}
	return true
}

// testWriter sends the harness's progress lines to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func clientset(t *testing.T, c *cluster.Cluster) *kubernetes.Clientset {
	t.Helper()
	rc, err := c.RESTConfig()
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// poll calls cond every 100ms until it returns true or the deadline passes.
func poll(ctx context.Context, timeout time.Duration, cond func() (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	var last error
	for {
		ok, err := cond()
		if ok {
			return nil
		}
		if err != nil {
			last = err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not within %s (last error: %v)", timeout, last)
		case <-t.C:
		}
	}
}

// The shared instance announces its registry the KEP-1755 way, and the
// announced registry answers.
func TestSharedClusterRegistryDiscovery(t *testing.T) {
	c := sharedCluster(t)
	ctx := context.Background()
	cm, err := clientset(t, c).CoreV1().ConfigMaps("kube-public").Get(ctx, "local-registry-hosting", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var hosting struct{ Host, Help string }
	if err := yaml.Unmarshal([]byte(cm.Data["localRegistryHosting.v1"]), &hosting); err != nil {
		t.Fatal(err)
	}
	if got, want := hosting.Host, fmt.Sprintf("127.0.0.1:%d", sharedConfig().Ports.Registry); got != want {
		t.Errorf("localRegistryHosting.v1 host = %q, want %q", got, want)
	}
	if hosting.Help == "" {
		t.Error("localRegistryHosting.v1 has no help URL")
	}
	reg, err := name.NewRegistry(hosting.Host)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := remote.Catalog(ctx, reg); err != nil {
		t.Errorf("registry %s from the ConfigMap does not answer: %v", hosting.Host, err)
	}
}

func TestClusterLifecycle(t *testing.T) {
	ctx := context.Background()
	cfg := lifecycleConfig(t)
	// Start from nothing (a failed earlier run may have left state), end with nothing.
	if err := cluster.Down(ctx, cfg, true); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := cluster.Down(context.Background(), cfg, true); err != nil {
			t.Errorf("final down: %v", err)
		}
	})

	start := time.Now()
	c, err := cluster.Up(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("up from a purged state: %s (built: %v)", time.Since(start).Round(100*time.Millisecond), c.Built)

	// The CLI sees the same instance, healthy.
	var out bytes.Buffer
	root := cli.NewRoot()
	root.SetOut(&out)
	root.SetArgs([]string{"cluster", "status", "--name", cfg.Name})
	if err := root.ExecuteContext(ctx); err != nil {
		t.Fatalf("slipway cluster status: %v\n%s", err, &out)
	}

	cs := clientset(t, c)
	t.Run("deployment pods run", func(t *testing.T) {
		replicas := int32(2)
		labels := map[string]string{"app": "e2e-lifecycle"}
		dep := &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: "e2e-lifecycle", Namespace: "default"},
			Spec: appsv1.DeploymentSpec{
				Replicas: &replicas,
				Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: labels},
					Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: c.RegistryHost + "/e2e/app:never-pulled"}}},
				},
			},
		}
		created := time.Now()
		if _, err := cs.AppsV1().Deployments("default").Create(ctx, dep, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		var phases []string
		err := poll(ctx, 10*time.Second, func() (bool, error) {
			pods, err := cs.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=e2e-lifecycle"})
			if err != nil {
				return false, err
			}
			phases = phases[:0]
			running := 0
			for _, p := range pods.Items {
				phases = append(phases, p.Name+"="+string(p.Status.Phase))
				if p.Status.Phase == corev1.PodRunning {
					running++
				}
			}
			return running == 2 && len(pods.Items) == 2, nil
		})
		if err != nil {
			t.Fatalf("2 Running pods: %v; pods: %v", err, phases)
		}
		t.Logf("2 pods Running %s after the Deployment was created", time.Since(created).Round(10*time.Millisecond))
	})

	t.Run("server-side apply conflict", func(t *testing.T) {
		cms := cs.CoreV1().ConfigMaps("default")
		apply := func(manager, value string) error {
			body := fmt.Sprintf(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"e2e-ssa"},"data":{"owner":%q}}`, value)
			_, err := cms.Patch(ctx, "e2e-ssa", types.ApplyPatchType, []byte(body), metav1.PatchOptions{FieldManager: manager})
			return err
		}
		if err := apply("alice", "alice"); err != nil {
			t.Fatalf("first apply: %v", err)
		}
		err := apply("bob", "bob")
		if !apierrors.IsConflict(err) {
			t.Fatalf("second field manager's apply: err = %v, want a conflict", err)
		}
		if !strings.Contains(err.Error(), "alice") {
			t.Errorf("conflict %q does not name the owning field manager", err)
		}
		got, err := cms.Get(ctx, "e2e-ssa", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got.Data["owner"] != "alice" {
			t.Errorf("after the conflict data.owner = %q, want alice", got.Data["owner"])
		}
	})

	t.Run("registry push and pull by digest", func(t *testing.T) { pushAndPullByDigest(t, c.RegistryHost) })

	// down stops every process it started.
	before, err := cluster.Status(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !before.Up {
		t.Fatalf("status before down: not up: %+v", before.Components)
	}
	if err := cluster.Down(ctx, cfg, false); err != nil {
		t.Fatal(err)
	}
	for _, comp := range before.Components {
		if alive, how := sameProcessBinary(comp.PID, comp.Binary); alive {
			t.Errorf("%s (pid %d) still alive after down: %s", comp.Name, comp.PID, how)
		}
	}
	after, err := cluster.Status(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, comp := range after.Components {
		if comp.State != "stopped" {
			t.Errorf("after down %s is %q, want stopped", comp.Name, comp.State)
		}
	}

	// up again with a port taken by someone else: a clear error naming the
	// component and the port; what started before it keeps running.
	apiserver := before.Components[indexOf(t, before.Components, cluster.APIServer)].Binary
	fiBefore, err := os.Stat(apiserver)
	if err != nil {
		t.Fatal(err)
	}
	squatter, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", cfg.Ports.Kwok))
	if err != nil {
		t.Fatal(err)
	}
	_, err = cluster.Up(ctx, cfg)
	squatter.Close()
	wantErr := fmt.Sprintf("kwok: port %d on 127.0.0.1 is already in use by pid %d", cfg.Ports.Kwok, os.Getpid())
	if err == nil || !strings.Contains(err.Error(), wantErr) {
		t.Fatalf("up with the kwok port taken: err = %v, want it to contain %q", err, wantErr)
	}

	// up again: it starts the rest of the half-started instance, nothing is
	// rebuilt, and etcd's data survived the restart.
	var log bytes.Buffer
	cfg.Log = io.MultiWriter(testWriter{t}, &log)
	start = time.Now()
	c2, err := cluster.Up(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("up of the half-started instance with cached binaries: %s", time.Since(start).Round(100*time.Millisecond))
	wantLog := fmt.Sprintf("is partly running: etcd (port %d), registry (port %d), kube-apiserver (port %d), "+
		"kube-controller-manager (port %d), kube-scheduler (port %d) running, kwok (port %d) not; starting the rest",
		cfg.Ports.Etcd, cfg.Ports.Registry, cfg.Ports.APIServer, cfg.Ports.ControllerManager, cfg.Ports.Scheduler, cfg.Ports.Kwok)
	if !strings.Contains(log.String(), wantLog) {
		t.Errorf("up of a half-started instance did not say %q", wantLog)
	}
	if len(c2.Built) != 0 {
		t.Errorf("second up built %v, want nothing built", c2.Built)
	}
	fiAfter, err := os.Stat(apiserver)
	if err != nil || !os.SameFile(fiBefore, fiAfter) || !fiAfter.ModTime().Equal(fiBefore.ModTime()) {
		t.Errorf("%s was replaced by the second up (err %v)", apiserver, err)
	}
	if d := time.Since(start); d > time.Minute {
		t.Errorf("up with cached binaries took %s, want under a minute", d)
	}
	if _, err := clientset(t, c2).AppsV1().Deployments("default").Get(ctx, "e2e-lifecycle", metav1.GetOptions{}); err != nil {
		t.Errorf("the Deployment did not survive down and up: %v", err)
	}

	// A component that died leaves a stale pid file: up says so and restarts it.
	st, err := cluster.Status(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	kwok := st.Components[indexOf(t, st.Components, cluster.Kwok)]
	if err := syscall.Kill(kwok.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := poll(ctx, 10*time.Second, func() (bool, error) { alive, _ := sameProcessBinary(kwok.PID, kwok.Binary); return !alive, nil }); err != nil {
		t.Fatalf("kwok (pid %d) did not die: %v", kwok.PID, err)
	}
	log.Reset()
	if _, err := cluster.Up(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	wantLog = fmt.Sprintf("kwok: stale pid file (pid %d from the pid file has exited); starting kwok again on port %d", kwok.PID, cfg.Ports.Kwok)
	if !strings.Contains(log.String(), wantLog) {
		t.Errorf("up after kwok died did not say %q", wantLog)
	}

	// And up while everything runs is a no-op that returns at once.
	start = time.Now()
	if _, err := cluster.Up(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("up while running took %s, want under a second", d)
	}
}

// pushAndPullByDigest pushes a random image to the registry and reads it back by digest.
func pushAndPullByDigest(t *testing.T, host string) {
	ctx := context.Background()
	img, err := random.Image(4096, 2)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(host + "/e2e/random:lifecycle")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img, remote.WithContext(ctx)); err != nil {
		t.Fatal(err)
	}
	digest, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	got, err := remote.Image(ref.Context().Digest(digest.String()), remote.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	gotDigest, err := got.Digest()
	if err != nil {
		t.Fatal(err)
	}
	if gotDigest != digest {
		t.Errorf("pulled digest %s, pushed %s", gotDigest, digest)
	}
	wantManifest, _ := img.RawManifest()
	gotManifest, err := got.RawManifest()
	if err != nil || !bytes.Equal(gotManifest, wantManifest) {
		t.Errorf("pulled manifest differs (err %v):\n got %s\nwant %s", err, gotManifest, wantManifest)
	}
	layers, err := got.Layers()
	if err != nil || len(layers) != 2 {
		t.Errorf("pulled image has %d layers (err %v), want 2", len(layers), err)
	}
}

// The fallback registry (go-containerregistry's, for machines without Debian's
// docker-registry) stores what is pushed to it, on an instance of its own.
func TestCraneRegistry(t *testing.T) {
	ctx := context.Background()
	cfg := cluster.DefaultConfig()
	cfg.Name = e2eID() + "-crane"
	cfg.Ports = freePorts(t, cluster.Ports{Etcd: 23379, EtcdPeer: 23380, APIServer: 27443, Registry: 26000,
		ControllerManager: 31257, Scheduler: 31259, Kwok: 31247})
	cfg.FakeNodes = 1 // only the registry matters here
	cfg.Registry = cluster.RegistryCrane
	cfg.Log = testWriter{t}
	if err := cluster.Down(ctx, cfg, true); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := cluster.Down(context.Background(), cfg, true); err != nil {
			t.Errorf("final down: %v", err)
		}
	})
	c, err := cluster.Up(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if c.RegistryImpl != cluster.RegistryCrane {
		t.Fatalf("registry implementation %q, want %q", c.RegistryImpl, cluster.RegistryCrane)
	}
	pushAndPullByDigest(t, c.RegistryHost)
}

// sameProcessBinary reports whether pid is alive and runs binary.
func sameProcessBinary(pid int, binary string) (bool, string) {
	exe, err := os.Stat(fmt.Sprintf("/proc/%d/exe", pid))
	if err != nil {
		return false, ""
	}
	bin, err := os.Stat(binary)
	if err != nil {
		return false, ""
	}
	if !os.SameFile(exe, bin) {
		return false, ""
	}
	status, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	return true, strings.SplitN(string(status), "\n", 4)[2] // the State: line
}

func indexOf(t *testing.T, cs []cluster.ComponentStatus, name string) int {
	t.Helper()
	for i, c := range cs {
		if c.Name == name {
			return i
		}
	}
	t.Fatalf("no component %s in %v", name, cs)
	return -1
}
