package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/cobra"

	"github.com/slipway-dev/slipway/internal/cluster"
)

func TestClusterUpFlags(t *testing.T) {
	t.Setenv("SLIPWAY_CACHE_DIR", "/env-cache")
	t.Setenv("SLIPWAY_STATE_DIR", "")
	t.Setenv("KUBEBUILDER_ASSETS", "")
	defaults := cluster.DefaultConfig()
	tests := []struct {
		name string
		args []string
		want func(*cluster.Config)
	}{
		{"defaults", nil, func(*cluster.Config) {}},
		{"instance and dirs", []string{"--name=e2e", "--cache-dir=/c"}, func(c *cluster.Config) {
			c.Name, c.CacheDir, c.StateDir = "e2e", "/c", "/c/cluster"
		}},
		{"state dir wins", []string{"--cache-dir=/c", "--state-dir=/s"}, func(c *cluster.Config) {
			c.CacheDir, c.StateDir = "/c", "/s"
		}},
		{"versions and registry", []string{"--kubernetes-version=v1.36.3", "--kwok-version=v0.7.0", "--registry=crane"}, func(c *cluster.Config) {
			c.KubernetesVersion, c.KwokVersion, c.Registry = "v1.36.3", "v0.7.0", "crane"
		}},
		{"ports", []string{"--etcd-port=12379", "--etcd-peer-port=12380", "--apiserver-port=16443", "--registry-port=15000",
			"--controller-manager-port=20257", "--scheduler-port=20259", "--kwok-port=20247"}, func(c *cluster.Config) {
			c.Ports.Etcd, c.Ports.EtcdPeer, c.Ports.APIServer, c.Ports.Registry = 12379, 12380, 16443, 15000
			c.Ports.ControllerManager, c.Ports.Scheduler, c.Ports.Kwok = 20257, 20259, 20247
		}},
		{"fake nodes and ranges", []string{"--fake-nodes=3", "--pod-cidr=10.9.0.0/24", "--service-cidr=10.9.1.0/24"}, func(c *cluster.Config) {
			c.FakeNodes, c.PodCIDR, c.ServiceCIDR = 3, "10.9.0.0/24", "10.9.1.0/24"
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd := &cobra.Command{Use: "up"}
			o := &clusterUpOptions{common: &clusterCommon{}}
			o.common.bindFlags(cmd)
			o.bindFlags(cmd)
			if err := cmd.ParseFlags(tc.args); err != nil {
				t.Fatal(err)
			}
			got := o.config()
			want := defaults
			tc.want(&want)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("config (-want +got):\n%s", diff)
			}
		})
	}
}

// runSlipway runs the slipway command line and returns its output and error.
func runSlipway(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	root := NewRoot()
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	return out.String(), err
}

func TestClusterEnv(t *testing.T) {
	state := t.TempDir()
	run := filepath.Join(state, "e2e")
	if err := os.MkdirAll(run, 0o755); err != nil {
		t.Fatal(err)
	}
	c := cluster.Cluster{Name: "e2e", Kubeconfig: filepath.Join(run, "kubeconfig"), RegistryHost: "127.0.0.1:15000",
		KubectlDir: "/cache/k8s/v1.37.2"}
	b, _ := json.Marshal(c)
	if err := os.WriteFile(filepath.Join(run, "instance.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := runSlipway(t, "cluster", "env", "--name", "e2e", "--state-dir", state)
	if err != nil {
		t.Fatal(err)
	}
	want := "export KUBECONFIG=" + filepath.Join(run, "kubeconfig") + "\n" +
		"export SLIPWAY_REGISTRY=127.0.0.1:15000\n" +
		"export PATH=/cache/k8s/v1.37.2:\"$PATH\"\n"
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("cluster env (-want +got):\n%s", diff)
	}

	_, err = runSlipway(t, "cluster", "env", "--name", "never-up", "--state-dir", state)
	if err == nil || !strings.Contains(err.Error(), `instance "never-up" has no state`) {
		t.Errorf("cluster env of an instance never brought up: err = %v", err)
	}
}

func TestClusterStatusNotUp(t *testing.T) {
	state := t.TempDir()
	out, err := runSlipway(t, "cluster", "status", "--name", "idle", "--state-dir", state)
	if got, want := ExitCode(err), exitNotUp; got != want {
		t.Fatalf("exit code %d (err %v), want %d", got, err, want)
	}
	var stopped []string
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 1 && f[1] == "stopped" {
			stopped = append(stopped, f[0])
		}
	}
	if diff := cmp.Diff(cluster.Components, stopped); diff != "" {
		t.Errorf("stopped components (-want +got):\n%s\noutput:\n%s", diff, out)
	}

	out, err = runSlipway(t, "cluster", "status", "--name", "idle", "--state-dir", state, "-o", "json")
	if ExitCode(err) != exitNotUp {
		t.Fatalf("status -o json: %v", err)
	}
	var rep cluster.StatusReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("status -o json is not JSON: %v\n%s", err, out)
	}
	if rep.Up || len(rep.Components) != len(cluster.Components) {
		t.Errorf("status -o json: up=%v with %d components, want down with %d", rep.Up, len(rep.Components), len(cluster.Components))
	}
}

func TestClusterDownWithoutState(t *testing.T) {
	out, err := runSlipway(t, "cluster", "down", "--name", "idle", "--state-dir", t.TempDir(), "--purge")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "nothing to stop") {
		t.Errorf("cluster down output %q, want it to say there is nothing to stop", out)
	}
}
