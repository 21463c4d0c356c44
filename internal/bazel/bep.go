package bazel

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"
)

// BuildResult is what a build did, per requested target.
type BuildResult struct {
	Success bool
	// Targets maps each requested target's label to its outcome.
	Targets  map[string]*TargetResult
	Duration time.Duration
	// Output holds Bazel's error messages when the build failed.
	Output string
	// Options are the build's effective options, rc files included, in the order
	// Bazel applied them (the optionsParsed event's cmdLine).
	Options []string
}

// TargetResult is one target's outcome.
type TargetResult struct {
	Success bool
	// OutputGroups maps an output group to the absolute paths of its files.
	OutputGroups map[string][]string
	// Errors are the failures attributed to this target (failed actions' output,
	// analysis errors).
	Errors []string
}

// eventID identifies a build event (BuildEventId).
type eventID struct {
	TargetCompleted *struct {
		Label string `json:"label"`
	} `json:"targetCompleted"`
	NamedSet *struct {
		ID string `json:"id"`
	} `json:"namedSet"`
	ActionCompleted *struct {
		Label         string `json:"label"`
		PrimaryOutput string `json:"primaryOutput"`
	} `json:"actionCompleted"`
	TargetConfigured *struct {
		Label string `json:"label"`
	} `json:"targetConfigured"`
}

// buildEvent is the part of a Build Event Protocol JSON event slipway reads.
type buildEvent struct {
	ID        eventID   `json:"id"`
	Children  []eventID `json:"children"`
	Completed *struct {
		Success     bool `json:"success"`
		OutputGroup []struct {
			Name     string `json:"name"`
			FileSets []struct {
				ID string `json:"id"`
			} `json:"fileSets"`
		} `json:"outputGroup"`
	} `json:"completed"`
	NamedSetOfFiles *struct {
		Files []struct {
			URI string `json:"uri"`
		} `json:"files"`
		FileSets []struct {
			ID string `json:"id"`
		} `json:"fileSets"`
	} `json:"namedSetOfFiles"`
	Action *struct {
		Success  bool   `json:"success"`
		Label    string `json:"label"`
		Type     string `json:"type"`
		ExitCode int    `json:"exitCode"`
		Stderr   *struct {
			URI string `json:"uri"`
		} `json:"stderr"`
	} `json:"action"`
	Aborted *struct {
		Reason      string `json:"reason"`
		Description string `json:"description"`
	} `json:"aborted"`
	OptionsParsed *struct {
		CmdLine []string `json:"cmdLine"`
	} `json:"optionsParsed"`
	Finished *struct {
		OverallSuccess bool `json:"overallSuccess"`
		ExitCode       *struct {
			Name string `json:"name"`
			Code int    `json:"code"`
		} `json:"exitCode"`
	} `json:"finished"`
}

// ParseBuildEvents reads a --build_event_json_file.
func ParseBuildEvents(r io.Reader) (*BuildResult, error) {
	res := &BuildResult{Targets: map[string]*TargetResult{}}
	sets := map[string][]string{}     // named set -> files
	children := map[string][]string{} // named set -> named sets
	type groupRef struct{ label, group, set string }
	var refs []groupRef
	finished := false
	actionErrors := map[string]string{} // primary output -> message
	failedBy := map[string][]string{}   // target -> primary outputs of failed actions
	target := func(label string) *TargetResult {
		t := res.Targets[label]
		if t == nil {
			t = &TargetResult{OutputGroups: map[string][]string{}}
			res.Targets[label] = t
		}
		return t
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	for sc.Scan() {
		var ev buildEvent
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return nil, err
		}
		switch {
		case ev.ID.TargetCompleted != nil && ev.Completed != nil:
			t := target(ev.ID.TargetCompleted.Label)
			t.Success = ev.Completed.Success
			for _, c := range ev.Children {
				if c.ActionCompleted != nil {
					failedBy[ev.ID.TargetCompleted.Label] = append(failedBy[ev.ID.TargetCompleted.Label], c.ActionCompleted.PrimaryOutput)
				}
			}
			for _, g := range ev.Completed.OutputGroup {
				for _, fs := range g.FileSets {
					refs = append(refs, groupRef{ev.ID.TargetCompleted.Label, g.Name, fs.ID})
				}
			}
		case ev.ID.TargetCompleted != nil && ev.Aborted != nil:
			t := target(ev.ID.TargetCompleted.Label)
			t.Errors = append(t.Errors, ev.Aborted.Description)
		case ev.ID.TargetConfigured != nil && ev.Aborted != nil:
			t := target(ev.ID.TargetConfigured.Label)
			t.Errors = append(t.Errors, ev.Aborted.Description)
		case ev.ID.NamedSet != nil && ev.NamedSetOfFiles != nil:
			for _, f := range ev.NamedSetOfFiles.Files {
				sets[ev.ID.NamedSet.ID] = append(sets[ev.ID.NamedSet.ID], filePath(f.URI))
			}
			for _, c := range ev.NamedSetOfFiles.FileSets {
				children[ev.ID.NamedSet.ID] = append(children[ev.ID.NamedSet.ID], c.ID)
			}
		case ev.Action != nil && !ev.Action.Success:
			msg := fmt.Sprintf("%s failed (exit %d)", ev.Action.Type, ev.Action.ExitCode)
			if ev.Action.Stderr != nil {
				if b, err := os.ReadFile(filePath(ev.Action.Stderr.URI)); err == nil && len(b) > 0 {
					msg += ":\n" + strings.TrimRight(string(b), "\n")
				}
			}
			label := ev.Action.Label
			if ev.ID.ActionCompleted != nil {
				if label == "" {
					label = ev.ID.ActionCompleted.Label
				}
				actionErrors[ev.ID.ActionCompleted.PrimaryOutput] = label + ": " + msg
			}
		case ev.OptionsParsed != nil:
			res.Options = ev.OptionsParsed.CmdLine
		case ev.Finished != nil:
			finished = true
			res.Success = ev.Finished.OverallSuccess
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if !finished {
		return nil, fmt.Errorf("the build event stream has no end: bazel stopped early")
	}
	// A failed target lists the failed actions (of its own or of its dependencies)
	// that stopped it.
	for label, outputs := range failedBy {
		for _, o := range outputs {
			if msg, ok := actionErrors[o]; ok {
				target(label).Errors = append(target(label).Errors, msg)
			}
		}
	}
	for _, ref := range refs {
		t := target(ref.label)
		t.OutputGroups[ref.group] = append(t.OutputGroups[ref.group], expand(ref.set, sets, children, map[string]bool{})...)
	}
	return res, nil
}

func expand(id string, sets, children map[string][]string, seen map[string]bool) []string {
	if seen[id] {
		return nil
	}
	seen[id] = true
	out := append([]string(nil), sets[id]...)
	for _, c := range children[id] {
		out = append(out, expand(c, sets, children, seen)...)
	}
	return out
}

func filePath(uri string) string {
	if u, err := url.Parse(uri); err == nil && u.Scheme == "file" {
		return u.Path
	}
	return uri
}
