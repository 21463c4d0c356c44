// Command bench runs slipway's benchmarks: programs that print numbers, ratios
// against a baseline measured in the same run, and one GOAL line per goal. Nothing
// asserts. Run it through bench/run (see bench/README.md):
//
//	bench/run gen --dir DIR --services 20 --libs 6 [--git]
//	bench/run cluster up|down|env
//	bench/run image     [--reps 7]
//	bench/run dev       --ws shop|gen20|gen200 [--reps 5] [--ibazel] [--idle 30s]
//	bench/run index     [--targets 5000] [--ws gen200]
//	bench/run affected  [--services 200] [--reps 3]
//	bench/run live      [--reps 5] [--ibazel]
//	bench/run all
//	bench/run clean
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/slipway-dev/slipway/bench/gen"
	"github.com/slipway-dev/slipway/internal/cluster"
)

// opts are the flags every subcommand shares.
var opts struct {
	root    string // scratch folder: workspaces, binaries, results
	slipway string // the slipway checkout workspaces depend on
	down    bool   // stop the bench cluster at the end
}

func usage() {
	fmt.Fprintf(os.Stderr, `usage: bench/run [--root DIR] [--slipway DIR] <command> [flags]

commands:
  gen       write a generated workspace (--dir, --services, --libs, --git, --ibazel)
  cluster   up | down | env: the bench cluster (instance "bench", ports of its own)
  image     image assembly vs tar|sha256sum and ko; bytes pushed after a one-line change
  dev       the dev loop: edit -> applied vs bazel build of one binary, and vs ibazel
  index     affected-set lookup time on a synthetic 5,000+ target graph (and a real one)
  affected  slipway affected --base HEAD~1 vs building all deployables at both commits
  live      live update vs full rollout vs bazel build, write -> served through the port-forward (real node)
  all       image, index, dev (shop, gen20 with ibazel, gen200), affected, live; then cluster down
  clean     delete the workspaces' output bases, --root and the bench cluster's state
`)
}

