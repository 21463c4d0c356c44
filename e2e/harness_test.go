//go:build e2e

// Package e2e holds the end-to-end tests: real Bazel, a real cluster, a real
// registry. Run them with: go test -tags e2e -timeout 60m ./e2e/...
//
// All tests share one local cluster instance, "e2e", with a real node, on ports of
// its own so that it never collides with a developer's default instance. TestMain
// brings it up (the first run builds the Kubernetes binaries, containerd and CoreDNS)
// and stops it at the end, so that a finished run leaves no process, mount or
// network namespace behind; its state (PKI, etcd, images) stays, and the next run
// starts it again in seconds. SLIPWAY_E2E_DOWN=purge also deletes that state;
// SLIPWAY_E2E_DOWN=keep leaves the instance running (for debugging a failure).
package e2e

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"testing"

	"github.com/slipway-dev/slipway/internal/cluster"
)

// sharedConfig is the shared instance: the default caches, its own name and ports.
//
// SLIPWAY_E2E_ID renames it (and the shared workspace, and the instances other tests
// start) and SLIPWAY_E2E_PORT_OFFSET moves its ports, so that two checkouts can run
// the suite at the same time on one machine.
func sharedConfig() cluster.Config {
	cfg := cluster.DefaultConfig()
	cfg.Name = e2eID()
	o := e2ePortOffset()
	cfg.Ports = cluster.Ports{Etcd: 12379 + o, EtcdPeer: 12380 + o, APIServer: 16443 + o, Registry: 15000 + o,
		ControllerManager: 20257 + o, Scheduler: 20259 + o, Kwok: 20247 + o,
		Kubelet: 20250 + o, KubeletHealthz: 20248 + o, KubeProxy: 20256 + o, KubeProxyMetrics: 20249 + o, CoreDNS: 18181 + o}
	cfg.Log = os.Stderr
	return cfg
}

// e2eID names this run's shared instance and workspace: "e2e" unless SLIPWAY_E2E_ID
// says otherwise.
func e2eID() string {
	if id := os.Getenv("SLIPWAY_E2E_ID"); id != "" {
		return id
	}
	return "e2e"
}

// e2ePortOffset is added to the shared instance's ports (SLIPWAY_E2E_PORT_OFFSET).
func e2ePortOffset() int {
	s := os.Getenv("SLIPWAY_E2E_PORT_OFFSET")
	if s == "" {
		return 0
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		panic(fmt.Sprintf("SLIPWAY_E2E_PORT_OFFSET=%q: want an integer", s))
	}
	return n
}

var (
	shared    *cluster.Cluster
	sharedErr error
)

func TestMain(m *testing.M) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	shared, sharedErr = cluster.Up(ctx, sharedConfig())
	if sharedErr != nil {
		fmt.Fprintf(os.Stderr, "e2e: the shared cluster is not up; tests that need it fail: %v\n", sharedErr)
	}
	code := m.Run()
	if mode := os.Getenv("SLIPWAY_E2E_DOWN"); mode != "keep" {
		if err := cluster.Down(ctx, sharedConfig(), mode == "purge"); err != nil {
			fmt.Fprintf(os.Stderr, "e2e: stopping the shared cluster: %v\n", err)
			code = 1
		}
	}
	stop()
	os.Exit(code)
}

// sharedCluster is the cluster every e2e test may use (and must not stop).
func sharedCluster(t *testing.T) *cluster.Cluster {
	t.Helper()
	if sharedErr != nil {
		t.Fatalf("shared e2e cluster: %v", sharedErr)
	}
	return shared
}
