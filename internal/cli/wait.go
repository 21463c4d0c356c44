package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/slipway-dev/slipway/internal/dev"
	"github.com/slipway-dev/slipway/internal/devui"
)

type waitOptions struct {
	workspace string
	forCond   string
	timeout   time.Duration
	targets   []string
	out       io.Writer
}

func newWaitCmd() *cobra.Command {
	o := &waitOptions{}
	cmd := &cobra.Command{
		Use:   "wait --for=ready [TARGET...]",
		Short: "Wait until the running dev loop's deployables are ready",
		Long: `wait asks the slipway dev loop running in this workspace until the given
deployables (all enabled ones by default) are ready, after the loop's first full
deploy. It fails after --timeout, naming those that are not.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.targets, o.out = args, cmd.OutOrStdout()
			return o.run(cmd.Context())
		},
	}
	bindWorkspace(cmd, &o.workspace)
	cmd.Flags().StringVar(&o.forCond, "for", "ready", "the condition: ready")
	cmd.Flags().DurationVar(&o.timeout, "timeout", 5*time.Minute, "how long to wait")
	return cmd
}

func (o *waitOptions) run(ctx context.Context) error {
	if o.forCond != "ready" {
		return fmt.Errorf("--for=%s: only ready is supported", o.forCond)
	}
	c, err := newLoopClient(o.workspace)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		notReady, err := o.check(ctx, c)
		if err == nil && len(notReady) == 0 {
			fmt.Fprintln(o.out, "ready")
			return nil
		}
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			return err
		}
		select {
		case <-ctx.Done():
			return &exitError{code: 1, err: fmt.Errorf("not ready after %s: %s", o.timeout, strings.Join(notReady, ", "))}
		case <-tick.C:
		}
	}
}

// check returns the deployables waited for that are not ready, with their state.
func (o *waitOptions) check(ctx context.Context, c *loopClient) ([]string, error) {
	var st devui.Status
	if err := c.get(ctx, "/api/v1/status", &st); err != nil {
		return []string{"the loop"}, err
	}
	var rs []devui.Resource
	if err := c.get(ctx, "/api/v1/deployables", &rs); err != nil {
		return []string{"the loop"}, err
	}
	known := map[string]string{}
	for _, r := range rs {
		known[r.Target] = r.State
	}
	var out []string
	for _, t := range o.targets {
		if _, ok := known[t]; !ok && st.Loop.Ready {
			return nil, fmt.Errorf("%s is not one of the loop's deployables (it has %d; see slipway get)", t, len(known))
		}
	}
	if !st.Loop.Ready {
		out = append(out, "the loop's first deploy")
	}
	for t, state := range known {
		if (len(o.targets) == 0 && state != dev.StateDisabled || slices.Contains(o.targets, t)) && state != dev.StateReady && state != dev.StateLive {
			out = append(out, t+" ("+state+")")
		}
	}
	sort.Strings(out)
	return out, nil
}
