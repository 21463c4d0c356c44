package dev

import (
	"time"

	"github.com/slipway-dev/slipway/internal/kube"
	"github.com/slipway-dev/slipway/internal/liveupdate"
)

// Outcome of a cycle.
type Outcome string

const (
	OK          Outcome = "ok"
	NoOp        Outcome = "no-op"        // the changed files feed no deployable
	IndexFailed Outcome = "index-failed" // the graph query failed (a broken BUILD file)
	BuildFailed Outcome = "build-failed" // some targets failed to build; the rest deployed
	DeployFail  Outcome = "deploy-failed"
	NotReady    Outcome = "not-ready"
	Retrying    Outcome = "retrying" // the cluster or registry was unreachable
	Canceled    Outcome = "canceled" // a newer change took over
)

// ImageReport is one pushed image.
type ImageReport struct {
	Label         string `json:"label"`
	Digest        string `json:"digest"`
	BytesUploaded int64  `json:"bytesUploaded"`
	// AlreadyPresent: the registry had it; nothing was sent.
	AlreadyPresent bool `json:"alreadyPresent,omitempty"`
}

// ObjectReport is one applied object.
type ObjectReport struct {
	Target    string `json:"target,omitempty"`
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
	Action    string `json:"action"`
	// Change holds the object as it was and as applied (server-side), for views
	// that show the applied YAML and its diff. Not serialized.
	Change *kube.Change `json:"-"`
}

// Cycle reports one cycle of the loop.
type Cycle struct {
	Type     string   `json:"type"` // "cycle"
	N        int      `json:"n"`
	Files    []string `json:"files"`
	Affected []string `json:"affected"`
	// Reasons says, for each affected deployable, what put it in the cycle: the
	// changed files among its inputs, or "graph" (BUILD or Starlark files, the
	// first cycle), "vanished" (objects deleted behind the loop's back),
	// "trigger" (asked for), "enabled".
	Reasons map[string][]string `json:"reasons,omitempty"`
	Images  []ImageReport       `json:"images"`
	Applied []ObjectReport      `json:"applied"`
	Outcome Outcome             `json:"outcome"`
	Errors  []string            `json:"errors,omitempty"`
	// PhaseMillis is the time spent in each phase.
	PhaseMillis map[State]int64 `json:"phaseMillis"`
	TotalMillis int64           `json:"totalMillis"`
	// Deploys say how each deployable the cycle deployed was deployed: a full
	// deploy, or a live update (docs/live-update.md), and on top of which digest.
	Deploys     []DeployReport `json:"deploys,omitempty"`
	Deployables []Deployable   `json:"deployables"`
}

// Deploy modes.
const (
	ModeFull = "full" // image built, pushed, objects applied
	ModeLive = "live" // binary synced into the running containers; pods and image stay
)

// DeployReport is how one deployable was deployed by a cycle.
type DeployReport struct {
	Target string `json:"target"`
	Mode   string `json:"mode"`
	// Digest is the image the pods run (of the deployable's first image): for
	// a live update, the one the binaries were synced on top of.
	Digest string `json:"digest,omitempty"`
	// Why says, for a full deploy of a deployable with live update, why it
	// was not live.
	Why string `json:"why,omitempty"`
	// Binaries are the synced binaries' sha256, by label; Pods where they went.
	Binaries map[string]string   `json:"binaries,omitempty"`
	Pods     []liveupdate.Synced `json:"pods,omitempty"`
	// Error is why a live sync failed: the next cycle deploys the full image.
	Error string `json:"error,omitempty"`
}

// States of a deployable.
const (
	StatePending   = "pending"      // not built yet
	StateBuilding  = "building"     // a cycle builds it
	StateDeploying = "deploying"    // a cycle pushes, applies and waits for it
	StateReady     = "ready"        // deployed, every object ready
	StateNotReady  = "not-ready"    // deployed, some object failed or is not ready in time
	StateFailed    = "failed"       // its last build or deploy failed; the last good deployment keeps running
	StateLive      = "live-updated" // its image's binary was synced into the running pods (dev only)
	StateDisabled  = "disabled"     // left out of cycles and deleted from the cluster until enabled
)

// Deployable is the state of one deployable after a cycle.
type Deployable struct {
	Target string `json:"target"`
	// State is one of the State* constants.
	State       string    `json:"state"`
	Digest      string    `json:"digest,omitempty"` // of its first image
	LastCycleMS int64     `json:"lastCycleMillis,omitempty"`
	Updated     time.Time `json:"updated"`
	Message     string    `json:"message,omitempty"`
	// Forwards are its open port-forwards: "http://127.0.0.1:8081 -> deployment/frontend:8080".
	Forwards []string `json:"forwards,omitempty"`
	// LiveBinaries, while it is live-updated, are the synced binaries' sha256
	// by label; Digest is then the image they run on top of.
	LiveBinaries map[string]string `json:"liveBinaries,omitempty"`
}

// Reporter shows the loop to people or tools.
type Reporter interface {
	// State is called on every state change, with a detail such as what is built.
	State(s State, detail string)
	// CycleDone is called after every cycle.
	CycleDone(c *Cycle)
	// Applied is called when a cycle has applied its changes, before it waits for
	// them to be ready: the moment a change is in the cluster.
	Applied(cycle int, objects []ObjectReport, sinceStart time.Duration)
	// Ready is called once, when the first full deploy is up.
	Ready(c *Cycle)
	// Problem reports something outside a cycle (a watcher error, say).
	Problem(err error)
	// Deployable is called whenever a deployable's state changes.
	Deployable(d Deployable)
}

func objectReport(target string, c kube.Change) ObjectReport {
	return ObjectReport{Target: target, Kind: c.Ref.Kind, Namespace: c.Ref.Namespace, Name: c.Ref.Name, Action: string(c.Action), Change: &c}
}
