package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/spf13/cobra"

	"github.com/slipway-dev/slipway/internal/connect"
	"github.com/slipway-dev/slipway/internal/kube"
	"github.com/slipway-dev/slipway/internal/publish"
)

// registryFlags choose where images go: --registry, else the image rule's registry
// attribute (--default-registry, set by the .push launcher), else the cluster's
// KEP-1755 ConfigMap, asked through internal/connect (the context guard decides
// before any request; asking only reads, so a context named with --context may be
// asked).
type registryFlags struct {
	connectFlags
	registry        string
	defaultRegistry string
}

func (f *registryFlags) bind(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.registry, "registry", os.Getenv("SLIPWAY_REGISTRY"), "registry to push to (default $SLIPWAY_REGISTRY, else the image's registry attribute, else the cluster's local-registry-hosting ConfigMap)")
	cmd.Flags().StringVar(&f.defaultRegistry, "default-registry", "", "registry to use when --registry is not given (set by .push targets from the image's registry attribute)")
	f.connectFlags.bind(cmd)
}

// resolve returns the registry host to push to.
func (f *registryFlags) resolve(ctx context.Context, log io.Writer) (string, error) {
	if f.registry != "" {
		return f.registry, nil
	}
	if f.defaultRegistry != "" {
		return f.defaultRegistry, nil
	}
	s, err := connect.Open(ctx, f.request(log, true))
	if err != nil {
		return "", fmt.Errorf("no --registry given, so asking the cluster for its local registry: %w", err)
	}
	reg, err := kube.DiscoverRegistry(ctx, s.Clients.Typed)
	if err != nil {
		return "", fmt.Errorf("context %q: %w", s.Context, err)
	}
	return reg.Host, nil
}

type pushOptions struct {
	registryFlags
	pushFlags
	layout     string
	repository string
	tags       []string
	json       bool
	out, log   io.Writer
	publisher  publish.Publisher
}

func newPushCmd() *cobra.Command {
	o := &pushOptions{}
	cmd := &cobra.Command{
		Use:   "push --layout DIR --repository REPO",
		Short: "Push an image or index built by slipway's rules, sending only what the registry lacks",
		Long: `push sends an OCI image layout (an image or index target's output) to a registry.
It checks the manifest first and uploads nothing when the registry has it; otherwise it
uploads only missing blobs, in parallel, mounting blobs from other repositories of the same
registry where slipway pushed them before. It prints registry/repository@sha256:...`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.out, o.log = cmd.OutOrStdout(), cmd.ErrOrStderr()
			return o.run(cmd.Context())
		},
	}
	o.registryFlags.bind(cmd)
	o.pushFlags.bind(cmd)
	cmd.Flags().StringVar(&o.layout, "layout", "", "the OCI image layout directory to push (required)")
	cmd.Flags().StringVar(&o.repository, "repository", "", "the repository within the registry, e.g. examples/hello (required)")
	cmd.Flags().StringSliceVar(&o.tags, "tag", nil, "tags to point at the pushed digest")
	cmd.Flags().BoolVar(&o.json, "json", false, "print the result as JSON")
	_ = cmd.MarkFlagRequired("layout")
	_ = cmd.MarkFlagRequired("repository")
	return cmd
}

func (o *pushOptions) run(ctx context.Context) error {
	artifact, err := publish.FromLayout(o.layout)
	if err != nil {
		return err
	}
	host, err := o.resolve(ctx, o.log)
	if err != nil {
		return err
	}
	repo, err := name.NewRepository(host + "/" + o.repository)
	if err != nil {
		return fmt.Errorf("destination %s/%s: %w", host, o.repository, err)
	}
	p := o.publisher
	if p == nil {
		p = o.newPublisher(printPushProgress(o.log))
	}
	res, err := p.Publish(ctx, artifact, repo, o.tags...)
	if err != nil {
		return err
	}
	if o.json {
		return json.NewEncoder(o.out).Encode(res)
	}
	s := res.Stats
	if res.AlreadyPresent {
		fmt.Fprintf(o.log, "%s already has %s: nothing uploaded\n", repo, res.Digest)
	} else {
		fmt.Fprintf(o.log, "uploaded %d blobs (%s), mounted %d, %d already present, %d requests\n",
			s.BlobsUploaded, humanBytes(s.BytesUploaded), s.BlobsMounted, s.BlobsPresent, s.Requests)
	}
	_, err = fmt.Fprintln(o.out, res.Reference)
	return err
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
