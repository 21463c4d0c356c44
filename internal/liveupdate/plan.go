package liveupdate

import (
	"fmt"
	"slices"
	"sort"
)

// PlanInput is what the planner knows of one deployable a cycle affects.
type PlanInput struct {
	// Files are the changed files among its inputs; Others the other reasons it
	// is in the cycle ("graph", "vanished", "trigger", ...; see Resync).
	Files, Others []string
	// Running: its last applied deployment runs live-update images under the
	// agent (pods rewritten): a binary can be synced into them.
	Running bool
	// Binaries maps each live binary's label to its source files; Rest are
	// its source files reached other than through a live binary (manifests,
	// other images, the images' other layers).
	Binaries map[string]map[string]bool
	Rest     map[string]bool
}

// Resync is the reason the loop gives when a live-updated pod was replaced (or
// a sync must be repeated): the binaries are synced again, nothing else changed.
const Resync = "live-resync"

// Plan is the planner's decision for one deployable.
type Plan struct {
	// Live: sync Binaries (labels, sorted) into its running containers.
	// Otherwise deploy the full image, for Why.
	Live     bool
	Binaries []string
	Why      string
}

// Decide says whether a cycle may sync binaries in place of a full deploy:
// only when every reason is a changed file that feeds nothing but live
// binaries, and the deployment runs under the agent. It reads nothing else.
func Decide(in PlanInput) Plan {
	if !in.Running {
		return Plan{Why: "no live-update deployment runs yet"}
	}
	resync := false
	for _, o := range in.Others {
		if o != Resync {
			return Plan{Why: o}
		}
		resync = true
	}
	set := map[string]bool{}
	for _, f := range in.Files {
		if in.Rest[f] {
			return Plan{Why: fmt.Sprintf("%s is an input of more than a live binary", f)}
		}
		found := false
		for label, srcs := range in.Binaries {
			if srcs[f] {
				set[label], found = true, true
			}
		}
		if !found {
			return Plan{Why: fmt.Sprintf("%s is not a source of a live binary", f)}
		}
	}
	if resync {
		for label := range in.Binaries {
			set[label] = true
		}
	}
	if len(set) == 0 {
		return Plan{Why: "nothing to sync"}
	}
	bins := make([]string, 0, len(set))
	for label := range set {
		bins = append(bins, label)
	}
	sort.Strings(bins)
	return Plan{Live: true, Binaries: slices.Clip(bins)}
}
