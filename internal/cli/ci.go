package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/slipway-dev/slipway/internal/bazel"
	"github.com/slipway-dev/slipway/internal/ci"
	"github.com/slipway-dev/slipway/internal/connect"
	"github.com/slipway-dev/slipway/internal/deploy"
	"github.com/slipway-dev/slipway/internal/deployable"
	"github.com/slipway-dev/slipway/internal/kube"
	"github.com/slipway-dev/slipway/internal/publish"
)

// ciFlags are shared by ci and affected: what to build, and how.
type ciFlags struct {
	workspace  string
	targets    []string
	buildFlags []string
	bazel      string
	json       bool
	out, log   io.Writer
}

func (f *ciFlags) bind(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.workspace, "workspace", os.Getenv("BUILD_WORKSPACE_DIRECTORY"), "the Bazel workspace (default $BUILD_WORKSPACE_DIRECTORY, else the current directory)")
	fl.StringSliceVar(&f.targets, "target", nil, "manifests targets, or patterns matching them such as //services/... (repeatable)")
	fl.StringArrayVar(&f.buildFlags, "build-flag", nil, "a flag for bazel build (repeatable)")
	fl.StringVar(&f.bazel, "bazel", "bazel", "the bazel command")
	fl.BoolVar(&f.json, "json", false, "print a JSON report")
}

func (f *ciFlags) check() error {
	if len(f.targets) == 0 {
		return fmt.Errorf("no --target given: name the manifests targets, or patterns matching them (the dev rule's .ci and .affected targets do)")
	}
	if f.workspace == "" {
		wd, err := os.Getwd()
		if err != nil {
			return err
		}
		f.workspace = wd
	}
	return nil
}

func (f *ciFlags) bazelClient(workspace string) bazel.Client {
	return &bazel.CLI{Bazel: f.bazel, Workspace: workspace, Progress: prefixed(f.log, "bazel: ")}
}

// deployRun deploys built targets for ci and affected --deploy.
type deployRun struct {
	clusterFlags
	namespace      string
	timeout        time.Duration
	dryRun         bool
	forceConflicts bool
}

func (d *deployRun) bind(cmd *cobra.Command) {
	d.clusterFlags.bind(cmd)
	fl := cmd.Flags()
	fl.StringVar(&d.namespace, "namespace", "", "namespace for objects without one (default: each target's namespace attribute)")
	fl.DurationVar(&d.timeout, "timeout", 5*time.Minute, "deadline for every object to be ready")
	fl.BoolVar(&d.dryRun, "dry-run", false, "print what would be pushed and applied; write nothing")
	fl.BoolVar(&d.forceConflicts, "force-conflicts", false, "take over fields other field managers own")
}

// CIReport is what ci (or affected --deploy) did, or would do with --dry-run.
type CIReport struct {
	Context string           `json:"context"`
	DryRun  bool             `json:"dryRun"`
	Targets []*deploy.Report `json:"targets"`
	// WouldPush lists, in a dry run, the images the registry lacks.
	WouldPush []string           `json:"wouldPush,omitempty"`
	Readiness []kube.Readiness   `json:"readiness,omitempty"`
	Requests  kube.RequestCounts `json:"requests"`
	Pushed    publish.Stats      `json:"pushed"`
	Failures  []string           `json:"failures,omitempty"`
	// NotDeployed are the objects of targets that failed to deploy: counted as
	// failed, not waited for.
	NotDeployed []kube.Ref `json:"notDeployed,omitempty"`
}

