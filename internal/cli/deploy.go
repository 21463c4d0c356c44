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

	"github.com/slipway-dev/slipway/internal/deploy"
	"github.com/slipway-dev/slipway/internal/kube"
	"github.com/slipway-dev/slipway/internal/publish"
)

// deployFlags are shared by apply, diff, delete and show.
type deployFlags struct {
	spec          string
	execRoot      string
	target        kube.Target
	allowContexts []string
	namespace     string
	registry      string
	json          bool
	out, log      io.Writer
}

func (f *deployFlags) bind(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.spec, "spec", "", "the manifests target's deploy spec (<name>.deploy.json; set by the run target)")
	cmd.Flags().StringVar(&f.execRoot, "execroot", "", "find the spec's files under this Bazel execution root instead of runfiles")
	cmd.Flags().StringVar(&f.target.Kubeconfig, "kubeconfig", "", "kubeconfig file (default $KUBECONFIG or ~/.kube/config)")
	cmd.Flags().StringVar(&f.target.Context, "context", "", "kubeconfig context (default: the current context)")
	cmd.Flags().StringSliceVar(&f.allowContexts, "allow-context", nil, "allow writing to this non-local context (repeatable)")
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

// session is a loaded target and, when connected, its cluster.
type session struct {
	target   *deploy.Target
	clients  *kube.Clients
	resolved *deploy.Resolved
}

// open loads the target, connects (checking the context guard before any request
// when the command writes), and resolves registries and namespaces.
func (f *deployFlags) open(ctx context.Context, writes bool) (*session, error) {
	spec, err := deploy.ReadSpec(f.spec)
	if err != nil {
		return nil, err
	}
	t, err := deploy.Load(spec, f.files())
	if err != nil {
		return nil, err
	}
	conn, err := kube.Connect(f.target)
	if err != nil {
		return nil, err
	}
	if writes {
		guard := kube.Guard{Allowed: append(append([]string(nil), spec.AllowedContexts...), f.allowContexts...)}
		if err := guard.Check(conn.Context); err != nil {
			return nil, err
		}
	}
	clients, err := kube.NewClients(conn)
	if err != nil {
		return nil, err
	}
	regs, discoverErr := registriesFor(ctx, f.registry, clients)
	resolved, err := deploy.Resolve(t, deploy.Settings{Namespace: f.namespace, Registries: regs})
	if err != nil && discoverErr != nil {
		err = fmt.Errorf("%w (asking context %q: %v)", err, conn.Context, discoverErr)
	}
	if err != nil {
		return nil, err
	}
	return &session{target: t, clients: clients, resolved: resolved}, nil
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
	fmt.Fprintf(f.log, "%s in namespace %s: %d reads, %d dry-runs, %d writes\n", r.Target, r.Namespace, r.Requests.Reads, r.Requests.DryRuns, r.Requests.Writes)
	return nil
}

type applyOptions struct {
	deployFlags
	forceConflicts bool
	timeout        time.Duration
}

func newApplyCmd() *cobra.Command {
	o := &applyOptions{}
	cmd := &cobra.Command{
		Use:   "apply --spec FILE",
		Short: "Deploy a manifests target: push its images, apply what changed, prune, wait",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.out, o.log = cmd.OutOrStdout(), cmd.ErrOrStderr()
			return o.run(cmd.Context())
		},
	}
	o.bind(cmd)
	cmd.Flags().BoolVar(&o.forceConflicts, "force-conflicts", false, "take over fields other field managers own (otherwise a conflict fails the apply)")
	cmd.Flags().DurationVar(&o.timeout, "timeout", 5*time.Minute, "how long to wait for changed objects to become ready (0: do not wait)")
	return cmd
}

func (o *applyOptions) run(ctx context.Context) error {
	s, err := o.open(ctx, true)
	if err != nil {
		return err
	}
	d := &deploy.Deployer{
		Clients: s.clients, Publisher: publish.NewRemote(publish.LoadMountCache(publish.DefaultMountCachePath())),
		ForceConflicts: o.forceConflicts, ReadyTimeout: o.timeout,
	}
	report, err := d.Apply(ctx, s.resolved, deploy.ApplyOptions{})
	if perr := o.printReport(report); perr != nil && err == nil {
		err = perr
	}
	return err
}

func newDiffCmd() *cobra.Command {
	o := &deployFlags{}
	cmd := &cobra.Command{
		Use:   "diff --spec FILE",
		Short: "Print what apply would change, as unified diffs of live and desired objects",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.out, o.log = cmd.OutOrStdout(), cmd.ErrOrStderr()
			s, err := o.open(cmd.Context(), false)
			if err != nil {
				return err
			}
			report, err := (&deploy.Deployer{Clients: s.clients}).Diff(cmd.Context(), s.resolved)
			if err != nil {
				return err
			}
			if o.json {
				return o.printReport(report)
			}
			for _, c := range report.Changes {
				if c.Action == kube.Unchanged {
					continue
				}
				text, err := kube.UnifiedDiff(c)
				if err != nil {
					return err
				}
				fmt.Fprint(o.out, text)
			}
			for _, c := range report.Pruned {
				fmt.Fprintf(o.out, "%s would be deleted (no longer rendered)\n", c.Ref)
			}
			return nil
		},
	}
	o.bind(cmd)
	return cmd
}

func newDeleteCmd() *cobra.Command {
	o := &deployFlags{}
	cmd := &cobra.Command{
		Use:   "delete --spec FILE",
		Short: "Delete exactly the objects a manifests target applied (its inventory)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.out, o.log = cmd.OutOrStdout(), cmd.ErrOrStderr()
			s, err := o.open(cmd.Context(), true)
			if err != nil {
				return err
			}
			report, err := (&deploy.Deployer{Clients: s.clients}).Delete(cmd.Context(), s.resolved)
			if perr := o.printReport(report); perr != nil && err == nil {
				err = perr
			}
			return err
		},
	}
	o.bind(cmd)
	return cmd
}

func newShowCmd() *cobra.Command {
	o := &deployFlags{}
	cmd := &cobra.Command{
		Use:   "show --spec FILE",
		Short: "Print a manifests target's objects as apply would send them",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.out, o.log = cmd.OutOrStdout(), cmd.ErrOrStderr()
			s, err := o.open(cmd.Context(), false)
			if err != nil {
				return err
			}
			return writeYAML(o.out, s.resolved.Objects)
		},
	}
	o.bind(cmd)
	return cmd
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
