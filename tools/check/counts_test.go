package main

import (
	"context"
	"io"
	"strings"
	"testing"
)

func TestCountGoTest(t *testing.T) {
	in := strings.Join([]string{
		`{"Action":"run","Package":"p","Test":"TestA"}`,
		`{"Action":"output","Package":"p","Test":"TestA","Output":"ok\n"}`,
		`{"Action":"pass","Package":"p","Test":"TestA"}`,
		`{"Action":"run","Package":"p","Test":"TestB/sub"}`,
		`{"Action":"output","Package":"p","Test":"TestB/sub","Output":"    b_test.go:3: boom\n"}`,
		`{"Action":"fail","Package":"p","Test":"TestB/sub"}`,
		`{"Action":"fail","Package":"p","Test":"TestB"}`,
		`{"Action":"skip","Package":"p","Test":"TestC"}`,
		`# p [p.test]`,
		`{"Action":"fail","Package":"p"}`,
	}, "\n")
	var echo strings.Builder
	got, err := countGoTest(strings.NewReader(in), &echo)
	if err != nil {
		t.Fatal(err)
	}
	if want := (counts{passed: 1, failed: 2}); got != want {
		t.Errorf("counts = %+v, want %+v", got, want)
	}
	for _, want := range []string{"boom", "# p [p.test]"} {
		if !strings.Contains(echo.String(), want) {
			t.Errorf("echo %q lacks %q", echo.String(), want)
		}
	}
}

func TestCountBazelTest(t *testing.T) {
	in := `INFO: Build completed, 1 test FAILED, 3 total actions
//:gazelle_test                                                          PASSED in 0.1s
//internal/cli:cli_test                                         (cached) PASSED in 0.0s
//tools/lint:buildifier_test                                             FAILED in 0.1s
//a:b                                                           FAILED TO BUILD
//x:flaky                                                                FLAKY, failed in 1 out of 2 in 0.3s
Executed 2 out of 4 tests: 3 tests pass and 1 fails locally.`
	got, err := countBazelTest(strings.NewReader(in), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if want := (counts{passed: 2, failed: 3}); got != want {
		t.Errorf("counts = %+v, want %+v", got, want)
	}
}

func TestCountGofmt(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want counts
	}{
		{"", counts{passed: 1}},
		{"a.go\nb/c.go\n", counts{failed: 2}},
	} {
		got, err := countGofmt(strings.NewReader(tt.in), io.Discard)
		if err != nil || got != tt.want {
			t.Errorf("countGofmt(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
}

// A step without a counter is one pass or one failure by its exit status alone,
// however much it prints (`go vet` prints "go: downloading ..." on a cold cache).
func TestRunStepExitStatusDecides(t *testing.T) {
	for _, tc := range []struct {
		script string
		want   counts
	}{
		{"echo 'go: downloading example.com/m v1.0.0'", counts{passed: 1}},
		{"true", counts{passed: 1}},
		{"echo 'vet: x.go:3: unreachable code'; exit 1", counts{failed: 1}},
	} {
		var echo strings.Builder
		got, err := runStep(context.Background(), step{name: "exit-only", args: []string{"sh", "-c", tc.script}}, &echo)
		if err != nil {
			t.Fatal(err)
		}
		if got != tc.want {
			t.Errorf("%q: got %+v, want %+v (output %q)", tc.script, got, tc.want, echo.String())
		}
	}
}
