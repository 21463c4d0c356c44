package dev

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/slipway-dev/slipway/internal/bazel"
	"github.com/slipway-dev/slipway/internal/deploy"
	"github.com/slipway-dev/slipway/internal/deployable"
	"github.com/slipway-dev/slipway/internal/kube"
	"github.com/slipway-dev/slipway/internal/liveupdate"
	"github.com/slipway-dev/slipway/internal/oci"
)

// The live-update path of a cycle (docs/live-update.md): the planner picks the
// affected targets whose changes touch only live binaries; the cycle builds
// those binaries in the same Bazel invocation as the other targets' full
// deploys, then copies them into the running containers (sync phase). A sync
// that fails sends the target to the next cycle as a full deploy.

// livePlan is a live update a cycle makes in place of a full deploy.
type livePlan struct {
	syncs  []liveupdate.Sync // the containers of the binaries to sync
	images []string          // their image targets, built for their live_binary group
}

// planLive asks the planner which affected targets can be live-updated; the
// others' reasons go to why.
func (c *cycle) planLive(affected []string) map[string]*livePlan {
	if c.l.Live == nil {
		return nil
	}
	out := map[string]*livePlan{}
	for _, t := range affected {
		r := c.view.applied[t]
		if r == nil || len(r.Live) == 0 {
			continue
		}
		plan := liveupdate.Decide(c.planInput(t, r))
		if !plan.Live {
			c.why[t] = plan.Why
			continue
		}
		lp := &livePlan{}
		for _, s := range r.Live {
			if slices.Contains(plan.Binaries, s.Image.Binary) {
				lp.syncs = append(lp.syncs, s)
				lp.images = appendOnce(lp.images, s.Image.Label)
			}
		}
		out[t] = lp
	}
	return out
}

func (c *cycle) planInput(t string, r *deploy.Resolved) liveupdate.PlanInput {
	in := liveupdate.PlanInput{Running: true}
	var labels []string
	for _, s := range r.Live {
		labels = appendOnce(labels, s.Image.Binary)
	}
	in.Binaries, in.Rest = c.index.LiveSources(t, labels)
	for _, why := range c.rep.Reasons[t] {
		if slices.Contains(c.rep.Files, why) {
			in.Files = append(in.Files, why)
		} else {
			in.Others = append(in.Others, why)
		}
	}
	return in
}

// fullOnly are the affected targets that are not live-updated.
func fullOnly(affected []string, live map[string]*livePlan) []string {
	var out []string
	for _, t := range affected {
		if live[t] == nil {
			out = append(out, t)
		}
	}
	return out
}

// buildTargets are what Bazel builds: the full deploys' targets and the live
// updates' images (only their binaries get built: the live_binary group).
func buildTargets(full []string, live map[string]*livePlan) []string {
	out := slices.Clone(full)
	for _, lp := range live {
		for _, img := range lp.images {
			out = appendOnce(out, img)
		}
	}
	sort.Strings(out)
	return out
}

// syncLive copies the built binaries into the live targets' containers.
func (c *cycle) syncLive(ctx context.Context, live map[string]*livePlan, built *bazel.BuildResult) {
	targets := make([]string, 0, len(live))
	for t := range live {
		targets = append(targets, t)
	}
	sort.Strings(targets)
	for _, t := range targets {
		files, err := liveBinaries(live[t], built)
		if err != nil {
			c.fail(BuildFailed, fmt.Errorf("%s: %w", t, err))
			c.status(t, StateFailed, "build failed; the running code is unchanged")
			continue
		}
		c.enter(ctx, Syncing, t)
		c.syncTarget(context.WithoutCancel(ctx), t, live[t], files)
	}
}

// liveBinaries are the built binaries of a live plan, by image label.
func liveBinaries(lp *livePlan, built *bazel.BuildResult) (map[string]string, error) {
	out := map[string]string{}
	for _, img := range lp.images {
		tr := built.Targets[img]
		if tr == nil || !tr.Success {
			return nil, fmt.Errorf("%s", buildErrors(tr, built))
		}
		files := tr.OutputGroups[deployable.LiveBinaryGroup]
		if len(files) != 1 {
			return nil, fmt.Errorf("%s built %d files in its %s output group, want its binary (stale rules?)", img, len(files), deployable.LiveBinaryGroup)
		}
		out[img] = files[0]
	}
	return out, nil
}

