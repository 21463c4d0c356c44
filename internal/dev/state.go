package dev

import (
	"context"
	"time"

	"github.com/slipway-dev/slipway/internal/bazel"
	"github.com/slipway-dev/slipway/internal/deploy"
	"github.com/slipway-dev/slipway/internal/kube"
	"github.com/slipway-dev/slipway/internal/liveupdate"
	"github.com/slipway-dev/slipway/internal/portforward"
	"github.com/slipway-dev/slipway/internal/watch"
)

// State is what the loop is doing, as people see it. A cycle goes index (when the
// graph may have changed) → build → push → apply → wait, and back to idle.
type State string

const (
	Idle     State = "idle"
	Debounce State = "debounce"
	Indexing State = "index"
	Building State = "build"
	Pushing  State = "push"
	Applying State = "apply"
	// Syncing: binaries go into running containers (live update).
	Syncing State = "sync"
	Waiting State = "ready"
	// Backoff: the cluster or registry was unreachable; the cycle will be retried.
	Backoff State = "backoff"
)

// cancellable reports whether a newer change may cancel a cycle in this phase:
// interrupting an index, a build or a push loses nothing (blobs are content
// addressed), nor does a wait for readiness (the next cycle looks again); an
// apply half done would leave the cluster between two versions.
func (s State) cancellable() bool {
	return s == Indexing || s == Building || s == Pushing || s == Waiting
}

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

// Loader turns a built deployable into what is deployed: its objects with final
// namespaces and image references. It reads Bazel's outputs and sends no request.
type Loader interface {
	Load(target string, built *bazel.TargetResult) (*deploy.Resolved, error)
}

// Cluster is what the loop needs to deploy.
type Cluster interface {
	// Push pushes images the registry lacks. Results come back for the images that
	// were pushed, also when err is not nil.
	Push(ctx context.Context, images []deploy.Image) ([]deploy.PushResult, error)
	// Apply compares every object of r with the cluster (server-side dry-run),
	// writes those that differ, prunes objects r no longer renders and records the
	// inventory. It pushes nothing and does not wait.
	Apply(ctx context.Context, r *deploy.Resolved) (*deploy.Report, error)
	// Delete removes what a target deployed (its inventory): the loop calls it for
	// deployables that are gone from the workspace.
	Delete(ctx context.Context, r *deploy.Resolved) (*deploy.Report, error)
	WaitReady(ctx context.Context, refs []kube.Ref) ([]kube.Readiness, error)
	// Follow streams the logs of the objects' pods, replacing the target's earlier
	// streams. Problems go to the loop's problem channel.
	Follow(ctx context.Context, target string, refs []kube.Ref)
	// Track watches a target's objects (nil refs: stop watching it); each one
	// deleted by someone else is sent on the loop's Vanished input.
	Track(target string, refs []kube.Ref)
	// IsTransient tells a failure worth retrying (the cluster or registry
	// unreachable) from one a retry cannot fix (an invalid object, a refusal).
	IsTransient(err error) bool
}

// Forwarder keeps deployables' port-forwards open. The loop sets a target's
// forwards after each deploy of it and clears them when it is deleted; pods
// behind a forward change without the loop's help.
type Forwarder interface {
	Set(target string, fs []portforward.Forward) []portforward.Status
}

// Files settles raw file events into real content changes.
type Files interface {
	// Settle returns which of paths changed content since the last Settle or
	// Prime, and records their content now.
	Settle(paths []string) []watch.Change
	// Snapshot hashes files now, changing nothing.
	Snapshot(paths []string) watch.Snapshot
	// Prime records a snapshot, except the paths skip names.
	Prime(s watch.Snapshot, skip func(path string) bool)
}

// ActionKind is what a person or tool asks of the running loop.
type ActionKind string

const (
	// Trigger rebuilds and redeploys a deployable now, whatever changed.
	Trigger ActionKind = "trigger"
	// Disable deletes a deployable's objects and leaves it out of cycles.
	Disable ActionKind = "disable"
	// Enable deploys a disabled deployable again.
	Enable ActionKind = "enable"
)

// Action is a request to the loop (from the UI or its API).
type Action struct {
	Kind   ActionKind
	Target string
	// Reply, when set, receives nil once the loop took the action in, or why it
	// refused (an unknown target, say). It must have room for one value.
	Reply chan<- error
}

// Inputs are what the loop reacts to besides its own timers and cycles.
type Inputs struct {
	// Files are raw file events from the watcher.
	Files <-chan watch.Event
	// Problems are errors from outside any cycle (the watcher, log streams).
	Problems <-chan error
	// Vanished reports deployed objects someone deleted behind the loop's back
	// (nil: none); their owners are redeployed.
	Vanished <-chan kube.Vanished
	// Actions are requests from the UI or its API (nil: none).
	Actions <-chan Action
	// LiveStale names live-updated targets with a pod that runs none of the
	// synced binaries (a replaced pod): they are synced again (nil: none).
	LiveStale <-chan string
}

// Syncer syncs binaries into running containers for live update
// (liveupdate.Push), through the same guarded clients as everything else.
type Syncer interface {
	Push(ctx context.Context, s liveupdate.Sync, file, sum string) ([]liveupdate.Synced, error)
	// Reset makes the pods run the image's own binary again.
	Reset(ctx context.Context, s liveupdate.Sync) ([]liveupdate.Synced, error)
	// Watch watches target's live-update pods (nil syncs: stop) and sends the
	// target on the loop's LiveStale input when a running pod is none of
	// synced (a replacement, which runs the image's binary).
	Watch(target string, syncs []liveupdate.Sync, synced []liveupdate.Synced)
}
