package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/slipway-dev/slipway/internal/bazel"
	"github.com/slipway-dev/slipway/internal/deploy"
	"github.com/slipway-dev/slipway/internal/dev"
	"github.com/slipway-dev/slipway/internal/devui"
	"github.com/slipway-dev/slipway/internal/kube"
	"github.com/slipway-dev/slipway/internal/portforward"
	"github.com/slipway-dev/slipway/internal/watch"
)

type devOptions struct {
	clusterFlags
	workspace      string
	targets        []string
	buildFlags     []string
	namespace      string
	debounce       time.Duration
	maxWait        time.Duration
	forceConflicts bool
	noForwards     bool
	noLiveUpdate   bool
	readyTimeout   time.Duration
	json           bool
	bazel          string
	ui             uiOptions
	out, log       io.Writer
}

func newDevCmd() *cobra.Command {
	o := &devOptions{}
	cmd := &cobra.Command{
		Use:   "dev --target //pkg:deploy ...",
		Short: "Watch the workspace and keep the cluster in step with it",
		Long: `dev deploys the given manifests targets, then watches the files they are built
from. On each change it rebuilds only the affected targets (one Bazel invocation),
pushes only images whose digest changed, applies only objects whose rendered content
changed, and waits for them to be ready. A build error keeps the last good deployment.

With no kubeconfig context configured (or with --local), it uses slipway's local
cluster and registry, starting them if need be (slipway cluster up). Only local
contexts are used unless allowed with --allow-context: a current context that is not
allowed is refused before any request, and an allowed one that does not answer is an
error; neither is replaced by another cluster. Ctrl-C stops it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.out, o.log = cmd.OutOrStdout(), cmd.ErrOrStderr()
			return o.run(cmd.Context())
		},
	}
	o.clusterFlags.bind(cmd)
	f := cmd.Flags()
	f.StringVar(&o.workspace, "workspace", os.Getenv("BUILD_WORKSPACE_DIRECTORY"), "the Bazel workspace (default $BUILD_WORKSPACE_DIRECTORY, set by bazel run)")
	f.StringSliceVar(&o.targets, "target", nil, "a manifests target, or a pattern such as //services/... matching them, to keep deployed (repeatable)")
	f.StringArrayVar(&o.buildFlags, "build-flag", nil, "a flag for bazel build and cquery alike (repeatable)")
	f.StringVar(&o.namespace, "namespace", "", "namespace for objects without one (default: each target's namespace attribute)")
	f.DurationVar(&o.debounce, "debounce", 100*time.Millisecond, "how long file events must be quiet before a cycle pushes or applies (its build starts after a tenth of it)")
	f.BoolVar(&o.forceConflicts, "force-conflicts", false, "take over fields other field managers own (otherwise a conflict fails that target, keeping its last deployment)")
	f.DurationVar(&o.maxWait, "max-wait", 2*time.Second, "the longest a stream of newer changes may hold a change back before a cycle starts anyway")
	f.BoolVar(&o.noForwards, "no-port-forwards", false, "open none of the manifests targets' port_forwards")
	f.BoolVar(&o.noLiveUpdate, "no-live-update", false, "deploy every change as a full image, also for images with live_update")
	f.DurationVar(&o.readyTimeout, "ready-timeout", 2*time.Minute, "how long to wait for changed objects to become ready")
	f.BoolVar(&o.json, "json", false, "print JSON lines (one per cycle, and one when ready) instead of the terminal view")
	f.StringVar(&o.bazel, "bazel", "bazel", "the bazel command")
	o.ui.bind(cmd)
	return cmd
}

func (o *devOptions) run(ctx context.Context) error {
	if len(o.targets) == 0 {
		return fmt.Errorf("no --target given: name the manifests targets to deploy, or patterns matching them (the dev rule does)")
	}
	if o.workspace == "" {
		wd, err := os.Getwd()
		if err != nil {
			return err
		}
		o.workspace = wd
	}
	claim, err := devui.ClaimWorkspace(o.workspace)
	if err != nil {
		return err
	}
	defer claim.Release()
	var reporter dev.Reporter = &dev.TextReporter{Out: o.out}
	logs := o.out
	if o.json {
		reporter, logs = &dev.JSONReporter{Out: o.out}, o.log
	}
	ui, err := o.startUI(ctx, claim)
	if err != nil {
		return err
	}
	defer ui.stop()
	if ui.store != nil {
		reporter = dev.Reporters{reporter, ui.store}
	}

	clients, regs, err := o.connect(ctx, o.log)
	if err != nil {
		return err
	}
	fmt.Fprintf(o.log, "slipway dev: deploying %s to context %s (registry %s)\n", strings.Join(o.targets, " "), clients.Context, regs.Push)

	cli := &bazel.CLI{Bazel: o.bazel, Workspace: o.workspace, Progress: prefixed(o.log, "bazel: ")}
	execRoot, err := cli.ExecRoot(ctx)
	if err != nil {
		return err
	}
	w, err := watch.New(o.workspace)
	if err != nil {
		return err
	}
	defer w.Close()
	fmt.Fprintf(o.log, "slipway dev: watching %d directories under %s\n", w.Dirs(), o.workspace)

	logLines := prefixed(logs, "")
	problems := make(chan error, 16)
	vanished := make(chan kube.Vanished, 64)
	k8s := &dev.KubeCluster{
		Deployer: &deploy.Deployer{
			Clients:        clients,
			Publisher:      o.newPublisher(printPushProgress(o.log)),
			ForceConflicts: o.forceConflicts,
		},
		ReadyTimeout: o.readyTimeout,
		Logs:         ui.logs(logLines),
		Tracker:      kube.NewTracker(ctx, clients, vanished, problems),
		Problems:     problems,
	}
	defer k8s.Stop()
	loop := &dev.Loop{
		Workspace:  &dev.BazelWorkspace{Bazel: cli, Patterns: o.targets, Flags: o.buildFlags},
		Loader:     &dev.OutputLoader{ExecRoot: execRoot, Settings: deploy.Settings{Namespace: o.namespace, Registries: regs}, Live: !o.noLiveUpdate},
		Cluster:    k8s,
		Files:      w,
		Reporter:   reporter,
		Disabled:   ui.disabled,
		Debounce:   o.debounce,
		MaxWait:    o.maxWait,
		MinBackoff: time.Second,
		MaxBackoff: 30 * time.Second,
	}
	stale, closeForwards := o.attach(ctx, loop, clients, problems)
	defer closeForwards()
	events := make(chan watch.Event, 1024)
	go w.Run(ctx, events, problems)
	go ui.watchSettings(ctx, problems)
	return loop.Run(ctx, dev.Inputs{Files: events, Problems: problems, Vanished: vanished, Actions: ui.actions, LiveStale: stale})
}

// attach gives the loop its port-forwards (unless --no-port-forwards) and its
// live-update syncer (unless --no-live-update), both through the connection's
// guarded clients. It returns the stale-pod input and what closes the forwards.
func (o *devOptions) attach(ctx context.Context, loop *dev.Loop, clients *kube.Clients, problems chan<- error) (<-chan string, func()) {
	closeForwards := func() {}
	if !o.noForwards {
		forwards := newForwards(clients, problems)
		closeForwards = forwards.Close
		loop.Forwards = forwards
	}
	stale := make(chan string, 16)
	if !o.noLiveUpdate {
		loop.Live = &dev.KubeSyncer{Clients: clients, Stale: stale, Problems: problems, Ctx: ctx}
	}
	return stale, closeForwards
}

// newForwards keeps port-forwards through the connection's API server; failures
// of single connections are the loop's problems (dropped when it is busy).
func newForwards(clients *kube.Clients, problems chan<- error) *portforward.Manager {
	tunnel := &portforward.SPDYTunnel{Config: clients.Config, Client: clients.Typed.CoreV1().RESTClient()}
	return &portforward.Manager{
		Endpoints: portforward.KubeEndpoints{Client: clients.Typed},
		Tunnel:    tunnel,
		Problem: func(err error) {
			select {
			case problems <- err:
			default:
			}
		},
	}
}
