package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/slipway-dev/slipway/internal/connect"
	"github.com/slipway-dev/slipway/internal/deploy"
	"github.com/slipway-dev/slipway/internal/kube"
)

// deployFlags are shared by apply, diff, delete and show.
type deployFlags struct {
	connectFlags
	spec      string
	execRoot  string
	namespace string
	registry  string
	json      bool
	out, log  io.Writer
}

func (f *deployFlags) bind(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.spec, "spec", "", "the manifests target's deploy spec (<name>.deploy.json; set by the run target)")
	cmd.Flags().StringVar(&f.execRoot, "execroot", "", "find the spec's files under this Bazel execution root instead of runfiles")
	f.connectFlags.bind(cmd)
	cmd.Flags().StringVar(&f.namespace, "namespace", "", "namespace for objects without one (default: the target's namespace attribute)")
	cmd.Flags().StringVar(&f.registry, "registry", os.Getenv("SLIPWAY_REGISTRY"), "registry to push to and deploy from (default $SLIPWAY_REGISTRY, else images' registry attributes, else the cluster's local-registry-hosting ConfigMap)")
	cmd.Flags().BoolVar(&f.json, "json", false, "print a JSON report")
	_ = cmd.MarkFlagRequired("spec")
}

func (f *deployFlags) files() deploy.Files {
	if f.execRoot != "" {
		return deploy.ExecRoot(f.execRoot)
	}
	return deploy.Runfiles(os.Getenv("RUNFILES_DIR"))
}

// session is a resolved target and its cluster.
type session struct {
	clients  *kube.Clients
	resolved *deploy.Resolved
}

// clusterUse is how a command uses the cluster, which decides what the guard
// admits (internal/connect) and whether it connects at all.
type clusterUse int

const (
	writesCluster   clusterUse = iota // apply, delete
	readsCluster                      // diff
	readsRegistries                   // show: connects only to ask for the registry
)

// open loads the target, connects through internal/connect (the context guard,
// with the target's allowed_contexts, decides before any request), and resolves
// registries and namespaces.
func (f *deployFlags) open(ctx context.Context, use clusterUse) (*session, error) {
	spec, err := deploy.ReadSpec(f.spec)
	if err != nil {
		return nil, err
	}
	t, err := deploy.Load(spec, f.files())
	if err != nil {
		return nil, err
	}
	regs := deploy.Registries{}
	if f.registry != "" {
		regs = deploy.Registries{Push: f.registry, Pull: f.registry, Override: true}
	}
	s := &session{}
	var discoverErr error
	if use != readsRegistries || needsRegistryDiscovery(t, f.registry) {
		c, err := connect.Open(ctx, f.request(f.log, use != writesCluster, spec.AllowedContexts...))
		if err != nil {
			return nil, err
		}
		s.clients = c.Clients
		if f.registry == "" {
			regs, discoverErr = registriesFor(ctx, "", c.Clients)
		}
	}
	s.resolved, err = deploy.Resolve(t, deploy.Settings{Namespace: f.namespace, Registries: regs})
	if err != nil && discoverErr != nil {
		err = fmt.Errorf("%w (%v)", err, discoverErr)
	}
	if err != nil {
		return nil, err
	}
	return s, nil
}

// needsRegistryDiscovery: some image names no registry and none was given.
func needsRegistryDiscovery(t *deploy.Target, registry string) bool {
	if registry != "" {
		return false
	}
	for _, img := range t.Inventory.Images {
		if img.Registry == "" {
			return true
		}
	}
	return false
}

func (f *deployFlags) printReport(r *deploy.Report) error {
	if f.json {
		enc := json.NewEncoder(f.out)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	for _, img := range r.Images {
		if img.Present {
			fmt.Fprintf(f.out, "image %s: unchanged (%s)\n", img.Label, img.Reference)
		} else {
			fmt.Fprintf(f.out, "image %s: pushed %d blob(s), %s (%s)\n", img.Label, img.Stats.BlobsUploaded, humanBytes(img.Stats.BytesUploaded), img.Reference)
		}
	}
	for _, c := range r.Changes {
		fmt.Fprintf(f.out, "%s %s\n", c.Ref, c.Action)
	}
	for _, c := range r.Pruned {
		if c.Action == kube.Skipped {
			fmt.Fprintf(f.out, "%s left alone: it does not carry this target's inventory label\n", c.Ref)
		} else {
			fmt.Fprintf(f.out, "%s %s\n", c.Ref, c.Action)
		}
	}
	for _, rd := range r.Readiness {
		fmt.Fprintf(f.out, "%s ready\n", rd.Ref)
	}
	for _, n := range r.Notes {
		fmt.Fprintln(f.log, n)
	}
	fmt.Fprintf(f.log, "%s in namespace %s: %d reads, %d dry-runs, %d writes\n", r.Target, r.Namespace, r.Requests.Reads, r.Requests.DryRuns, r.Requests.Writes)
	return nil
}

// deployCommand makes a command that opens a manifests target (the context guard
// decides before any request) and runs do on it.
func deployCommand(use, short string, access clusterUse, do func(ctx context.Context, o *deployFlags, s *session) error) *cobra.Command {
	o := &deployFlags{}
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.out, o.log = cmd.OutOrStdout(), cmd.ErrOrStderr()
			s, err := o.open(cmd.Context(), access)
			if err != nil {
				return err
			}
			return do(cmd.Context(), o, s)
		},
	}
	o.bind(cmd)
	return cmd
}

