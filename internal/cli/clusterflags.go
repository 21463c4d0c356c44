package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/discovery"

	"github.com/slipway-dev/slipway/internal/cluster"
	"github.com/slipway-dev/slipway/internal/deploy"
	"github.com/slipway-dev/slipway/internal/kube"
)

// clusterFlags choose the cluster dev and ci deploy to: an explicit --context; else
// the kubeconfig's current context when it answers; else the local cluster, started
// if need be. Writing to it must be allowed: local contexts are, others need
// --allow-context.
type clusterFlags struct {
	target        kube.Target
	allowContexts []string
	local         bool
	registry      string
}

func (f *clusterFlags) bind(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.target.Kubeconfig, "kubeconfig", "", "kubeconfig file (default $KUBECONFIG or ~/.kube/config)")
	fl.StringVar(&f.target.Context, "context", "", "kubeconfig context (default: the current one, else the local cluster)")
	fl.StringSliceVar(&f.allowContexts, "allow-context", nil, "allow writing to this non-local context (repeatable)")
	fl.BoolVar(&f.local, "local", false, "always use the local cluster (slipway cluster up), whatever the kubeconfig says")
	fl.StringVar(&f.registry, "registry", os.Getenv("SLIPWAY_REGISTRY"), "registry to push to (default: the cluster's local-registry-hosting ConfigMap)")
}

// connect resolves the cluster and checks the guard, before any write.
func (f *clusterFlags) connect(ctx context.Context, log io.Writer) (*kube.Clients, deploy.Registries, error) {
	var conn *kube.Connection
	if !f.local {
		c, err := kube.Connect(f.target)
		switch {
		case err == nil && (f.target.Context != "" || reachable(ctx, c)):
			conn = c
		case f.target.Context != "":
			return nil, deploy.Registries{}, err
		case err == nil:
			fmt.Fprintf(log, "slipway: context %s does not answer; using the local cluster instead\n", c.Context)
		default:
			fmt.Fprintf(log, "slipway: no kubeconfig context (%v); using the local cluster\n", err)
		}
	}
	if conn == nil {
		fmt.Fprintln(log, "slipway: starting the local cluster and registry (slipway cluster up; the first start builds Kubernetes, ~5 min)")
		cfg := cluster.DefaultConfig()
		cfg.Log = prefixed(log, "cluster: ")
		cl, err := cluster.Up(ctx, cfg)
		if err != nil {
			return nil, deploy.Registries{}, fmt.Errorf("starting the local cluster: %w", err)
		}
		if conn, err = kube.Connect(kube.Target{Kubeconfig: cl.Kubeconfig, Context: cl.Context}); err != nil {
			return nil, deploy.Registries{}, err
		}
		fmt.Fprintf(log, "slipway: using the local cluster (%s)\n", cl.ShellEnv())
	}
	if err := (kube.Guard{Allowed: f.allowContexts}).Check(conn.Context); err != nil {
		return nil, deploy.Registries{}, fmt.Errorf("%w; or use --local for the local cluster", err)
	}
	clients, err := kube.NewClients(conn)
	if err != nil {
		return nil, deploy.Registries{}, err
	}
	regs, err := registriesFor(ctx, f.registry, clients)
	return clients, regs, err
}

// registriesFor is an explicit registry, else the cluster's KEP-1755 one.
func registriesFor(ctx context.Context, registry string, clients *kube.Clients) (deploy.Registries, error) {
	if registry != "" {
		return deploy.Registries{Push: registry, Pull: registry, Override: true}, nil
	}
	reg, err := kube.DiscoverRegistry(ctx, clients.Typed)
	if err != nil {
		return deploy.Registries{}, fmt.Errorf("context %s: %w", clients.Context, err)
	}
	return deploy.Registries{Push: reg.Host, Pull: reg.PullHost()}, nil
}

func reachable(ctx context.Context, c *kube.Connection) bool {
	cfg := *c.Config
	cfg.Timeout = 3 * time.Second
	d, err := discovery.NewDiscoveryClientForConfig(&cfg)
	if err != nil {
		return false
	}
	_, err = d.ServerVersion()
	return err == nil && ctx.Err() == nil
}
