package cli

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"
)

type devOptions struct {
	out io.Writer
}

func newDevCmd() *cobra.Command {
	o := &devOptions{}
	return &cobra.Command{
		Use:   "dev",
		Short: "Watch the workspace and keep the cluster in step with it",
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.out = cmd.OutOrStdout()
			return o.run()
		},
	}
}

func (o *devOptions) run() error {
	_, err := fmt.Fprintln(o.out, "slipway dev: the watcher is not built yet; `slipway --help` lists what is.")
	return err
}
