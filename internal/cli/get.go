package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/slipway-dev/slipway/internal/devui"
)

// loopClient talks to the API of the loop running in a workspace.
type loopClient struct {
	workspace string
	info      devui.LoopInfo
}

func bindWorkspace(cmd *cobra.Command, ws *string) {
	cmd.Flags().StringVar(ws, "workspace", os.Getenv("BUILD_WORKSPACE_DIRECTORY"), "the Bazel workspace whose loop to ask (default $BUILD_WORKSPACE_DIRECTORY, else the current directory)")
}

func newLoopClient(workspace string) (*loopClient, error) {
	if workspace == "" {
		wd, err := os.Getwd()
		if err != nil {
			return nil, err
		}
		workspace = wd
	}
	info, err := devui.FindLoop(workspace)
	if err != nil {
		return nil, err
	}
	return &loopClient{workspace: workspace, info: info}, nil
}

func (c *loopClient) get(ctx context.Context, path string, v any) error {
	url := strings.TrimSuffix(c.info.URL, "/") + path
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("the slipway dev loop of workspace %s (pid %d) does not answer at %s: %w", c.workspace, c.info.PID, c.info.URL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("GET %s: %s: %s", url, resp.Status, strings.TrimSpace(string(b)))
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

type getOptions struct {
	workspace string
	output    string
	what      string
	out       io.Writer
}

func newGetCmd() *cobra.Command {
	o := &getOptions{}
	cmd := &cobra.Command{
		Use:   "get [deployables|cycles]",
		Short: "Show the running dev loop's deployables or cycles",
		Long: `get asks the slipway dev loop running in this workspace (found through
.slipway/loop.json) for its deployables (the default) or its recent cycles.
With -o json it prints the API's JSON (/api/v1/deployables, /api/v1/cycles).`,
		Args:      cobra.MaximumNArgs(1),
		ValidArgs: []string{"deployables", "cycles"},
		RunE: func(cmd *cobra.Command, args []string) error {
			o.what, o.out = "deployables", cmd.OutOrStdout()
			if len(args) == 1 {
				o.what = args[0]
			}
			return o.run(cmd.Context())
		},
	}
	bindWorkspace(cmd, &o.workspace)
	cmd.Flags().StringVarP(&o.output, "output", "o", "table", "table or json")
	return cmd
}

func (o *getOptions) run(ctx context.Context) error {
	if o.what != "deployables" && o.what != "cycles" {
		return fmt.Errorf("get %s: want deployables or cycles", o.what)
	}
	if o.output != "table" && o.output != "json" {
		return fmt.Errorf("-o %s: want table or json", o.output)
	}
	c, err := newLoopClient(o.workspace)
	if err != nil {
		return err
	}
	var raw json.RawMessage
	if err := c.get(ctx, "/api/v1/"+o.what, &raw); err != nil {
		return err
	}
	if o.output == "json" {
		_, err := fmt.Fprintf(o.out, "%s\n", strings.TrimSpace(string(raw)))
		return err
	}
	tw := tabwriter.NewWriter(o.out, 0, 4, 2, ' ', 0)
	defer tw.Flush()
	if o.what == "cycles" {
		var cycles []devui.CycleSummary
		if err := json.Unmarshal(raw, &cycles); err != nil {
			return err
		}
		fmt.Fprintln(tw, "CYCLE\tOUTCOME\tTOOK\tAFFECTED")
		for _, cy := range cycles {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", cy.N, cy.Outcome, time.Duration(cy.TotalMillis)*time.Millisecond, strings.Join(cy.Affected, " "))
		}
		return nil
	}
	var rs []devui.Resource
	if err := json.Unmarshal(raw, &rs); err != nil {
		return err
	}
	fmt.Fprintln(tw, "DEPLOYABLE\tSTATE\tDIGEST\tCYCLE\tERRORS\tMESSAGE")
	for _, r := range rs {
		digest := strings.TrimPrefix(r.Digest, "sha256:")
		digest = digest[:min(12, len(digest))]
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\n", r.Target, r.State, digest, r.LastCycle, r.Errors, firstLineOf(r.Message))
	}
	return nil
}

func firstLineOf(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
