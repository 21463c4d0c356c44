// Package gen writes synthetic Bazel workspaces for slipway's benchmarks: N Go
// services and L shared libraries, each service with a go_binary, an image and
// manifests, and a root dev target over //services/....
//
// Service i imports libraries i, i+1 and, when i is even, i+2 (mod L), so a change
// to library k affects a known subset of services (Importers).
package gen

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

// Options describe a workspace to generate.
type Options struct {
	Dir      string // where to write it (created; generated files are overwritten)
	Services int
	Libs     int
	// Slipway is the slipway checkout the workspace depends on (local_path_override).
	Slipway string
	// Namespace is the manifests' namespace attribute ({user} is $USER at deploy time).
	Namespace string
	// Git makes the workspace a git repository with one commit of the generated files
	// (a second run commits whatever it changed back to the generated state).
	Git bool
	// IBazel adds //tools/ibazel: ci, an sh_binary depending on every deploy target
	// (so ibazel watches all their sources) that runs `slipway ci` over them, and
	// ci_<service>, the same for one service's deploy target alone.
	IBazel bool
}

// Layout is what was generated, written to bench.json at the workspace root.
type Layout struct {
	Services  []string            `json:"services"`  // svc000, svc001, ...
	Libs      []string            `json:"libs"`      // lib00, lib01, ...
	Imports   map[string][]string `json:"imports"`   // service -> libraries
	Importers map[string][]string `json:"importers"` // library -> services
}

// ServiceName is the name of service i.
func ServiceName(i int) string { return fmt.Sprintf("svc%03d", i) }

// LibName is the name of library k.
func LibName(k int) string { return fmt.Sprintf("lib%02d", k) }

// MainFile is the workspace-relative path of a service's main.go.
func MainFile(svc string) string { return "services/" + svc + "/main.go" }

// BinaryLabel is a service's go_binary.
func BinaryLabel(svc string) string { return "//services/" + svc + ":" + svc }

// DeployLabel is a service's manifests target.
func DeployLabel(svc string) string { return "//services/" + svc + ":deploy" }

// VersionLine is the line of main.go that benchmarks edit: const version = "...".
func VersionLine(version string) string { return fmt.Sprintf("const version = %q", version) }

// LibsOf returns the libraries service i imports.
func LibsOf(i, libs int) []int {
	n := 2 + (i+1)%2 // 3 for even services, 2 for odd ones
	if n > libs {
		n = libs
	}
	out := make([]int, 0, n)
	for j := 0; j < n; j++ {
		out = append(out, (i+j)%libs)
	}
	return out
}

// Generate writes the workspace and returns its layout.
func Generate(o Options) (*Layout, error) {
	if o.Services < 1 || o.Libs < 1 {
		return nil, fmt.Errorf("need at least one service and one library (got %d, %d)", o.Services, o.Libs)
	}
	if o.Namespace == "" {
		o.Namespace = "bench-{user}"
	}
	slipway, err := filepath.Abs(o.Slipway)
	if err != nil {
		return nil, err
	}
	w := &writer{dir: o.Dir}
	lay := &Layout{Imports: map[string][]string{}, Importers: map[string][]string{}}

	w.file("MODULE.bazel", fmt.Sprintf(`module(name = "bench")

bazel_dep(name = "slipway", version = "0.1.0")
local_path_override(
    module_name = "slipway",
    path = %q,
)

bazel_dep(name = "rules_go", version = "0.59.0")

go_sdk = use_extension("@rules_go//go:extensions.bzl", "go_sdk")
go_sdk.host()
`, slipway))
	w.file(".bazelrc", `common --noenable_workspace
common --lockfile_mode=off
common --experimental_isolated_extension_usages
build --color=no --curses=no
try-import %workspace%/user.bazelrc
`)
	w.file(".gitignore", "/bazel-*\n/user.bazelrc\n")
	w.file("BUILD.bazel", `load("@slipway//rules:defs.bzl", "dev")

# The dev loop over every service: bazel run //:dev (also //:dev.ci, //:dev.affected).
dev(
    name = "dev",
    targets = ["//services/..."],
)
`)

	for k := 0; k < o.Libs; k++ {
		lib := LibName(k)
		lay.Libs = append(lay.Libs, lib)
		w.file("lib/"+lib+"/BUILD.bazel", fmt.Sprintf(`load("@rules_go//go:def.bzl", "go_library")

go_library(
    name = %[1]q,
    srcs = ["%[1]s.go"],
    importpath = "bench.example/lib/%[1]s",
    visibility = ["//visibility:public"],
)
`, lib))
		w.file("lib/"+lib+"/"+lib+".go", libSource(lib, k))
	}

	for i := 0; i < o.Services; i++ {
		svc := ServiceName(i)
		lay.Services = append(lay.Services, svc)
		var deps, imports, calls []string
		for _, k := range LibsOf(i, o.Libs) {
			lib := LibName(k)
			lay.Imports[svc] = append(lay.Imports[svc], lib)
			lay.Importers[lib] = append(lay.Importers[lib], svc)
			deps = append(deps, fmt.Sprintf("        %q,", "//lib/"+lib))
			imports = append(imports, fmt.Sprintf("\t%q", "bench.example/lib/"+lib))
			calls = append(calls, fmt.Sprintf("%s.Describe(%q)", lib, svc))
		}
		w.file("services/"+svc+"/BUILD.bazel", fmt.Sprintf(`load("@rules_go//go:def.bzl", "go_binary")
load("@slipway//rules:defs.bzl", "image", "manifests")

# pure = "on": the static, cgo-free binary the image holds, also when built alone.
go_binary(
    name = %[1]q,
    srcs = ["main.go"],
    pure = "on",
    visibility = ["//visibility:public"],
    deps = [
%[2]s
    ],
)

image(
    name = "image",
    binary = ":%[1]s",
    env = {"PORT": "8080"},
    exposed_ports = ["8080"],
)

manifests(
    name = "deploy",
    srcs = ["deploy.yaml"],
    images = {%[1]q: ":image"},
    labels = {"app.kubernetes.io/part-of": "bench"},
    namespace = %[3]q,
    strict = True,
    visibility = ["//visibility:public"],
)
`, svc, strings.Join(deps, "\n"), o.Namespace))
		w.file(MainFile(svc), serviceSource(svc, imports, calls))
		w.file("services/"+svc+"/deploy.yaml", deployYAML(svc))
	}
	if o.IBazel {
		perService := map[string]string{}
		for _, svc := range lay.Services {
			perService[svc] = DeployLabel(svc)
		}
		w.file("tools/ibazel/BUILD.bazel", ibazelBuild("//services/...", perService))
		w.exec("tools/ibazel/ci.sh", ibazelScript)
	}
	sort.Strings(lay.Services)
	b, _ := json.MarshalIndent(lay, "", "  ")
	w.file("bench.json", string(b)+"\n")
	if w.err != nil {
		return nil, w.err
	}
	if o.Git {
		if err := commitAll(o.Dir, "generated workspace"); err != nil {
			return nil, err
		}
	}
	return lay, nil
}