// syncTarget pushes a target's binaries into its pods; a failure falls back
// to a full deploy in the next cycle.
func (c *cycle) syncTarget(ctx context.Context, t string, lp *livePlan, files map[string]string) {
	st := &liveState{binaries: map[string]string{}}
	digest := lp.syncs[0].Image.Digest
	for _, s := range lp.syncs {
		file := files[s.Image.Label]
		sum, err := fileSHA256(file)
		var pods []liveupdate.Synced
		if err == nil {
			pods, err = c.l.Live.Push(ctx, s, file, sum)
		}
		if err != nil {
			c.res.fallback[t] = err.Error()
			c.rep.Deploys = append(c.rep.Deploys, DeployReport{Target: t, Mode: ModeLive, Digest: digest,
				Error: err.Error() + "; the next cycle deploys the full image"})
			c.status(t, StateDeploying, "live update failed; deploying the full image: "+err.Error())
			return
		}
		st.binaries[s.Image.Binary] = sum
		st.pods = append(st.pods, pods...)
	}
	c.update(t).live = st
	c.rep.Deploys = append(c.rep.Deploys, DeployReport{Target: t, Mode: ModeLive, Digest: digest, Binaries: st.binaries, Pods: st.pods})
	d := &Deployable{Target: t, State: StateLive, LastCycleMS: c.l.Clock.Now().Sub(c.begin).Milliseconds(),
		Message: fmt.Sprintf("binary synced into %d pod(s) on top of %s", len(st.pods), short(digest))}
	c.send(cycleMsg{status: d})
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// reportFull records a full deploy, and why it was not live when it could have been.
func (c *cycle) reportFull(t string, r *deploy.Resolved) {
	d := DeployReport{Target: t, Mode: ModeFull, Why: c.why[t]}
	if len(r.Images) > 0 {
		d.Digest = r.Images[0].Digest
	}
	c.rep.Deploys = append(c.rep.Deploys, d)
}

// resetLive makes the pods of fully deployed live-update targets run their
// image's binary again when the apply did not replace them: after live
// updates (the sources went back to the image's), or when the loop starts
// (pods of an earlier loop may run synced binaries).
func (c *cycle) resetLive(ctx context.Context, loaded []*loadedTarget) {
	if c.l.Live == nil {
		return
	}
	for _, lt := range loaded {
		if lt.r == nil || len(lt.r.Live) == 0 || (!c.view.live[lt.target] && c.view.applied[lt.target] != nil) {
			continue
		}
		changed := map[string]bool{}
		for _, ref := range lt.report.Changed() {
			changed[kubeRefKey(ref)] = true
		}
		for _, s := range lt.r.Live {
			if changed[syncKey(s)] {
				continue // rolled out: new pods run the image
			}
			if _, err := c.l.Live.Reset(context.WithoutCancel(ctx), s); err != nil && c.view.live[lt.target] {
				c.fail(DeployFail, fmt.Errorf("%s: resetting live-updated pods to the image: %w", lt.target, err))
			}
		}
	}
}

// loadLive resolves a target whose images have live_update: the containers
// running them run under the agent, whose image is deployed with them.
func (o *OutputLoader) loadLive(b *deployable.Built) (*deploy.Resolved, error) {
	spec := b.Spec
	files := deploy.ExecRoot(o.ExecRoot)
	digest, err := os.ReadFile(files.Path(spec.LiveAgent.Digest))
	if err != nil {
		return nil, fmt.Errorf("%s: the live-update agent's image: %w", spec.Target, err)
	}
	agent, err := o.Settings.Image(spec.Target, spec.LiveAgent.Label, spec.LiveAgent.Registry, spec.LiveAgent.Repository, strings.TrimSpace(string(digest)))
	if err != nil {
		return nil, err
	}
	agent.Layout = files.Path(spec.LiveAgent.Layout)
	images, err := o.liveImages(b)
	if err != nil {
		return nil, err
	}
	settings := o.Settings
	var syncs []liveupdate.Sync
	settings.Rewrite = func(obj *unstructured.Unstructured) error {
		s, err := liveupdate.Rewrite(obj, images, agent.Reference)
		syncs = append(syncs, s...)
		return err
	}
	r, err := deploy.Resolve(b.Target, settings)
	if err != nil {
		return nil, err
	}
	r.Live = syncs
	r.Images = append(r.Images, agent)
	return r, nil
}

// liveImages are the target's live-update images, with their configuration's
// entrypoint and cmd (what the agent runs).
func (o *OutputLoader) liveImages(b *deployable.Built) ([]liveupdate.Image, error) {
	var out []liveupdate.Image
	for _, spec := range b.Spec.Images {
		if spec.LiveUpdate == nil {
			continue
		}
		for _, inv := range b.Target.Inventory.Images {
			if inv.Label != spec.Label {
				continue
			}
			img, err := o.Settings.Image(b.Spec.Target, inv.Label, inv.Registry, inv.Repository, inv.Digest)
			if err != nil {
				return nil, err
			}
			entrypoint, cmd, err := imageCommand(b.Target.Layouts[spec.Label])
			if err != nil {
				return nil, fmt.Errorf("%s: image %s: %w", b.Spec.Target, spec.Label, err)
			}
			out = append(out, liveupdate.Image{Label: spec.Label, Binary: spec.LiveUpdate.Binary, BinaryPath: spec.LiveUpdate.BinaryPath,
				Reference: img.Reference, Digest: inv.Digest, Entrypoint: entrypoint, Cmd: cmd})
		}
	}
	return out, nil
}

// imageCommand reads an image's entrypoint and cmd from its OCI layout.
func imageCommand(layout string) ([]string, []string, error) {
	img, _, err := oci.LoadLayout(layout)
	if err != nil {
		return nil, nil, err
	}
	if img == nil {
		return nil, nil, fmt.Errorf("%s holds an index, not an image", layout)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, nil, err
	}
	return cfg.Config.Entrypoint, cfg.Config.Cmd, nil
}

// kubeRefKey names a workload, as syncKey does.
func kubeRefKey(r kube.Ref) string { return r.Kind + "/" + r.Namespace + "/" + r.Name }

func syncKey(s liveupdate.Sync) string { return s.Kind + "/" + s.Namespace + "/" + s.Name }