// run deploys built targets to dest (resolved, and admitted by the guard, before
// the build).
func (d *deployRun) run(ctx context.Context, f *ciFlags, built []*deployable.Built, dest *connect.Destination) error {
	clients, regs, err := d.open(ctx, dest)
	if err != nil {
		return err
	}
	publisher := d.newPublisher(printPushProgress(f.log))
	deployer := &deploy.Deployer{Clients: clients, Publisher: publisher, ForceConflicts: d.forceConflicts}
	report := &CIReport{Context: clients.Context, DryRun: d.dryRun}
	before := clients.Requests.Snapshot()
	var all []kube.Ref
	for _, b := range built {
		r, err := deploy.Resolve(b.Target, deploy.Settings{Namespace: d.namespace, Registries: regs})
		if err != nil {
			return err
		}
		if d.dryRun {
			for _, img := range r.Images {
				has, err := publisher.Has(ctx, img.Repository, img.Digest)
				if err != nil {
					return err
				}
				if !has {
					report.WouldPush = append(report.WouldPush, img.Repository.String()+"@"+img.Digest)
				}
			}
			rep, err := deployer.Diff(ctx, r)
			if err != nil {
				report.Failures = append(report.Failures, deployFailure(b.Label, err))
			}
			report.Targets = append(report.Targets, rep)
			continue
		}
		rep, err := deployer.Deploy(ctx, r)
		report.Targets = append(report.Targets, rep)
		for _, img := range rep.Images {
			report.Pushed.BytesUploaded += img.Stats.BytesUploaded
			report.Pushed.BlobsUploaded += img.Stats.BlobsUploaded
			report.Pushed.ManifestsPut += img.Stats.ManifestsPut
			report.Pushed.Requests += img.Stats.Requests
		}
		if err != nil {
			report.Failures = append(report.Failures, deployFailure(b.Label, err))
			report.NotDeployed = append(report.NotDeployed, r.Inventory.Objects...)
			continue
		}
		all = append(all, r.Inventory.Objects...)
	}
	if !d.dryRun && len(all) > 0 {
		// Every object of the targets that deployed, changed or not: CI passes on a
		// healthy deployment only.
		report.Readiness, err = clients.WaitReady(ctx, all, d.timeout, 250*time.Millisecond, nil)
		var nr *kube.NotReadyError
		if errors.As(err, &nr) {
			for _, o := range nr.Objects {
				reason := string(o.Status)
				if o.Reason != "" {
					reason += ": " + o.Reason
				} else if o.Message != "" {
					reason += ": " + o.Message
				}
				report.Failures = append(report.Failures, fmt.Sprintf("%s not ready: %s", o.Ref, reason))
			}
		} else if err != nil {
			return err
		}
	}
	report.Requests = clients.Requests.Since(before)
	if err := d.print(f, report); err != nil {
		return err
	}
	if len(report.Failures) > 0 {
		return &exitError{code: 1, err: fmt.Errorf("%d failure(s):\n  %s", len(report.Failures), strings.Join(report.Failures, "\n  "))}
	}
	return nil
}

func (d *deployRun) print(f *ciFlags, r *CIReport) error {
	if f.json {
		enc := json.NewEncoder(f.out)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	verb := map[bool]string{true: "would be ", false: ""}[r.DryRun]
	for _, t := range r.Targets {
		if t == nil {
			continue
		}
		changed, unchanged := 0, 0
		for _, c := range t.Changes {
			if c.Action == kube.Unchanged {
				unchanged++
				continue
			}
			changed++
			fmt.Fprintf(f.out, "%s: %s %s%s\n", t.Target, c.Ref, verb, c.Action)
		}
		for _, c := range t.Pruned {
			fmt.Fprintf(f.out, "%s: %s %s%s\n", t.Target, c.Ref, verb, c.Action)
		}
		for _, img := range t.Images {
			if !img.Present {
				fmt.Fprintf(f.out, "%s: pushed %s (%s)\n", t.Target, img.Reference, humanBytes(img.Stats.BytesUploaded))
			}
		}
		fmt.Fprintf(f.out, "%s: %d object(s) %schanged, %d unchanged\n", t.Target, changed, verb, unchanged)
	}
	for _, ref := range r.WouldPush {
		fmt.Fprintf(f.out, "would push %s\n", ref)
	}
	if !r.DryRun {
		ready := 0
		for _, rd := range r.Readiness {
			if rd.Ready() {
				ready++
			}
		}
		fmt.Fprintf(f.out, "%d/%d object(s) ready", ready, len(r.Readiness)+len(r.NotDeployed))
		if len(r.NotDeployed) > 0 {
			fmt.Fprintf(f.out, ", %d failed to deploy", len(r.NotDeployed))
		}
		fmt.Fprintln(f.out)
	}
	for _, fail := range r.Failures {
		fmt.Fprintf(f.out, "FAILED %s\n", fail)
	}
	fmt.Fprintf(f.log, "context %s: %d reads, %d dry-runs, %d writes; pushed %d blob(s), %s\n",
		r.Context, r.Requests.Reads, r.Requests.DryRuns, r.Requests.Writes, r.Pushed.BlobsUploaded, humanBytes(r.Pushed.BytesUploaded))
	return nil
}

type ciOptions struct {
	ciFlags
	deployRun
}

func newCICmd() *cobra.Command {
	o := &ciOptions{}
	cmd := &cobra.Command{
		Use:   "ci --target //pkg/... [--context NAME]",
		Short: "Build every deployable, push what the registry lacks, apply what changed, wait until ready",
		Long: `ci deploys the given manifests targets once, without watching: one Bazel build of
them all; images pushed only when the registry lacks them; objects applied only when the
server-side dry-run says they differ; unchanged objects untouched. It then waits, up to
--timeout, for every object to be ready and exits non-zero naming each failed or unready
object (and its pod's reason, e.g. CrashLoopBackOff). --dry-run prints what would be
pushed and applied and writes nothing. The context guard applies: only local contexts
unless --allow-context.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.out, o.log = cmd.OutOrStdout(), cmd.ErrOrStderr()
			if err := o.check(); err != nil {
				return err
			}
			dest, err := o.resolve(o.log) // the guard, before the build
			if err != nil {
				return err
			}
			built, err := deployable.Build(cmd.Context(), o.bazelClient(o.workspace), o.targets, o.buildFlags)
			if err != nil {
				return err
			}
			return o.deployRun.run(cmd.Context(), &o.ciFlags, built, dest)
		},
	}
	o.ciFlags.bind(cmd)
	o.deployRun.bind(cmd)
	return cmd
}

type affectedOptions struct {
	ciFlags
	deployRun
	base, head string
	noCache    bool
	deploy     bool
}

func newAffectedCmd() *cobra.Command {
	o := &affectedOptions{}
	cmd := &cobra.Command{
		Use:   "affected --base REV [--head REV] --target //pkg/...",
		Short: "List the deployables whose outputs differ between two commits (and deploy them with --deploy)",
		Long: `affected builds the deployables at --base (in a git worktree kept under the user
cache, so its Bazel output base stays warm) and at --head (default: the workspace as it
is), and compares what they build: image digests and rendered objects. Builds are
reproducible, so equal outputs mean nothing to deploy, whatever changed in the sources
(comments, MODULE.bazel, .bzl files). A commit's outputs are cached: comparing against the
same base again builds nothing there.

With --deploy it then deploys the changed deployables as ci does (--dry-run: what would
be pushed and applied).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.out, o.log = cmd.OutOrStdout(), cmd.ErrOrStderr()
			return o.run(cmd.Context())
		},
	}
	o.ciFlags.bind(cmd)
	o.deployRun.bind(cmd)
	cmd.Flags().StringVar(&o.base, "base", "", "the commit to compare against (required)")
	cmd.Flags().StringVar(&o.head, "head", "", "the commit to compare (default: the workspace as it is)")
	cmd.Flags().BoolVar(&o.noCache, "no-cache", false, "build commits again even when their outputs are cached")
	cmd.Flags().BoolVar(&o.deploy, "deploy", false, "deploy the changed deployables (as ci does)")
	_ = cmd.MarkFlagRequired("base")
	return cmd
}