// finish prints what a deploy did, even when it failed part way, and returns its error.
func (f *deployFlags) finish(r *deploy.Report, err error) error {
	if perr := f.printReport(r); perr != nil && err == nil {
		err = perr
	}
	return err
}

func newApplyCmd() *cobra.Command {
	var forceConflicts bool
	var timeout time.Duration
	var push pushFlags
	cmd := deployCommand("apply --spec FILE", "Deploy a manifests target: push its images, apply what changed, prune, wait", writesCluster,
		func(ctx context.Context, o *deployFlags, s *session) error {
			d := &deploy.Deployer{
				Clients: s.clients, Publisher: push.newPublisher(printPushProgress(o.log)),
				ForceConflicts: forceConflicts, ReadyTimeout: timeout,
			}
			return o.finish(d.Deploy(ctx, s.resolved))
		})
	cmd.Flags().BoolVar(&forceConflicts, "force-conflicts", false, "take over fields other field managers own (otherwise a conflict fails the apply)")
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Minute, "how long to wait for changed objects to become ready (0: do not wait)")
	push.bind(cmd)
	return cmd
}

// diffDiffers is the exit code of diff when apply would change something (as
// kubectl diff: 0 no differences, 1 differences, more for errors).
const diffDiffers = 1

func newDiffCmd() *cobra.Command {
	return deployCommand("diff --spec FILE", "Print what apply would change, as unified diffs of live and desired objects; exit 1 when it would change something", readsCluster,
		func(ctx context.Context, o *deployFlags, s *session) error {
			report, err := (&deploy.Deployer{Clients: s.clients}).Diff(ctx, s.resolved)
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			if err := o.printDiff(report); err != nil {
				return &exitError{code: 2, err: err}
			}
			if differs(report) {
				return &exitError{code: diffDiffers, err: fmt.Errorf("%s: applying would change what is listed above", s.resolved.Target)}
			}
			return nil
		})
}

// differs reports whether applying would change or prune anything.
func differs(r *deploy.Report) bool {
	for _, c := range r.Changes {
		if c.Action != kube.Unchanged {
			return true
		}
	}
	return len(r.Pruned) > 0
}

func (f *deployFlags) printDiff(report *deploy.Report) error {
	if f.json {
		return f.printReport(report)
	}
	for _, c := range report.Changes {
		if c.Action == kube.Unchanged {
			continue
		}
		text, err := kube.UnifiedDiff(c)
		if err != nil {
			return err
		}
		fmt.Fprint(f.out, text)
	}
	for _, c := range report.Pruned {
		fmt.Fprintf(f.out, "%s would be deleted (no longer rendered)\n", c.Ref)
	}
	return nil
}

func newDeleteCmd() *cobra.Command {
	var deleteNamespace bool
	cmd := deployCommand("delete --spec FILE", "Delete exactly the objects a manifests target applied (its inventory)", writesCluster,
		func(ctx context.Context, o *deployFlags, s *session) error {
			d := &deploy.Deployer{Clients: s.clients}
			report, err := d.Delete(ctx, s.resolved)
			if err == nil && deleteNamespace {
				var ns *deploy.Report
				ns, err = d.DeleteNamespace(ctx, s.resolved)
				report.Pruned = append(report.Pruned, ns.Pruned...)
				report.Notes = append(report.Notes, ns.Notes...)
				report.Requests = addCounts(report.Requests, ns.Requests)
			}
			return o.finish(report, err)
		})
	cmd.Flags().BoolVar(&deleteNamespace, "delete-namespace", false, "then delete the target's namespace too, if nothing else is left in it (other targets' objects, objects made by hand)")
	return cmd
}

func addCounts(a, b kube.RequestCounts) kube.RequestCounts {
	return kube.RequestCounts{Reads: a.Reads + b.Reads, DryRuns: a.DryRuns + b.DryRuns, Writes: a.Writes + b.Writes}
}

func newShowCmd() *cobra.Command {
	return deployCommand("show --spec FILE", "Print a manifests target's objects as apply would send them", readsRegistries,
		func(_ context.Context, o *deployFlags, s *session) error {
			return writeYAML(o.out, s.resolved.Objects)
		})
}

func writeYAML(w io.Writer, objs []*unstructured.Unstructured) error {
	var docs []string
	for _, o := range objs {
		b, err := yaml.Marshal(o.Object)
		if err != nil {
			return err
		}
		docs = append(docs, string(b))
	}
	_, err := io.WriteString(w, strings.Join(docs, "---\n"))
	return err
}