// ibazelScript is the script of the //tools/ibazel targets: slipway ci over the target
// pattern given as its second argument.
const ibazelScript = `#!/usr/bin/env bash
# Run by ibazel after each rebuild: deploy the given targets as slipway ci does, then
# print a marker line with the exit code (the benchmark times its arrival).
# $SLIPWAY_BENCH_BIN overrides the slipway built by Bazel (e.g. one built on the host).
slipway="${SLIPWAY_BENCH_BIN:-$1}"
target=$2
shift 2
"$slipway" ci --workspace="$BUILD_WORKSPACE_DIRECTORY" --target="$target" --json "$@" >"${SLIPWAY_BENCH_CI_OUT:-/dev/null}"
echo "SLIPWAY-BENCH-CI-DONE rc=$?"
`

// IBazelTarget is the //tools/ibazel target that watches and deploys one service
// alone (IBazelAll: every service).
func IBazelTarget(svc string) string { return "//tools/ibazel:ci_" + svc }

// IBazelAll is the //tools/ibazel target that watches and deploys every service.
const IBazelAll = "//tools/ibazel:ci"

// ibazelBuild is tools/ibazel/BUILD.bazel: ibazel's two views of the dev loop.
// IBazelAll depends on every deploy target (so ibazel watches all their sources) and
// runs slipway ci over pattern after each rebuild, as a whole-repository loop built
// from ibazel must; IBazelTarget(svc) depends on that service's deploy target alone
// and runs slipway ci over it: the same work as the loop does for an edit there.
func ibazelBuild(pattern string, deploys map[string]string) string {
	names := make([]string, 0, len(deploys))
	for n := range deploys {
		names = append(names, n)
	}
	sort.Strings(names)
	var all, one strings.Builder
	for _, n := range names {
		fmt.Fprintf(&all, "        %q,\n", deploys[n])
		fmt.Fprintf(&one, `
sh_binary(
    name = "ci_%s",
    srcs = ["ci.sh"],
    args = [
        "$(rootpath @slipway//cmd/slipway)",
        %q,
    ],
    data = [
        "@slipway//cmd/slipway",
        %q,
    ],
)
`, n, deploys[n], deploys[n])
	}
	return fmt.Sprintf(`# ibazel's views of the dev loop (bench/README.md): every deploy target, or one.
sh_binary(
    name = "ci",
    srcs = ["ci.sh"],
    args = [
        "$(rootpath @slipway//cmd/slipway)",
        %q,
    ],
    data = [
        "@slipway//cmd/slipway",
%s    ],
)
%s`, pattern, all.String(), one.String())
}

