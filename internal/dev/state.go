package dev

import (
	"context"
	"time"

	"github.com/slipway-dev/slipway/internal/bazel"
	"github.com/slipway-dev/slipway/internal/deploy"
	"github.com/slipway-dev/slipway/internal/kube"
	"github.com/slipway-dev/slipway/internal/watch"
)

// State is where the loop is. A cycle goes index (when the graph may have
// changed) → build → push → apply → wait, and back to idle.
type State string

const (
	Idle     State = "idle"
	Debounce State = "debounce"
	Indexing State = "index"
	Building State = "build"
	Pushing  State = "push"
	Applying State = "apply"
	Waiting  State = "ready"
	// Backoff: the cluster or registry was unreachable; the cycle will be retried.
	Backoff State = "backoff"
)

// cancellable reports whether a newer change may cancel a cycle in this state:
// interrupting an index or a build loses nothing, a push or an apply half done would.
func (s State) cancellable() bool { return s == Indexing || s == Building }

// Clock is the loop's time; tests use a fake one.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Workspace is what the loop needs from Bazel.
type Workspace interface {
	// Index queries the graph of the deployables.
	Index(ctx context.Context) (*Index, error)
	// Build builds the deployables' deploy outputs.
	Build(ctx context.Context, targets []string) (*bazel.BuildResult, error)
}

// Cluster is what the loop needs to deploy.
type Cluster interface {
	// Resolve loads a built target for this cluster.
	Resolve(target string, built *bazel.TargetResult) (*deploy.Resolved, error)
	Push(ctx context.Context, images []deploy.Image) ([]deploy.PushResult, error)
	// Apply applies only (objects whose keys are in only; all when only is nil),
	// prunes, and records the inventory. It pushes nothing and does not wait.
	Apply(ctx context.Context, r *deploy.Resolved, only map[string]bool) (*deploy.Report, error)
	// Delete removes what a target deployed (its inventory): the loop calls it for
	// deployables that are gone from the workspace.
	Delete(ctx context.Context, r *deploy.Resolved) (*deploy.Report, error)
	WaitReady(ctx context.Context, refs []kube.Ref) ([]kube.Readiness, error)
	// Follow streams the logs of the objects' pods, replacing earlier streams of
	// the same objects.
	Follow(ctx context.Context, target string, refs []kube.Ref)
}

// Files settles raw file events into real content changes.
type Files interface {
	Settle(paths []string) []watch.Change
	Snapshot(paths []string) watch.Snapshot
	Prime(s watch.Snapshot, skip func(path string) bool)
}
