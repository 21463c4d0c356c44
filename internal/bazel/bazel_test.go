package bazel

import (
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// testdata/*.json were recorded from Bazel 7.7.1 on a workspace with one go_binary
// (//app:app, using //app:lib), its image and a manifests target //app:deploy.

func TestParseCQuery(t *testing.T) {
	data, err := os.ReadFile("testdata/cquery.json")
	if err != nil {
		t.Fatal(err)
	}
	g, err := ParseCQuery(data)
	if err != nil {
		t.Fatal(err)
	}
	var sources []string
	for s := range g.Sources {
		sources = append(sources, s)
	}
	sort.Strings(sources)
	if diff := cmp.Diff([]string{"//app:deploy.yaml", "//app:lib.go", "//app:main.go"}, sources); diff != "" {
		t.Errorf("sources (-want +got):\n%s", diff)
	}
	for rule, want := range map[string][]string{
		"//app:deploy": {"//app:deploy.yaml", "//app:image"},
		"//app:image":  {"//app:app"},
		"//app:app":    {"//app:lib", "//app:main.go"},
	} {
		got := append([]string(nil), g.Rules[rule]...)
		sort.Strings(got)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("inputs of %s (-want +got):\n%s", rule, diff)
		}
	}
}

func TestParseBuildEventsSuccess(t *testing.T) {
	f, err := os.Open("testdata/bep_success.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, err := ParseBuildEvents(f)
	if err != nil {
		t.Fatal(err)
	}
	deploy := res.Targets["//app:deploy"]
	if !res.Success || deploy == nil || !deploy.Success {
		t.Fatalf("success = %v, //app:deploy = %+v", res.Success, deploy)
	}
	// The effective options, rc files first: the system rc's disk cache, then the
	// command line's output group.
	opts := strings.Join(res.Options, " ")
	if !strings.Contains(opts, "--disk_cache=/root/.cache/slipway/bazel-disk-cache") || !strings.HasSuffix(opts, "--output_groups=deploy") {
		t.Errorf("options %q: want the rc files' and the command line's", opts)
	}
	names := map[string]bool{}
	for _, p := range deploy.OutputGroups["deploy"] {
		names[p[strings.LastIndex(p, "/bin/")+5:]] = true
	}
	// Tree artifacts (the image layout) come file by file.
	for _, want := range []string{"app/deploy.deploy.json", "app/deploy.inventory.json", "app/deploy.yaml", "app/image.digest", "app/image/index.json"} {
		if !names[want] {
			t.Errorf("deploy output group lacks %s; has %v", want, names)
		}
	}
}

func TestParseBuildEventsFailure(t *testing.T) {
	f, err := os.Open("testdata/bep_failure.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, err := ParseBuildEvents(f)
	if err != nil {
		t.Fatal(err)
	}
	deploy := res.Targets["//app:deploy"]
	if res.Success || deploy == nil || deploy.Success {
		t.Fatalf("success = %v, //app:deploy = %+v; want both failed", res.Success, deploy)
	}
	if len(deploy.Errors) != 1 || !strings.HasPrefix(deploy.Errors[0], "//app:lib: GoCompilePkg failed (exit 1)") {
		t.Errorf("errors of //app:deploy = %q, want the failed compile of //app:lib", deploy.Errors)
	}
}

func TestParseBuildEventsTruncated(t *testing.T) {
	if _, err := ParseBuildEvents(strings.NewReader(`{"id":{"started":{}},"started":{}}` + "\n")); err == nil {
		t.Error("a stream without its finished event parsed without error")
	}
}

func TestErrorLines(t *testing.T) {
	in := `INFO: Analyzed 1 target
ERROR: /w/app/BUILD.bazel:4:11: GoCompilePkg app/lib.a failed: (Exit 1)
app/lib.go:4:28: cannot use "x" as int value
INFO: Elapsed time: 0.5s
ERROR: Build did NOT complete successfully`
	want := "ERROR: /w/app/BUILD.bazel:4:11: GoCompilePkg app/lib.a failed: (Exit 1)\napp/lib.go:4:28: cannot use \"x\" as int value\nERROR: Build did NOT complete successfully"
	if got := errorLines(in); got != want {
		t.Errorf("errorLines:\n%s\nwant:\n%s", got, want)
	}
}

func TestSourcePath(t *testing.T) {
	for in, want := range map[string]string{"//app:main.go": "app/main.go", "@@//a/b:c/d.go": "a/b/c/d.go", "//:go.mod": "go.mod", "@repo//x:y": ""} {
		got, ok := SourcePath(in)
		if got != want || ok != (want != "") {
			t.Errorf("SourcePath(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}