// IBazelFiles writes //tools/ibazel into an existing workspace (the shop copy): the
// deploy targets by service name, and the pattern that covers them all.
func IBazelFiles(dir, pattern string, deploys map[string]string) error {
	w := &writer{dir: dir}
	w.file("tools/ibazel/BUILD.bazel", ibazelBuild(pattern, deploys))
	w.exec("tools/ibazel/ci.sh", ibazelScript)
	return w.err
}

// ReadLayout reads bench.json of a generated workspace.
func ReadLayout(dir string) (*Layout, error) {
	b, err := os.ReadFile(filepath.Join(dir, "bench.json"))
	if err != nil {
		return nil, err
	}
	var l Layout
	if err := json.Unmarshal(b, &l); err != nil {
		return nil, err
	}
	return &l, nil
}

func libSource(lib string, k int) string {
	return fmt.Sprintf(`// Package %[1]s is a shared library of the generated services.
package %[1]s

import (
	"fmt"
	"sort"
	"strings"
)

// Version changes when the library does.
const Version = "%[1]s-v1"

// Describe returns a line naming the library and its caller.
func Describe(caller string) string {
	words := strings.Fields(caller + " uses %[1]s " + Version)
	sort.Strings(words)
	return fmt.Sprintf("%%s (%%d words, seed %%d)", strings.Join(words, " "), len(words), Seed())
}

// Seed is a deterministic number of this library.
func Seed() int {
	s := %[2]d
	for i := 0; i < 10; i++ {
		s = (s*31 + i) %% 1000003
	}
	return s
}
`, lib, k+1)
}

func serviceSource(svc string, imports, calls []string) string {
	return fmt.Sprintf(`// Command %[1]s is a generated service: it serves /healthz with its version and
// what its libraries say.
package main

import (
	"fmt"
	"net/http"
	"os"

%[2]s
)

// version is what /healthz reports; benchmarks edit this line.
%[3]s

func main() {
	http.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, "ok %[1]s %%s\n", version)
	})
	http.HandleFunc("/libs", func(w http.ResponseWriter, _ *http.Request) {
		for _, line := range []string{%[4]s} {
			fmt.Fprintln(w, line)
		}
	})
	addr := ":" + os.Getenv("PORT")
	if addr == ":" {
		addr = ":8080"
	}
	if err := http.ListenAndServe(addr, nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
`, svc, strings.Join(imports, "\n"), VersionLine(svc+"-v1"), strings.Join(calls, ", "))
}

func deployYAML(svc string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: ConfigMap
metadata:
  name: %[1]s-config
data:
  SERVICE: %[1]s
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: %[1]s
  labels:
    app: %[1]s
spec:
  replicas: 1
  selector:
    matchLabels:
      app: %[1]s
  template:
    metadata:
      labels:
        app: %[1]s
    spec:
      containers:
        - name: %[1]s
          image: %[1]s
          ports:
            - containerPort: 8080
          envFrom:
            - configMapRef:
                name: %[1]s-config
          readinessProbe:
            httpGet:
              path: /healthz
              port: 8080
---
apiVersion: v1
kind: Service
metadata:
  name: %[1]s
spec:
  selector:
    app: %[1]s
  ports:
    - port: 80
      targetPort: 8080
`, svc)
}

// writer writes files, keeping the first error; unchanged files are left alone
// (so their mtimes, and watchers, are undisturbed on a re-run).
type writer struct {
	dir string
	err error
}

func (w *writer) write(rel, content string, mode os.FileMode) {
	if w.err != nil {
		return
	}
	p := filepath.Join(w.dir, filepath.FromSlash(rel))
	if old, err := os.ReadFile(p); err == nil && string(old) == content {
		return
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		w.err = err
		return
	}
	w.err = os.WriteFile(p, []byte(content), mode)
	if w.err == nil {
		w.err = os.Chmod(p, mode)
	}
}

func (w *writer) file(rel, content string) { w.write(rel, content, 0o644) }
func (w *writer) exec(rel, content string) { w.write(rel, content, 0o755) }

// Git runs git in dir with a fixed identity and returns its output.
func Git(dir string, args ...string) (string, error) {
	cmd := exec.Command("git", append([]string{"-C", dir, "-c", "user.name=bench", "-c", "user.email=bench@slipway.invalid", "-c", "commit.gpgsign=false"}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out)), nil
}

// commitAll makes dir a git repository (if needed) and commits everything in it.
func commitAll(dir, msg string) error {
	if _, err := os.Stat(filepath.Join(dir, ".git")); err != nil {
		if _, err := Git(dir, "init", "--quiet", "--initial-branch=main"); err != nil {
			return err
		}
	}
	if _, err := Git(dir, "add", "-A"); err != nil {
		return err
	}
	if st, err := Git(dir, "status", "--porcelain"); err != nil || st == "" {
		return err
	}
	_, err := Git(dir, "commit", "--quiet", "-m", msg)
	return err
}

// CommitAll commits every change in the workspace's repository.
func CommitAll(dir, msg string) error { return commitAll(dir, msg) }
