package cli

import (
	"fmt"
	"io"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/slipway-dev/slipway/internal/version"
)

type versionOptions struct {
	out io.Writer
}

func newVersionCmd() *cobra.Command {
	o := &versionOptions{}
	return &cobra.Command{
		Use:   "version",
		Short: "Print slipway's version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.out = cmd.OutOrStdout()
			return o.run()
		},
	}
}

func (o *versionOptions) run() error {
	_, err := fmt.Fprintf(o.out, "slipway %s (%s, %s/%s)\n", version.Version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return err
}