func main() {
	wd, _ := os.Getwd()
	g := flag.NewFlagSet("bench", flag.ExitOnError)
	g.Usage = usage
	g.StringVar(&opts.root, "root", envOr("SLIPWAY_BENCH_ROOT", "/tmp/slipway-bench"), "scratch folder for workspaces, tools and results ($SLIPWAY_BENCH_ROOT)")
	g.StringVar(&opts.slipway, "slipway", envOr("SLIPWAY_BENCH_SLIPWAY", wd), "the slipway checkout generated workspaces depend on ($SLIPWAY_BENCH_SLIPWAY; default: the current directory)")
	_ = g.Parse(os.Args[1:])
	if g.NArg() == 0 {
		usage()
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cmd, args := g.Arg(0), g.Args()[1:]
	var err error
	switch cmd {
	case "gen":
		err = genCmd(args)
	case "cluster":
		err = clusterCmd(ctx, args)
	case "image":
		err = imageCmd(ctx, args)
	case "dev":
		err = devCmd(ctx, args)
	case "index":
		err = indexCmd(ctx, args)
	case "affected":
		err = affectedCmd(ctx, args)
	case "live":
		err = liveCmd(ctx, args)
	case "all":
		err = allCmd(ctx, args)
	case "clean":
		err = cleanCmd(ctx)
	default:
		usage()
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench %s: %v\n", cmd, err)
		os.Exit(1)
	}
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func genCmd(args []string) error {
	fs := flag.NewFlagSet("gen", flag.ExitOnError)
	o := gen.Options{Slipway: opts.slipway}
	fs.StringVar(&o.Dir, "dir", "", "where to write the workspace (required)")
	fs.IntVar(&o.Services, "services", 20, "number of services")
	fs.IntVar(&o.Libs, "libs", 0, "number of shared libraries (default: services/4, at least 3)")
	fs.StringVar(&o.Namespace, "namespace", "bench-{user}", "the manifests' namespace attribute")
	fs.BoolVar(&o.Git, "git", false, "git init and commit the generated files")
	fs.BoolVar(&o.IBazel, "ibazel", false, "add //tools/ibazel:ci (ibazel's baseline)")
	_ = fs.Parse(args)
	if o.Dir == "" {
		return fmt.Errorf("--dir is required")
	}
	if o.Libs == 0 {
		o.Libs = max(3, o.Services/4)
	}
	lay, err := gen.Generate(o)
	if err != nil {
		return err
	}
	fmt.Printf("wrote %s: %d services, %d libraries (slipway from %s)\n", o.Dir, len(lay.Services), len(lay.Libs), o.Slipway)
	return nil
}

// Bench cluster: an instance of its own, on ports no other instance uses (the
// default one has 2379/6443/5000/..., the e2e one 12379/16443/15000/...).
func benchClusterConfig() cluster.Config {
	cfg := cluster.DefaultConfig()
	cfg.Name = "bench"
	cfg.Ports = cluster.Ports{Etcd: 24379, EtcdPeer: 24380, APIServer: 26443, Registry: 25500,
		ControllerManager: 30257, Scheduler: 30259, Kwok: 30247,
		Kubelet: 30250, KubeletHealthz: 30248, KubeProxy: 30256, KubeProxyMetrics: 30249, CoreDNS: 28181}
	// The 200-service benchmarks measure slipway, not pods: fake (kwok) nodes.
	// The live benchmark runs pods: benchClusterReal sets FakeNodes to 0.
	cfg.FakeNodes = 1
	cfg.Log = os.Stderr
	return cfg
}

// benchCluster starts the bench cluster with fake nodes (a no-op when it is up
// so) and returns it.
func benchCluster(ctx context.Context) (*cluster.Cluster, error) {
	return benchClusterMode(ctx, benchClusterConfig(), benchClusterRealConfig())
}

// benchClusterReal is the bench cluster with a real node (kubelet, containerd):
// pods run, port-forwards and execs reach them.
func benchClusterReal(ctx context.Context) (*cluster.Cluster, error) {
	return benchClusterMode(ctx, benchClusterRealConfig(), benchClusterConfig())
}

// benchClusterRealConfig is the real-node instance, "bench-node": the same ports
// as "bench", another name, because a real node's network ranges derive from the
// instance's name and "bench" gets the same ones as "e2e" (10.240.83.0/24,
// 10.242.83.0/30): with the e2e instance up, a real-node "bench" cannot start.
func benchClusterRealConfig() cluster.Config {
	cfg := benchClusterConfig()
	cfg.Name = "bench-node"
	cfg.FakeNodes = 0
	return cfg
}

// benchClusterMode starts the instance cfg (a no-op when it is up), stopping
// other first: the benchmarks' other instance, on the same ports.
func benchClusterMode(ctx context.Context, cfg, other cluster.Config) (*cluster.Cluster, error) {
	if c, err := cluster.Load(cfg); err == nil {
		if st, err := cluster.Status(ctx, cfg); err == nil && st.Up {
			return c, nil
		}
	}
	if err := cluster.Down(ctx, other, false); err != nil {
		return nil, fmt.Errorf("stopping the bench instance %q (it uses the same ports): %w", other.Name, err)
	}
	return cluster.Up(ctx, cfg)
}

func clusterCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("cluster", flag.ExitOnError)
	real := fs.Bool("real-node", false, "up: a real node (kubelet, containerd; the live benchmark's) instead of a fake one")
	if len(args) > 0 {
		_ = fs.Parse(args[1:])
		args = append(args[:1], fs.Args()...)
	}
	if len(args) != 1 {
		return fmt.Errorf("usage: cluster up|env [--real-node], cluster down")
	}
	switch args[0] {
	case "up":
		up := benchCluster
		if *real {
			up = benchClusterReal
		}
		c, err := up(ctx)
		if err != nil {
			return err
		}
		fmt.Print(c.ShellEnv())
		return nil
	case "down":
		return errors.Join(cluster.Down(ctx, benchClusterConfig(), false), cluster.Down(ctx, benchClusterRealConfig(), false))
	case "env":
		cfg := benchClusterConfig()
		if *real {
			cfg = benchClusterRealConfig()
		}
		c, err := cluster.Load(cfg)
		if err != nil {
			return err
		}
		fmt.Print(c.ShellEnv())
		return nil
	}
	return fmt.Errorf("usage: cluster up|down|env")
}

// workspaceDir is where a named benchmark workspace lives.
func workspaceDir(name string) string { return filepath.Join(opts.root, "ws", name) }

// prepareWorkspace writes (or refreshes) a named workspace: "shop" (a copy of
// examples/shop, as the e2e tests make it) or "genN" (N generated services).
func prepareWorkspace(name string, ibazel bool) (*workspace, error) {
	dir := workspaceDir(name)
	if name == "shop" {
		return prepareShop(dir, ibazel)
	}
	var n int
	if _, err := fmt.Sscanf(name, "gen%d", &n); err != nil || n < 1 {
		return nil, fmt.Errorf("unknown workspace %q: want shop or genN (e.g. gen20, gen200)", name)
	}
	lay, err := gen.Generate(gen.Options{Dir: dir, Services: n, Libs: max(3, n/4), Slipway: opts.slipway,
		Namespace: name + "-{user}", IBazel: ibazel})
	if err != nil {
		return nil, err
	}
	w := &workspace{name: name, dir: dir, devTarget: "//:dev", pattern: "//services/..."}
	for _, s := range lay.Services {
		w.services = append(w.services, service{name: s, file: gen.MainFile(s), binary: gen.BinaryLabel(s), deploy: gen.DeployLabel(s)})
	}
	return w, nil
}

// workspace is a benchmark workspace and the services it deploys.
type workspace struct {
	name      string
	dir       string
	devTarget string // the dev rule target
	pattern   string // the deployables
	services  []service
}

type service struct {
	name   string
	file   string // the Go file holding `const version`
	binary string // its go_binary
	deploy string // its manifests target
}

func prepareShop(dir string, ibazel bool) (*workspace, error) {
	src := filepath.Join(opts.slipway, "examples", "shop")
	if err := copyTree(src, filepath.Join(dir, "examples", "shop")); err != nil {
		return nil, err
	}
	files := map[string]string{
		"MODULE.bazel": fmt.Sprintf(`module(name = "bench_shop")

bazel_dep(name = "slipway", version = "0.1.0")
local_path_override(
    module_name = "slipway",
    path = %q,
)

bazel_dep(name = "rules_go", version = "0.59.0")

go_sdk = use_extension("@rules_go//go:extensions.bzl", "go_sdk")
go_sdk.host()
`, opts.slipway),
		".bazelrc":    "common --noenable_workspace\ncommon --lockfile_mode=off\nbuild --color=no --curses=no\n",
		".gitignore":  "/bazel-*\n",
		"BUILD.bazel": "",
	}
	for rel, content := range files {
		if err := writeFile(filepath.Join(dir, rel), content); err != nil {
			return nil, err
		}
	}
	w := &workspace{name: "shop", dir: dir, devTarget: "//examples/shop:dev", pattern: "//examples/shop/..."}
	var deploys []string
	for _, s := range []string{"frontend", "catalog", "orders", "worker"} {
		// The changes to the copy: the services' go_binary builds pure (static,
		// cgo-free), as the image does, so that `bazel build //examples/shop/X:X`
		// (the floor) links the same binary the loop puts in the image.
		build := filepath.Join(dir, "examples", "shop", s, "BUILD.bazel")
		b, err := os.ReadFile(build)
		if err != nil {
			return nil, err
		}
		text := string(b)
		if !strings.Contains(text, `pure = "on"`) {
			text = strings.Replace(text, "go_binary(\n", "go_binary(\n    pure = \"on\",\n", 1)
		}
		// And the deploy targets are visible to //tools/ibazel:ci, ibazel's baseline.
		if !strings.Contains(text, "manifests(\n    name = \"deploy\",\n    visibility") {
			text = strings.Replace(text, "manifests(\n    name = \"deploy\",\n", "manifests(\n    name = \"deploy\",\n    visibility = [\"//visibility:public\"],\n", 1)
		}
		if err := writeFile(build, text); err != nil {
			return nil, err
		}
		w.services = append(w.services, service{name: s, file: "examples/shop/" + s + "/main.go",
			binary: "//examples/shop/" + s + ":" + s, deploy: "//examples/shop/" + s + ":deploy"})
		deploys = append(deploys, "//examples/shop/"+s+":deploy")
	}
	if ibazel {
		if err := gen.IBazelFiles(dir, w.pattern, deploys); err != nil {
			return nil, err
		}
	}
	return w, nil
}

func allCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("all", flag.ExitOnError)
	reps := fs.Int("reps", 7, "repetitions of each timed step")
	keep := fs.Bool("keep-cluster", false, "leave the bench cluster running at the end")
	_ = fs.Parse(args)
	r := fmt.Sprint(*reps)
	steps := []struct {
		name string
		fn   func(context.Context, []string) error
		args []string
	}{
		{"image", imageCmd, []string{"--reps", r}},
		{"index", indexCmd, nil},
		{"dev shop", devCmd, []string{"--ws", "shop", "--reps", r, "--ibazel"}},
		{"dev gen20", devCmd, []string{"--ws", "gen20", "--reps", r, "--ibazel"}},
		{"dev gen200", devCmd, []string{"--ws", "gen200", "--reps", r, "--real-index"}},
		{"affected", affectedCmd, nil},
		// Last: it restarts the bench cluster with a real node.
		{"live", liveCmd, []string{"--reps", r, "--ibazel"}},
	}
	var failed []string
	for _, s := range steps {
		start := time.Now()
		if err := s.fn(ctx, s.args); err != nil {
			fmt.Fprintf(os.Stderr, "bench %s: %v\n", s.name, err)
			failed = append(failed, s.name)
		}
		logf("%s took %s", s.name, time.Since(start).Round(time.Second))
		if ctx.Err() != nil {
			break
		}
	}
	if !*keep {
		for _, cfg := range []cluster.Config{benchClusterConfig(), benchClusterRealConfig()} {
			if err := cluster.Down(context.Background(), cfg, false); err != nil {
				fmt.Fprintf(os.Stderr, "bench: stopping the bench cluster %q: %v\n", cfg.Name, err)
			}
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("failed: %s", strings.Join(failed, ", "))
	}
	return nil
}

// cleanCmd deletes what the benchmarks leave on disk: each workspace's output base
// (bazel clean --expunge; slipway affected's base worktrees too), the scratch
// folder, and the bench cluster's state (cluster down --purge).
func cleanCmd(ctx context.Context) error {
	var dirs []string
	for _, pattern := range []string{"ws/*", "td/*/*"} {
		m, _ := filepath.Glob(filepath.Join(opts.root, pattern))
		dirs = append(dirs, m...)
	}
	cache, _ := os.UserCacheDir()
	for _, d := range dirs {
		if top, err := gen.Git(d, "rev-parse", "--show-toplevel"); err == nil && top == d {
			sum := sha256.Sum256([]byte(top))
			dirs = append(dirs, filepath.Join(cache, "slipway", "affected", "worktrees", hex.EncodeToString(sum[:6]), "base"))
		}
	}
	for _, d := range dirs {
		if err := expunge(ctx, d); err != nil {
			logf("%v", err)
		}
	}
	for _, cfg := range []cluster.Config{benchClusterConfig(), benchClusterRealConfig()} {
		if err := cluster.Down(ctx, cfg, true); err != nil {
			logf("bench cluster %q: %v", cfg.Name, err)
		}
	}
	return os.RemoveAll(opts.root)
}
