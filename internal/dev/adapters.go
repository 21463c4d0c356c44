package dev

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/slipway-dev/slipway/internal/bazel"
	"github.com/slipway-dev/slipway/internal/deploy"
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
	expr := fmt.Sprintf(`filter("^//", deps(kind("%s", set(%s))))`, deploy.ManifestsRule, strings.Join(w.Patterns, " "))
	g, err := w.Bazel.CQuery(ctx, expr, w.Flags)
	if err != nil {
		return nil, err
	}
	var deployables []string
	for label, kind := range g.Kinds {
		if kind == deploy.ManifestsRule {
			deployables = append(deployables, label)
		}
	}
	if len(deployables) == 0 {
		return nil, fmt.Errorf("no manifests targets in %s", strings.Join(w.Patterns, " "))
	}
	return NewIndex(g, deployables), nil
}

// Build builds the targets' deploy outputs (rendered manifests, inventories, images).
func (w *BazelWorkspace) Build(ctx context.Context, targets []string) (*bazel.BuildResult, error) {
	return w.Bazel.Build(ctx, targets, append(append([]string(nil), w.Flags...), "--output_groups=deploy"))
}

// KubeCluster deploys to a Kubernetes cluster through the deploy package, as the
// .apply run targets do.
type KubeCluster struct {
	ExecRoot     string
	Settings     deploy.Settings
	Deployer     *deploy.Deployer
	ReadyTimeout time.Duration
	// Logs receives the followed pods' logs; nil follows none.
	Logs io.Writer

	mu      sync.Mutex
	follows map[string]context.CancelFunc
}

var _ Cluster = (*KubeCluster)(nil)

// Resolve loads a built target's deploy spec from its outputs.
func (k *KubeCluster) Resolve(target string, built *bazel.TargetResult) (*deploy.Resolved, error) {
	var specPath string
	for _, f := range built.OutputGroups["deploy"] {
		if strings.HasSuffix(f, ".deploy.json") {
			specPath = f
		}
	}
	if specPath == "" {
		return nil, fmt.Errorf("%s built no deploy spec: is it a manifests target?", target)
	}
	spec, err := deploy.ReadSpec(specPath)
	if err != nil {
		return nil, err
	}
	t, err := deploy.Load(spec, deploy.ExecRoot(k.ExecRoot))
	if err != nil {
		return nil, err
	}
	return deploy.Resolve(t, k.Settings)
}

func (k *KubeCluster) Push(ctx context.Context, images []deploy.Image) ([]deploy.PushResult, error) {
	return k.Deployer.PushImages(ctx, images)
}

func (k *KubeCluster) Apply(ctx context.Context, r *deploy.Resolved, only map[string]bool) (*deploy.Report, error) {
	return k.Deployer.Apply(ctx, r, deploy.ApplyOptions{SkipPush: true, Only: only})
}

func (k *KubeCluster) Delete(ctx context.Context, r *deploy.Resolved) (*deploy.Report, error) {
	return k.Deployer.Delete(ctx, r)
}

func (k *KubeCluster) WaitReady(ctx context.Context, refs []kube.Ref) ([]kube.Readiness, error) {
	return k.Deployer.Clients.WaitReady(ctx, refs, k.ReadyTimeout, 250*time.Millisecond, nil)
}

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
			go func() { _ = k.Deployer.Clients.FollowLogs(fctx, ref, since, k.Logs) }()
		}
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
