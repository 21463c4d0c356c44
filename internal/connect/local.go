package connect

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/slipway-dev/slipway/internal/cluster"
)

// InstanceEnv names the local cluster instance commands use (default "default",
// the instance `slipway cluster up` starts).
const InstanceEnv = "SLIPWAY_CLUSTER"

// LocalCluster is slipway's local cluster instance, as Open needs it.
type LocalCluster interface {
	// Name is the instance's name.
	Name() string
	// Find returns the instance as its last start left it (nil when it was never
	// started) and whether every component runs and answers now. It starts nothing.
	Find(ctx context.Context) (c *cluster.Cluster, up bool, err error)
	// Start brings the instance up, printing progress to log.
	Start(ctx context.Context, log io.Writer) (*cluster.Cluster, error)
}

// Instance is a LocalCluster backed by internal/cluster.
type Instance struct{ Config cluster.Config }

var _ LocalCluster = (*Instance)(nil)

// DefaultInstance is the instance named by $SLIPWAY_CLUSTER, else "default", with
// state and caches where cluster.DefaultConfig puts them ($SLIPWAY_STATE_DIR,
// $SLIPWAY_CACHE_DIR).
func DefaultInstance() *Instance {
	cfg := cluster.DefaultConfig()
	if name := os.Getenv(InstanceEnv); name != "" {
		cfg.Name = name
	}
	return &Instance{Config: cfg}
}

func (i *Instance) Name() string { return i.Config.Name }

func (i *Instance) Find(ctx context.Context) (*cluster.Cluster, bool, error) {
	rep, err := cluster.Status(ctx, i.Config)
	if err != nil {
		return nil, false, err
	}
	return rep.Cluster, rep.Up && rep.Cluster != nil, nil
}

func (i *Instance) Start(ctx context.Context, log io.Writer) (*cluster.Cluster, error) {
	cfg := i.Config
	if prev, err := cluster.Load(cfg); err == nil {
		cfg.Ports = prev.Ports // an instance keeps its ports across restarts
	}
	cfg.Log = log
	return cluster.Up(ctx, cfg)
}

// ensureLocal returns the running local cluster, starting it when it is not up,
// and says which it did (the long first-start warning only when it starts).
func ensureLocal(ctx context.Context, inst LocalCluster, reason string, log io.Writer) (*cluster.Cluster, error) {
	c, up, err := inst.Find(ctx)
	if err != nil {
		return nil, fmt.Errorf("the local cluster %q: %w", inst.Name(), err)
	}
	cmd := "slipway cluster up"
	if inst.Name() != cluster.DefaultName {
		cmd += " --name " + inst.Name()
	}
	switch {
	case up:
		fmt.Fprintf(log, "slipway: using the local cluster %q (%s): kubeconfig %s, registry %s\n", inst.Name(), reason, c.Kubeconfig, c.RegistryHost)
		return c, nil
	case c != nil:
		fmt.Fprintf(log, "slipway: the local cluster %q (%s) is not running; starting it (%s)\n", inst.Name(), reason, cmd)
	default:
		fmt.Fprintf(log, "slipway: starting the local cluster %q and its registry (%s; %s; the first start builds Kubernetes, ~5 min)\n", inst.Name(), reason, cmd)
	}
	c, err = inst.Start(ctx, log)
	if err != nil {
		return nil, fmt.Errorf("starting the local cluster %q (%s): %w", inst.Name(), cmd, err)
	}
	fmt.Fprintf(log, "slipway: using the local cluster %q: kubeconfig %s, registry %s\n", inst.Name(), c.Kubeconfig, c.RegistryHost)
	return c, nil
}
