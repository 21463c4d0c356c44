package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"strings"
)

type counts struct{ passed, failed int }

func (c *counts) add(o counts) { c.passed += o.passed; c.failed += o.failed }

// countGofmt: every file gofmt lists is a failure; none listed is one pass.
func countGofmt(out io.Reader, echo io.Writer) (counts, error) {
	var c counts
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if f := strings.TrimSpace(sc.Text()); f != "" {
			fmt.Fprintf(echo, "--- FAIL: %s is not gofmt-formatted (run gofmt -w %s)\n", f, f)
			c.failed++
		}
	}
	if c.failed == 0 {
		c.passed = 1
	}
	return c, sc.Err()
}

// goTestEvent is one line of `go test -json` (cmd/test2json).
type goTestEvent struct {
	Action  string
	Package string
	Test    string
	Output  string
}

// countGoTest counts top-level and sub-tests from `go test -json`, printing the output
// of failed tests and one line per package.
func countGoTest(out io.Reader, echo io.Writer) (counts, error) {
	var c counts
	outputs := map[string][]string{} // package/test -> output lines, for failures
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		line := sc.Bytes()
		var ev goTestEvent
		if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &ev) != nil {
			fmt.Fprintf(echo, "%s\n", line) // build errors come as plain text
			continue
		}
		key := ev.Package + " " + ev.Test
		switch ev.Action {
		case "output":
			outputs[key] = append(outputs[key], ev.Output)
			if ev.Test == "" && (strings.HasPrefix(ev.Output, "ok") || strings.HasPrefix(ev.Output, "FAIL") || strings.HasPrefix(ev.Output, "---")) {
				fmt.Fprint(echo, ev.Output)
			}
		case "pass":
			if ev.Test != "" {
				c.passed++
			}
			delete(outputs, key)
		case "fail":
			if ev.Test != "" {
				c.failed++
				fmt.Fprint(echo, strings.Join(outputs[key], ""))
			} else if len(outputs[key]) > 0 {
				fmt.Fprint(echo, strings.Join(outputs[key], "")) // package-level failure (e.g. TestMain)
			}
			delete(outputs, key)
		case "skip":
			delete(outputs, key)
		}
	}
	return c, sc.Err()
}

var bazelResult = regexp.MustCompile(`^(//\S+|@\S+)\s+(?:\(cached\) )?(PASSED|FAILED|TIMEOUT|FLAKY|NO STATUS|FAILED TO BUILD|INCOMPLETE)\b`)

// countBazelTest echoes `bazel test` output and counts its per-target summary lines.
func countBazelTest(out io.Reader, echo io.Writer) (counts, error) {
	var c counts
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		line := sc.Text()
		fmt.Fprintln(echo, line)
		m := bazelResult.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		if m[2] == "PASSED" {
			c.passed++
		} else {
			c.failed++
		}
	}
	return c, sc.Err()
}
