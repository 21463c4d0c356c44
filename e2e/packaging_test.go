//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// pinnedModules are Go modules that slipway's own go.mod requires at higher versions,
// pinned lower by the user's workspace of TestPackagingKeepsUsersGoVersions.
var pinnedModules = []struct{ path, version, repo, pkg string }{
	{"golang.org/x/net", "v0.57.0", "org_golang_x_net", "html"},
	{"google.golang.org/protobuf", "v1.36.11", "org_golang_google_protobuf", "types/known/wrapperspb"},
}

const pkgtestMain = `package main

import (
	"fmt"
	"os"
	"strings"

	"golang.org/x/net/html"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

func main() {
	doc, err := html.Parse(strings.NewReader("<p>pinned</p>"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("parsed %s; %s\n", doc.FirstChild.Data, wrapperspb.String("pinned").GetValue())
}
`

const pkgtestBuild = `load("@rules_go//go:def.bzl", "go_binary")
load("@slipway//rules:defs.bzl", "image", "manifests")

go_binary(
    name = "app",
    srcs = ["main.go"],
    deps = [
        "@org_golang_google_protobuf//types/known/wrapperspb",
        "@org_golang_x_net//html",
    ],
)

image(
    name = "image",
    binary = ":app",
)

manifests(
    name = "deploy",
    srcs = ["deploy.yaml"],
    images = {"app": ":image"},
    namespace = "pkgtest",
)
`

// TestPackagingKeepsUsersGoVersions: a workspace with Go dependencies of its own
// (go.mod + go_deps) that pins older versions of modules slipway also uses builds
// its go_binary with exactly those versions, the ones go build picks, while it
// builds slipway's image and manifests rules too. It also checks that loading the
// module graph prints no warning about go.dev (unreachable here).
func TestPackagingKeepsUsersGoVersions(t *testing.T) {
	slipwayVersions := goModVersions(t, filepath.Join(repoRoot(t), "go.mod"))
	for _, m := range pinnedModules {
		if got := slipwayVersions[m.path]; semverLess(got, m.version) || got == m.version {
			t.Fatalf("slipway's go.mod requires %s %q, not above the pin %s: the test would prove nothing; raise the pin's gap", m.path, got, m.version)
		}
	}
	w := packagingWorkspace(t)

	// What go build compiles: the versions go.mod pins.
	goBin := filepath.Join(t.TempDir(), "app")
	goTool(t, w.path("app"), "build", "-o", goBin, ".")
	built := goTool(t, w.dir, "version", "-m", goBin)
	for _, m := range pinnedModules {
		if !regexp.MustCompile(`(?m)^\s+dep\s+` + regexp.QuoteMeta(m.path) + `\s+` + regexp.QuoteMeta(m.version) + `\s`).MatchString(built) {
			t.Fatalf("go build did not use %s %s:\n%s", m.path, m.version, built)
		}
	}

	// A fresh Bazel server evaluates the module extensions again (no lockfile).
	w.mustBazel("shutdown")
	_, stderr, err := w.bazel("build", "//app:app", "//app:image", "//app:deploy")
	if err != nil {
		t.Fatalf("bazel build //app:app //app:image //app:deploy: %v\n%s", err, tailLines(stderr, 60))
	}
	for _, bad := range []string{"go.dev/dl", "implicitly updated to higher versions"} {
		if strings.Contains(stderr, bad) {
			t.Errorf("bazel build printed %q:\n%s", bad, tailLines(stderr, 60))
		}
	}

	// The repositories the user's go_binary compiles against hold the pinned versions:
	// each go_repository's root BUILD file names its module version (a purl). (`bazel
	// mod show_repo` would say it too, but evaluates every extension, and buildozer's is
	// a stub here.)
	deps := w.mustBazel("cquery", "kind(go_library, deps(//app:app))", "--output=starlark", "--starlark:expr=str(target.label)")
	outputBase := strings.TrimSpace(w.mustBazel("info", "output_base"))
	for _, m := range pinnedModules {
		repo := repoOfPackage(t, deps, m.repo, m.pkg)
		build, err := os.ReadFile(filepath.Join(outputBase, "external", repo, "BUILD.bazel"))
		if err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf("purl = %q", "pkg:golang/"+m.path+"@"+m.version)
		if !strings.Contains(string(build), want) {
			t.Errorf("//app:app compiles %s from @@%s, whose BUILD.bazel has no %s:\n%s", m.path, repo, want, build)
		}
	}

	// And both binaries run alike.
	out := w.mustBazel("run", "--ui_event_filters=-info,-stdout,-stderr", "--noshow_progress", "//app:app")
	want := "parsed html; pinned"
	if strings.TrimSpace(out) != want {
		t.Errorf("bazel run //app:app printed %q, want %q", strings.TrimSpace(out), want)
	}
	goOut, err := exec.Command(goBin).Output()
	if err != nil || string(goOut) != out {
		t.Errorf("go build's binary printed %q (%v), bazel's %q", goOut, err, out)
	}
}

