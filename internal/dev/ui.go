package dev

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"
)

// TextReporter shows the loop in a terminal: a line per phase, a summary and a
// status table per cycle.
type TextReporter struct {
	Out io.Writer
	mu  sync.Mutex
}

var _ Reporter = (*TextReporter)(nil)

func (r *TextReporter) printf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fmt.Fprintf(r.Out, "%s %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func (r *TextReporter) State(s State, detail string) {
	switch s {
	case Idle:
		r.printf("watching for changes")
	case Debounce:
	case Backoff:
		r.printf("cluster or registry unreachable: retrying soon (a change retries at once)")
	default:
		if detail != "" {
			r.printf("%s %s", s, detail)
		} else {
			r.printf("%s", s)
		}
	}
}

func (r *TextReporter) CycleDone(c *Cycle) {
	var b strings.Builder
	mark := map[Outcome]string{OK: "✔", NoOp: "·", Canceled: "↻", Retrying: "…"}[c.Outcome]
	if mark == "" {
		mark = "✘"
	}
	fmt.Fprintf(&b, "%s cycle %d %s in %s", mark, c.N, c.Outcome, time.Duration(c.TotalMillis)*time.Millisecond)
	if len(c.Files) > 0 {
		fmt.Fprintf(&b, " — %s", summarize(c.Files, 3))
	}
	var phases []string
	for _, s := range []State{Indexing, Building, Syncing, Pushing, Applying, Waiting} {
		if ms, ok := c.PhaseMillis[s]; ok {
			phases = append(phases, fmt.Sprintf("%s %s", s, time.Duration(ms)*time.Millisecond))
		}
	}
	if len(phases) > 0 {
		fmt.Fprintf(&b, " (%s)", strings.Join(phases, ", "))
	}
	for _, img := range c.Images {
		if img.AlreadyPresent {
			fmt.Fprintf(&b, "\n    image %s %s: in the registry already", img.Label, short(img.Digest))
		} else {
			fmt.Fprintf(&b, "\n    pushed %s %s (%d bytes)", img.Label, short(img.Digest), img.BytesUploaded)
		}
	}
	for _, o := range c.Applied {
		fmt.Fprintf(&b, "\n    %s %s %s/%s", o.Action, o.Kind, o.Namespace, o.Name)
	}
	for _, d := range c.Deploys {
		b.WriteString("\n    " + deployLine(d))
	}
	for _, e := range c.Errors {
		fmt.Fprintf(&b, "\n    %s", strings.ReplaceAll(e, "\n", "\n    "))
	}
	if c.Outcome != NoOp && c.Outcome != Canceled {
		b.WriteString("\n" + table(c.Deployables))
	}
	r.printf("%s", b.String())
}

// Applied shows nothing: the cycle's summary lists what was applied.
func (r *TextReporter) Applied(int, []ObjectReport, time.Duration) {}

func (r *TextReporter) Ready(c *Cycle) {
	var failed []string
	for _, d := range c.Deployables {
		if d.State != StateReady && d.State != StateLive {
			failed = append(failed, fmt.Sprintf("%s (%s)", d.Target, d.State))
		}
	}
	if len(failed) == 0 {
		r.printf("ready: all %d deployables are up; edit a file to redeploy what it affects", len(c.Deployables))
		return
	}
	r.printf("ready: %d of %d deployables are up; not up: %s. Edit a file to redeploy what it affects",
		len(c.Deployables)-len(failed), len(c.Deployables), strings.Join(failed, ", "))
}

func (r *TextReporter) Problem(err error) { r.printf("problem: %v", err) }

// Deployable shows nothing: each cycle's table shows the states.
func (r *TextReporter) Deployable(Deployable) {}

// deployLine says how a cycle deployed a target: a live update on top of a
// digest, or a full deploy (and why not live, for a live-update target).
func deployLine(d DeployReport) string {
	switch {
	case d.Mode == ModeLive && d.Error != "":
		return fmt.Sprintf("live %s: sync failed: %s", d.Target, d.Error)
	case d.Mode == ModeLive:
		return fmt.Sprintf("live %s: %d binary(ies) synced into %d container(s) on top of %s", d.Target, len(d.Binaries), len(d.Pods), short(d.Digest))
	case d.Why != "":
		return fmt.Sprintf("full %s: %s (not live: %s)", d.Target, short(d.Digest), d.Why)
	}
	return fmt.Sprintf("full %s: %s", d.Target, short(d.Digest))
}

func table(ds []Deployable) string {
	var b strings.Builder
	for _, d := range ds {
		line := fmt.Sprintf("    %-40s %-9s %-13s", d.Target, d.State, short(d.Digest))
		if d.LastCycleMS > 0 {
			line += fmt.Sprintf(" %s", time.Duration(d.LastCycleMS)*time.Millisecond)
		}
		if d.Message != "" && d.State != "ready" {
			line += "  " + firstLine(d.Message)
		}
		if len(d.Forwards) > 0 {
			line += "  " + strings.Join(d.Forwards, ", ")
		}
		b.WriteString(line + "\n")
	}
	return strings.TrimRight(b.String(), "\n")
}

func short(digest string) string {
	digest = strings.TrimPrefix(digest, "sha256:")
	if len(digest) > 12 {
		return digest[:12]
	}
	return digest
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

func summarize(items []string, n int) string {
	sorted := append([]string(nil), items...)
	sort.Strings(sorted)
	if len(sorted) <= n {
		return strings.Join(sorted, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(sorted[:n], ", "), len(sorted)-n)
}

// JSONReporter writes JSON lines for tools and CI: one {"type":"cycle"} object per
// cycle, {"type":"applied"} as soon as a cycle's changes are in the cluster (before
// they are ready), {"type":"ready"} once, {"type":"problem"} for problems outside cycles.
type JSONReporter struct {
	Out io.Writer
	mu  sync.Mutex
}

var _ Reporter = (*JSONReporter)(nil)

func (r *JSONReporter) write(v any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	b, err := json.Marshal(v)
	if err != nil {
		return
	}
	r.Out.Write(append(b, '\n'))
}

func (r *JSONReporter) State(State, string) {}

func (r *JSONReporter) CycleDone(c *Cycle) { r.write(c) }

func (r *JSONReporter) Applied(cycle int, objects []ObjectReport, sinceStart time.Duration) {
	r.write(map[string]any{"type": "applied", "cycle": cycle, "applied": objects, "millis": sinceStart.Milliseconds()})
}

func (r *JSONReporter) Ready(c *Cycle) {
	r.write(map[string]any{"type": "ready", "cycle": c.N, "deployables": c.Deployables})
}

// Deployable writes nothing: cycles carry the states.
func (r *JSONReporter) Deployable(Deployable) {}

func (r *JSONReporter) Problem(err error) {
	r.write(map[string]any{"type": "problem", "error": err.Error()})
}
