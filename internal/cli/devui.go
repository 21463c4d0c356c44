package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/slipway-dev/slipway/internal/dev"
	"github.com/slipway-dev/slipway/internal/devui"
)

// DefaultUIPort is where slipway dev serves its UI unless told otherwise (or
// taken, in which case it picks a free port and says so).
const DefaultUIPort = 10450

// uiOptions are slipway dev's flags for its web UI.
type uiOptions struct {
	port     int
	noUI     bool
	buttons  []string
	disabled []string
	portSet  bool
}

func (u *uiOptions) bind(cmd *cobra.Command) {
	f := cmd.Flags()
	f.IntVar(&u.port, "ui-port", DefaultUIPort, "the web UI's port on 127.0.0.1 (default: settings.json's uiPort, else 10450, else a free one)")
	f.BoolVar(&u.noUI, "no-ui", false, "serve no web UI nor API (slipway get and wait then cannot reach the loop)")
	f.StringArrayVar(&u.buttons, "button", nil, "a custom UI button, NAME=//bazel/run:target (repeatable; the dev rule's buttons attribute sets them)")
	f.StringSliceVar(&u.disabled, "disable", nil, "a deployable left out until enabled from the UI or .slipway/settings.json (repeatable)")
	cmd.PreRun = func(cmd *cobra.Command, _ []string) { u.portSet = cmd.Flags().Changed("ui-port") }
}

// devUI is the running UI (a zero one with --no-ui).
type devUI struct {
	store    *devui.Store
	actions  chan dev.Action
	disabled []string // the rule's, with the settings over them
	rule     []string // the rule's
	settings string
	last     []byte
	stop     func()
	log      io.Writer
}

// startUI reads the settings and serves the UI and API, publishing where.
func (o *devOptions) startUI(ctx context.Context, claim *devui.Claim) (*devUI, error) {
	ui := &devUI{settings: devui.SettingsPath(o.workspace), rule: o.ui.disabled, stop: func() {}, log: o.log}
	settings, raw, err := devui.ReadSettings(ui.settings)
	if err != nil {
		return nil, err
	}
	ui.last, ui.disabled = raw, settings.DisabledTargets(o.ui.disabled)
	info := devui.LoopInfo{PID: os.Getpid(), Workspace: o.workspace, Started: time.Now()}
	if o.ui.noUI {
		return ui, claim.Publish(info)
	}
	buttons := map[string]string{}
	for _, b := range o.ui.buttons {
		name, target, ok := strings.Cut(b, "=")
		if !ok || name == "" || target == "" {
			return nil, fmt.Errorf("--button=%q: want NAME=//bazel/run:target", b)
		}
		buttons[name] = target
	}
	ln, err := o.listenUI(settings.UIPort)
	if err != nil {
		return nil, err
	}
	info.URL = "http://" + ln.Addr().String() + "/"
	ui.store, ui.actions = devui.NewStore(), make(chan dev.Action)
	srv := &http.Server{Handler: &devui.Server{Store: ui.store, Actions: ui.actions, Buttons: buttons, Run: o.runButton, Ctx: ctx,
		Status: devui.Status{PID: info.PID, Workspace: o.workspace, URL: info.URL, Started: info.Started}}}
	go func() { _ = srv.Serve(ln) }()
	ui.stop = func() { _ = srv.Close() }
	fmt.Fprintf(o.log, "slipway dev: UI at %s\n", info.URL)
	return ui, claim.Publish(info)
}

// listenUI listens on 127.0.0.1: --ui-port when given (taken is an error), else
// the settings' port, else the default, else any free port.
func (o *devOptions) listenUI(settingsPort int) (net.Listener, error) {
	port := o.ui.port
	if !o.ui.portSet && settingsPort != 0 {
		port = settingsPort
	}
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err == nil || o.ui.portSet {
		if err != nil {
			return nil, fmt.Errorf("--ui-port=%d: %w (pick another port, or --no-ui)", port, err)
		}
		return ln, nil
	}
	fmt.Fprintf(o.log, "slipway dev: port %d is taken (%v); serving the UI on a free port\n", port, err)
	return net.Listen("tcp", "127.0.0.1:0")
}

// logs returns where a target's pod logs go: the terminal and the UI.
func (ui *devUI) logs(terminal io.Writer) func(string) io.Writer {
	return func(target string) io.Writer {
		if ui.store == nil {
			return terminal
		}
		return io.MultiWriter(terminal, ui.store.LogWriter(target, "pod"))
	}
}

// runButton runs a custom button's target with bazel run.
func (o *devOptions) runButton(ctx context.Context, target string, out io.Writer) error {
	args := append(append([]string{"run", "--ui_event_filters=-info", "--noshow_progress"}, o.buildFlags...), target)
	cmd := exec.CommandContext(ctx, o.bazel, args...)
	cmd.Dir, cmd.Stdout, cmd.Stderr = o.workspace, out, out
	return cmd.Run()
}

// watchSettings enables and disables deployables as .slipway/settings.json
// changes, through the loop's actions like the UI's buttons.
func (ui *devUI) watchSettings(ctx context.Context, problems chan<- error) {
	if ui.actions == nil {
		return
	}
	current, rule := ui.disabled, ui.rule
	devui.WatchSettings(ctx, ui.settings, time.Second, ui.last, func(s devui.Settings) {
		want := s.DisabledTargets(rule)
		for _, t := range current {
			if !slices.Contains(want, t) {
				ui.act(ctx, dev.Enable, t, problems)
			}
		}
		for _, t := range want {
			if !slices.Contains(current, t) {
				ui.act(ctx, dev.Disable, t, problems)
			}
		}
		current = want
	}, func(err error) { problems <- err })
}

func (ui *devUI) act(ctx context.Context, kind dev.ActionKind, target string, problems chan<- error) {
	fmt.Fprintf(ui.log, "slipway dev: settings: %s %s\n", kind, target)
	if err := devui.Act(ctx, ui.actions, kind, target); err != nil && !errors.Is(err, context.Canceled) {
		problems <- fmt.Errorf("settings: %s %s: %w", kind, target, err)
	}
}