func (o *affectedOptions) run(ctx context.Context) error {
	if err := o.check(); err != nil {
		return err
	}
	if o.dryRun && !o.deploy {
		return fmt.Errorf("--dry-run goes with --deploy (affected itself writes nothing)")
	}
	var dest *connect.Destination
	if o.deploy { // the guard, before the comparison builds anything
		d, err := o.resolve(o.log)
		if err != nil {
			return err
		}
		dest = d
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return err
	}
	a := &ci.Affected{
		Bazel:    o.bazelClient,
		Patterns: o.targets, Flags: o.buildFlags,
		CacheDir: cache + "/slipway/affected", NoCache: o.noCache, Log: o.log,
	}
	start := time.Now()
	changes, err := a.Run(ctx, o.workspace, o.base, o.head)
	if err != nil {
		return err
	}
	fmt.Fprintf(o.log, "compared in %s\n", time.Since(start).Round(time.Millisecond))
	if !o.deploy {
		return o.print(changes)
	}
	var labels []string
	for _, c := range changes {
		if c.Status != "removed" {
			labels = append(labels, c.Target)
		}
	}
	if len(labels) == 0 {
		fmt.Fprintln(o.log, "nothing to deploy")
		return o.print(changes)
	}
	ws := o.workspace
	if o.head != "" {
		return fmt.Errorf("--deploy deploys the workspace: leave --head out")
	}
	built, err := deployable.Build(ctx, o.bazelClient(ws), labels, o.buildFlags)
	if err != nil {
		return err
	}
	return o.deployRun.run(ctx, &o.ciFlags, built, dest)
}

func (o *affectedOptions) print(changes []ci.Change) error {
	if o.json {
		if changes == nil {
			changes = []ci.Change{}
		}
		enc := json.NewEncoder(o.out)
		enc.SetIndent("", "  ")
		return enc.Encode(changes)
	}
	for _, c := range changes {
		fmt.Fprintf(o.out, "%s %s (%d image(s), %d object(s))\n", c.Status, c.Target, len(c.Images), len(c.Objects))
	}
	return nil
}

// deployFailure names the target once: errors that start with its label
// already keep it.
func deployFailure(label string, err error) string {
	if strings.HasPrefix(err.Error(), label+":") {
		return err.Error()
	}
	return fmt.Sprintf("%s: %v", label, err)
}
