//go:build e2e

// Package e2e holds the end-to-end tests: real Bazel, a real cluster, a real
// registry. Run them with: go test -tags e2e -timeout 40m ./e2e/...
//
// All tests share one local cluster instance, "e2e", on ports of its own so that it
// never collides with a developer's default instance. TestMain brings it up (the
// first run builds the Kubernetes binaries, about 5 minutes) and leaves it running:
// it is cached state, and the next run reuses it in about a second. Set
// SLIPWAY_E2E_DOWN=1 to stop it at the end, SLIPWAY_E2E_DOWN=purge to also delete it.
package e2e

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"testing"

	"github.com/slipway-dev/slipway/internal/cluster"
)

// sharedConfig is the shared instance: the default caches, its own name and ports.
func sharedConfig() cluster.Config {
	cfg := cluster.DefaultConfig()
	cfg.Name = "e2e"
	cfg.Ports = cluster.Ports{Etcd: 12379, EtcdPeer: 12380, APIServer: 16443, Registry: 15000,
		ControllerManager: 20257, Scheduler: 20259, Kwok: 20247}
	cfg.Log = os.Stderr
	return cfg
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
	if mode := os.Getenv("SLIPWAY_E2E_DOWN"); mode != "" {
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
