// Package cli holds slipway's commands. Each command is an options struct with a
// run method; cobra only parses flags into it.
package cli

import (
	"errors"

	"github.com/spf13/cobra"
)

// NewRoot returns the slipway command tree.
func NewRoot() *cobra.Command {
	root := &cobra.Command{
		Use:   "slipway",
		Short: "The inner dev loop for Bazel monorepos that deploy to Kubernetes",
		Long: `slipway builds reproducible OCI images and Kubernetes manifests with Bazel,
and keeps a cluster in step with your workspace: on each change it rebuilds,
pushes and applies only what the change affects.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newVersionCmd(), newDevCmd(), newPushCmd(), newClusterCmd(),
		newApplyCmd(), newDiffCmd(), newDeleteCmd(), newShowCmd(), newCICmd(), newAffectedCmd(), newGetCmd(), newWaitCmd())
	return root
}

// exitError carries a specific exit code out of a command.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// ExitCode is the process exit code for an error returned by a command.
func ExitCode(err error) int {
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return 1
}
