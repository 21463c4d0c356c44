package devui

import (
	"bytes"
	"fmt"
	"io"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/slipway-dev/slipway/internal/dev"
)

// State takes the loop's state.
func (s *Store) State(st dev.State, detail string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.loop.State, s.loop.Detail = st, detail
	s.publishLocked("state", s.loop)
}

// Deployable takes a deployable's new state.
func (s *Store) Deployable(d dev.Deployable) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.resourceLocked(d.Target)
	r.Deployable = d
	s.publishLocked("resource", r.Resource)
}

// Ready marks the loop ready: every deployable deployed or failed once.
func (s *Store) Ready(*dev.Cycle) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.loop.Ready = true
	s.publishLocked("state", s.loop)
}

// Problem logs a problem outside any cycle.
func (s *Store) Problem(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.logLocked("", "loop", "problem: "+err.Error())
}

// Applied keeps what a cycle applied, by target and object: the applied YAML and
// the diff of the last apply are rendered when asked for.
func (s *Store) Applied(cycle int, objects []dev.ObjectReport, _ time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	touched := map[string]bool{}
	for _, o := range objects {
		if o.Change == nil || o.Target == "" {
			continue
		}
		r := s.resourceLocked(o.Target)
		if o.Change.Desired == nil || o.Action == "deleted" {
			delete(r.objects, o.Change.Ref.Key())
		} else {
			r.objects[o.Change.Ref.Key()] = o.Change
		}
		touched[o.Target] = true
	}
	for t := range touched {
		s.publishLocked("applied", map[string]any{"cycle": cycle, "target": t})
	}
}

// CycleDone records a cycle: its summary, each affected deployable's history and
// errors (build errors go to the target's log), and every deployable's state.
func (s *Store) CycleDone(c *dev.Cycle) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	sum := CycleSummary{N: c.N, End: now, Outcome: c.Outcome, Files: c.Files, Affected: c.Affected, Reasons: c.Reasons,
		Errors: c.Errors, PhaseMillis: c.PhaseMillis, TotalMillis: c.TotalMillis, Images: c.Images, Applied: c.Applied, States: map[string]string{}, Deploys: c.Deploys}
	states := map[string]dev.Deployable{}
	for _, d := range c.Deployables {
		states[d.Target] = d
	}
	for _, t := range c.Affected {
		sum.States[t] = states[t].State
	}
	s.cycles = append(s.cycles, sum)
	if len(s.cycles) > maxCycles {
		s.cycles = append([]CycleSummary(nil), s.cycles[len(s.cycles)-maxCycles:]...)
	}
	s.logCycleLocked(c)
	if c.Outcome != dev.NoOp && c.Outcome != dev.Canceled {
		s.updateResourcesLocked(c, sum, states)
	}
	s.publishLocked("cycle", sum)
}

// updateResourcesLocked brings every deployable in step with a cycle.
func (s *Store) updateResourcesLocked(c *dev.Cycle, sum CycleSummary, states map[string]dev.Deployable) {
	affected := map[string]bool{}
	for _, t := range c.Affected {
		affected[t] = true
		r := s.resourceLocked(t)
		r.LastCycle, r.LastCycleTime, r.AffectedBy = c.N, sum.End, c.Reasons[t]
		r.cycles = append(r.cycles, sum)
		if len(r.cycles) > maxResourceCycles {
			r.cycles = r.cycles[1:]
		}
		switch states[t].State {
		case dev.StateFailed:
			r.Errors++
		case dev.StateNotReady:
			r.Warnings++
		}
	}
	for _, d := range c.Deployables {
		r := s.resourceLocked(d.Target)
		if !reflect.DeepEqual(r.Deployable, d) || affected[d.Target] {
			r.Deployable = d
			s.publishLocked("resource", r.Resource)
		}
	}
	if c.Deployables == nil {
		return // no graph yet: nothing is known to be gone
	}
	for t := range s.resources {
		if _, ok := states[t]; !ok {
			delete(s.resources, t)
			s.publishLocked("removed", t)
		}
	}
}

// logCycleLocked writes a cycle's line to the loop's log and its errors to the
// logs of the targets they name (an error naming none goes to every affected
// target that failed).
func (s *Store) logCycleLocked(c *dev.Cycle) {
	if c.Outcome == dev.NoOp {
		return
	}
	line := fmt.Sprintf("cycle %d %s in %s", c.N, c.Outcome, time.Duration(c.TotalMillis)*time.Millisecond)
	if len(c.Files) > 0 {
		line += " — " + strings.Join(c.Files, ", ")
	}
	s.logLocked("", "loop", line)
	var failed []string
	for _, d := range c.Deployables {
		if d.State == dev.StateFailed && contains(c.Affected, d.Target) {
			failed = append(failed, d.Target)
		}
	}
	for _, e := range c.Errors {
		targets := failed
		for _, t := range c.Affected {
			if strings.HasPrefix(e, t+":") || strings.HasPrefix(e, t+" ") {
				targets = []string{t}
				break
			}
		}
		for _, t := range targets {
			for _, l := range strings.Split(strings.TrimRight(e, "\n"), "\n") {
				s.logLocked(t, "build", l)
			}
		}
		if len(targets) == 0 {
			s.logLocked("", "loop", e)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Log adds a line to a target's log ("" for the loop's own).
func (s *Store) Log(target, source, text string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.logLocked(target, source, text)
}

func (s *Store) logLocked(target, source, text string) {
	// The line's number is its event's: publishLocked takes the next one.
	l := LogLine{Seq: s.seq + 1, Time: s.now(), Target: target, Source: source, Text: text}
	if len(s.logs) < maxLogLines {
		s.logs = append(s.logs, l)
	} else {
		s.logs[s.logStart] = l
		s.logStart = (s.logStart + 1) % maxLogLines
	}
	s.publishLocked("log", l)
}

// Logs returns the log lines kept of a target ("" for all of them, "loop" for
// the loop's own), after the given sequence number, oldest first.
func (s *Store) Logs(target string, after int64) []LogLine {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []LogLine{}
	for i := range s.logs {
		l := s.logs[(s.logStart+i)%len(s.logs)]
		if l.Seq <= after {
			continue
		}
		if target == "" || l.Target == target || (target == "loop" && l.Target == "") {
			out = append(out, l)
		}
	}
	return out
}

// LogWriter returns a writer whose lines go to the target's log (source says
// whence: "pod" for pod logs written as "[pod/container] text").
func (s *Store) LogWriter(target, source string) io.Writer {
	return &lineWriter{emit: func(line string) { s.Log(target, source, line) }}
}

// lineWriter cuts what is written into lines.
type lineWriter struct {
	mu   sync.Mutex
	buf  []byte
	emit func(string)
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		w.emit(strings.TrimRight(string(w.buf[:i]), "\r"))
		w.buf = w.buf[i+1:]
	}
}