// packagingWorkspace is a user's workspace with Go dependencies of its own, in a
// directory and output base of its own (the shared workspace has no go.mod).
func packagingWorkspace(t *testing.T) *workspace {
	t.Helper()
	cache, err := os.UserCacheDir()
	if err != nil {
		t.Fatal(err)
	}
	w := &workspace{
		t:          t,
		dir:        filepath.Join(os.TempDir(), "slipway-"+e2eID(), "pkgws"),
		outputBase: filepath.Join(cache, "slipway", e2eID(), "pkg-output-base"),
	}
	if err := os.RemoveAll(w.dir); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _, _ = w.bazel("shutdown") })
	var requires strings.Builder
	for _, m := range pinnedModules {
		fmt.Fprintf(&requires, "\t%s %s\n", m.path, m.version)
	}
	w.write("go.mod", fmt.Sprintf("module example.com/pkgtest\n\ngo 1.26.0\n\nrequire (\n%s)\n", requires.String()))
	w.write("app/main.go", pkgtestMain)
	w.write("app/BUILD.bazel", pkgtestBuild)
	w.write("app/deploy.yaml", deployment("app", 1))
	goTool(t, w.dir, "mod", "tidy")
	w.write("MODULE.bazel", fmt.Sprintf(`module(name = "pkgtest")

bazel_dep(name = "slipway", version = "0.1.0")
local_path_override(module_name = "slipway", path = %q)

bazel_dep(name = "rules_go", version = "0.59.0")
bazel_dep(name = "gazelle", version = "0.47.0")

go_sdk = use_extension("@rules_go//go:extensions.bzl", "go_sdk")
go_sdk.host()

go_deps = use_extension("@gazelle//:extensions.bzl", "go_deps")
go_deps.from_file(go_mod = "//:go.mod")
use_repo(go_deps, %q, %q)
`, repoRoot(t), pinnedModules[0].repo, pinnedModules[1].repo))
	w.write(".bazelrc", "common --noenable_workspace\ncommon --lockfile_mode=off\ncommon --experimental_isolated_extension_usages\nbuild --color=no --curses=no\n")
	w.write("BUILD.bazel", "")
	return w
}

// goTool runs the host's go command in dir (no workspace file, modules from the proxy).
func goTool(t *testing.T, dir string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod", "GOTOOLCHAIN=local", "CGO_ENABLED=0")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("go %s in %s: %v\n%s", strings.Join(args, " "), dir, err, tailLines(errb.String(), 30))
	}
	return out.String()
}

// goModVersions reads the required versions of a go.mod file.
func goModVersions(t *testing.T, path string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^\s*(?:require\s+)?(\S+)\s+(v\d\S*)`).FindAllStringSubmatch(string(b), -1) {
		out[m[1]] = m[2]
	}
	return out
}

// repoOfPackage finds, in canonical labels (one a line), the repository's canonical
// name that provides pkg of the Go module whose apparent repository name is apparent.
func repoOfPackage(t *testing.T, labels, apparent, pkg string) string {
	t.Helper()
	re := regexp.MustCompile(`(?m)^@@([^/\s]*` + regexp.QuoteMeta(apparent) + `)//` + regexp.QuoteMeta(pkg) + `:`)
	m := re.FindStringSubmatch(labels)
	if m == nil {
		t.Fatalf("no package %s of a repository named like %s in deps(//app:app):\n%s", pkg, apparent, labels)
	}
	return m[1]
}

// semverLess compares release versions vMAJOR.MINOR.PATCH (pre-releases and
// pseudo-versions by their numeric prefix).
func semverLess(a, b string) bool {
	pa, pb := semverParts(a), semverParts(b)
	for i := range pa {
		if pa[i] != pb[i] {
			return pa[i] < pb[i]
		}
	}
	return false
}

func semverParts(v string) [3]int {
	var p [3]int
	fields := strings.SplitN(strings.TrimPrefix(v, "v"), ".", 3)
	for i, f := range fields {
		f, _, _ = strings.Cut(f, "-")
		p[i], _ = strconv.Atoi(f)
	}
	return p
}
