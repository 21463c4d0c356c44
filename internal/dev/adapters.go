package dev

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/slipway-dev/slipway/internal/bazel"
	"github.com/slipway-dev/slipway/internal/deploy"
	"github.com/slipway-dev/slipway/internal/deployable"
	"github.com/slipway-dev/slipway/internal/kube"
)

// BazelWorkspace indexes and builds deployables with the Bazel CLI, with the same
// flags for queries and builds (so the analysis cache survives between them).
type BazelWorkspace struct {
	Bazel bazel.Client
	// Patterns name the deployables: manifests targets, or patterns such as
	// //services/... that match them (new ones appear when the index is rebuilt).
	Patterns []string
	Flags    []string
}

var _ Workspace = (*BazelWorkspace)(nil)

// Index queries the main-repository dependencies of the manifests targets the
// patterns match, in one cquery.
func (w *BazelWorkspace) Index(ctx context.Context) (*Index, error) {
	g, err := w.Bazel.CQuery(ctx, deployable.DepsExpr(w.Patterns), w.Flags)
	if err != nil {
		return nil, err
	}
	labels, err := deployable.Labels(g, w.Patterns)
	if err != nil {
		return nil, err
	}
	return NewIndex(g, labels), nil
}

// Build builds the targets' deploy outputs (rendered manifests, inventories,
// images), and live-update images' binaries alone.
func (w *BazelWorkspace) Build(ctx context.Context, targets []string) (*bazel.BuildResult, error) {
	return w.Bazel.Build(ctx, targets, deployable.DevBuildFlags(w.Flags))
}

// OutputLoader loads built deployables from Bazel's execution root, as ci does.
type OutputLoader struct {
	ExecRoot string
	Settings deploy.Settings
	// Live rewrites the pod templates of live-update images to run under the
	// agent, and adds the agent's image (docs/live-update.md).
	Live bool
}

var _ Loader = (*OutputLoader)(nil)

func (o *OutputLoader) Load(target string, built *bazel.TargetResult) (*deploy.Resolved, error) {
	b, err := deployable.Load(target, built, deploy.ExecRoot(o.ExecRoot))
	if err != nil {
		return nil, err
	}
	if !o.Live || b.Spec.LiveAgent == nil {
		return deploy.Resolve(b.Target, o.Settings)
	}
	return o.loadLive(b)
}

// KubeCluster deploys to a Kubernetes cluster through the deploy package, as the
// .apply run targets do.
type KubeCluster struct {
	Deployer     *deploy.Deployer
	ReadyTimeout time.Duration
	// Logs returns where a target's pod logs go, as "[pod/container] text"
	// lines; nil follows none.
	Logs func(target string) io.Writer
	// Tracker watches deployed objects for deletions (nil: none).
	Tracker *kube.Tracker
	// Problems receives log streaming failures.
	Problems chan<- error

	mu      sync.Mutex
	follows map[string]context.CancelFunc
}

var _ Cluster = (*KubeCluster)(nil)

func (k *KubeCluster) Push(ctx context.Context, images []deploy.Image) ([]deploy.PushResult, error) {
	return k.Deployer.PushImages(ctx, images)
}

func (k *KubeCluster) Apply(ctx context.Context, r *deploy.Resolved) (*deploy.Report, error) {
	return k.Deployer.Apply(ctx, r)
}

func (k *KubeCluster) Delete(ctx context.Context, r *deploy.Resolved) (*deploy.Report, error) {
	return k.Deployer.Delete(ctx, r)
}

func (k *KubeCluster) WaitReady(ctx context.Context, refs []kube.Ref) ([]kube.Readiness, error) {
	return k.Deployer.Clients.WaitReady(ctx, refs, k.ReadyTimeout, 250*time.Millisecond, nil)
}

func (k *KubeCluster) Track(target string, refs []kube.Ref) {
	if k.Tracker != nil {
		k.Tracker.Track(target, refs)
	}
}

// IsTransient tells the cluster or registry being unreachable (worth retrying)
// from failures a retry cannot fix: kube.IsTransient decides.
func (k *KubeCluster) IsTransient(err error) bool { return kube.IsTransient(err) }

// Follow streams the logs of the objects' pods, stopping the target's earlier streams.
func (k *KubeCluster) Follow(ctx context.Context, target string, refs []kube.Ref) {
	if k.Logs == nil {
		return
	}
	k.mu.Lock()
	if k.follows == nil {
		k.follows = map[string]context.CancelFunc{}
	}
	if cancel := k.follows[target]; cancel != nil {
		cancel()
	}
	// The streams outlive the cycle: they belong to the loop's lifetime.
	fctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	k.follows[target] = cancel
	k.mu.Unlock()
	since := time.Now().Add(-time.Minute)
	for _, ref := range refs {
		switch ref.Kind {
		case "Deployment", "StatefulSet", "DaemonSet", "Job", "Pod":
			go func() {
				if err := k.Deployer.Clients.FollowLogs(fctx, ref, since, k.Logs(target)); err != nil && fctx.Err() == nil {
					k.problem(fmt.Errorf("%s: logs of %s: %w", target, ref, err))
				}
			}()
		}
	}
}

func (k *KubeCluster) problem(err error) {
	if k.Problems == nil {
		return
	}
	select {
	case k.Problems <- err:
	default:
	}
}

// Stop ends every log stream.
func (k *KubeCluster) Stop() {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, cancel := range k.follows {
		cancel()
	}
}
