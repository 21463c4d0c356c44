package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/slipway-dev/slipway/internal/connect"
	"github.com/slipway-dev/slipway/internal/deploy"
	"github.com/slipway-dev/slipway/internal/kube"
	"github.com/slipway-dev/slipway/internal/publish"
)

// connectFlags pick the cluster, for every command that talks to one. They feed
// internal/connect, the one guarded way to a cluster.
type connectFlags struct {
	kubeconfig    string
	context       string
	allowContexts []string
	local         bool
}

func (f *connectFlags) bind(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig file (default $KUBECONFIG or ~/.kube/config)")
	fl.StringVar(&f.context, "context", "", "kubeconfig context (default: the current one; with none, slipway's local cluster, started if need be)")
	fl.StringSliceVar(&f.allowContexts, "allow-context", nil, "allow this non-local context (repeatable); only local contexts are used otherwise")
	fl.BoolVar(&f.local, "local", false, "use slipway's local cluster (instance $"+connect.InstanceEnv+", default \"default\"; started if need be), whatever the kubeconfig says")
}

// request is the connect.Request for these flags; targetsAllow are the allowed
// contexts of the command's targets.
func (f *connectFlags) request(log io.Writer, readOnly bool, targetsAllow ...string) connect.Request {
	return connect.Request{
		Kubeconfig: f.kubeconfig, Context: f.context, Local: f.local,
		Allowed:  append(append([]string(nil), f.allowContexts...), targetsAllow...),
		ReadOnly: readOnly, Log: log,
	}
}

// pushFlags tune pushes: when a stalled upload is abandoned, how often to try.
type pushFlags struct {
	stallTimeout time.Duration
	attempts     int
}

func (f *pushFlags) bind(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.DurationVar(&f.stallTimeout, "stall-timeout", 30*time.Second, "abort a push attempt when no byte moved to or from the registry for this long")
	fl.IntVar(&f.attempts, "push-attempts", 3, "tries of a push that fails transiently (a stall, a dropped connection, a 5xx), with backoff")
}

// newPublisher is a registry client with these settings and the shared mount cache;
// progress (may be nil) receives each push's progress.
func (f *pushFlags) newPublisher(progress func(publish.PushProgress)) *publish.Remote {
	p := publish.NewRemote(publish.LoadMountCache(publish.DefaultMountCachePath()))
	p.StallTimeout, p.Attempts, p.Progress = f.stallTimeout, f.attempts, progress
	return p
}

// printPushProgress prints pushes' progress and retries as lines on log.
func printPushProgress(log io.Writer) func(publish.PushProgress) {
	log = prefixed(log, "")
	return func(p publish.PushProgress) {
		switch {
		case p.Retry != nil:
			fmt.Fprintf(log, "push %s: attempt %d failed: %v; trying again in %s\n", p.Repository, p.Attempt, p.Retry, p.RetryIn.Round(time.Millisecond))
		case !p.Finished && p.Sent > 0:
			fmt.Fprintf(log, "push %s: %s of %s\n", p.Repository, humanBytes(p.Done), humanBytes(p.Total))
		}
	}
}

// clusterFlags choose the cluster dev, ci and affected --deploy deploy to (see
// internal/connect), the registry, and how pushes behave.
type clusterFlags struct {
	connectFlags
	pushFlags
	registry string
}

func (f *clusterFlags) bind(cmd *cobra.Command) {
	f.connectFlags.bind(cmd)
	f.pushFlags.bind(cmd)
	cmd.Flags().StringVar(&f.registry, "registry", os.Getenv("SLIPWAY_REGISTRY"), "registry to push to (default: the cluster's local-registry-hosting ConfigMap)")
}

// resolve decides the cluster from the kubeconfig alone and checks the guard: no
// request, nothing started. Commands call it before any long work.
func (f *clusterFlags) resolve(log io.Writer) (*connect.Destination, error) {
	return connect.Resolve(f.request(log, false))
}

// open connects to a resolved destination and finds its registry.
func (f *clusterFlags) open(ctx context.Context, dest *connect.Destination) (*kube.Clients, deploy.Registries, error) {
	s, err := dest.Open(ctx)
	if err != nil {
		return nil, deploy.Registries{}, err
	}
	regs, err := registriesFor(ctx, f.registry, s.Clients)
	return s.Clients, regs, err
}

// connect is resolve, then open.
func (f *clusterFlags) connect(ctx context.Context, log io.Writer) (*kube.Clients, deploy.Registries, error) {
	dest, err := f.resolve(log)
	if err != nil {
		return nil, deploy.Registries{}, err
	}
	return f.open(ctx, dest)
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
