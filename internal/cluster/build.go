package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"
)

// kubeBinaries are the Kubernetes binaries an instance runs, and their packages.
var kubeBinaries = []struct{ name, pkg string }{
	{"etcd", "go.etcd.io/etcd/server/v3"}, // the etcd that k8s.io/kubernetes pins
	{"kube-apiserver", "k8s.io/kubernetes/cmd/kube-apiserver"},
	{"kube-controller-manager", "k8s.io/kubernetes/cmd/kube-controller-manager"},
	{"kube-scheduler", "k8s.io/kubernetes/cmd/kube-scheduler"},
	{"kubectl", "k8s.io/kubernetes/cmd/kubectl"},
	// The real node's: built last, so a cold build gives the control plane first.
	{"kubelet", "k8s.io/kubernetes/cmd/kubelet"},
	{"kube-proxy", "k8s.io/kubernetes/cmd/kube-proxy"},
}

// kwokStageFiles are the Stage objects kwok runs with (kwok >= 0.7 refuses to start
// without any): the "fast" set kwokctl uses, from kwok's own module.
var kwokStageFiles = []string{
	"node/fast/node-initialize.yaml",
	"node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
	"pod/fast/pod-ready.yaml",
	"pod/fast/pod-complete.yaml",
	"pod/fast/pod-delete.yaml",
}

// binaries are the resolved paths of everything an instance runs.
type binaries struct {
	kube         map[string]string // etcd, kube-apiserver, ..., kubectl
	kwok         string
	kwokStages   string
	registry     string
	registryKind string // RegistryDistribution or RegistryCrane
	// The real node's.
	containerd, shim, coredns, pause string
}

// builder finds or builds the binaries, reporting progress.
type builder struct {
	cfg   Config
	l     layout
	p     *progress
	goBin string
	built []string // what this run built or installed
}

func (b *builder) ensure(ctx context.Context) (binaries, error) {
	var bins binaries
	var err error
	if bins.kube, err = b.ensureKube(ctx); err != nil {
		return bins, err
	}
	// One slipway process at a time builds or installs tools (the check is cheap when cached).
	unlock, err := lockFile(ctx, filepath.Join(b.l.tools, ".lock"), func() {
		b.p.printf("waiting for another slipway process installing tools into %s", b.l.tools)
	})
	if err != nil {
		return bins, err
	}
	defer unlock()
	if b.cfg.FakeNodes > 0 {
		if bins.kwok, bins.kwokStages, err = b.ensureKwok(ctx); err != nil {
			return bins, err
		}
	} else if err := b.ensureNode(ctx, &bins); err != nil {
		return bins, err
	}
	bins.registryKind, bins.registry, err = b.ensureRegistry(ctx)
	return bins, err
}

// goEnv is the environment of every go command we run: a static build with the
// local toolchain, outside any go.work, allowed to update the wrapper's go.mod.
func goEnv() []string {
	return append(os.Environ(), "CGO_ENABLED=0", "GOWORK=off", "GOTOOLCHAIN=local", "GOFLAGS=-mod=mod")
}

func (b *builder) findGo() (string, error) {
	if b.goBin != "" {
		return b.goBin, nil
	}
	if p, err := exec.LookPath("go"); err == nil {
		b.goBin = p
		return p, nil
	}
	if p := "/usr/local/go/bin/go"; isExecutable(p) {
		b.goBin = p
		return p, nil
	}
	return "", fmt.Errorf("building the cluster's binaries needs the go command; put Go on PATH or set KUBEBUILDER_ASSETS")
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// ensureKube returns the Kubernetes binaries: from KubeAssetsDir when it has
// them, else from the cache, building the missing ones first.
func (b *builder) ensureKube(ctx context.Context) (map[string]string, error) {
	paths := map[string]string{}
	var missing []int
	for i, kb := range kubeBinaries {
		if b.cfg.KubeAssetsDir != "" {
			if p := filepath.Join(b.cfg.KubeAssetsDir, kb.name); isExecutable(p) {
				paths[kb.name] = p
				continue
			}
		}
		paths[kb.name] = filepath.Join(b.l.k8sBin, kb.name)
		if !isExecutable(paths[kb.name]) {
			missing = append(missing, i)
		}
	}
	if len(missing) == 0 {
		return paths, nil
	}
	if err := os.MkdirAll(b.l.k8sSrc, 0o755); err != nil {
		return nil, err
	}
	unlock, err := lockFile(ctx, b.l.k8sBin+".lock", func() {
		b.p.printf("waiting for another slipway process building Kubernetes %s", b.cfg.KubernetesVersion)
	})
	if err != nil {
		return nil, err
	}
	defer unlock()
	if err := os.MkdirAll(b.l.k8sBin, 0o755); err != nil {
		return nil, err
	}
	logPath := filepath.Join(b.l.k8sSrc, "build.log")
	b.p.printf("building Kubernetes %s from source into %s (cold: about 5 minutes on 2 cores); log: %s",
		b.cfg.KubernetesVersion, b.l.k8sBin, logPath)
	if err := b.prepareWrapper(ctx, logPath); err != nil {
		return nil, err
	}
	minor := strings.Split(strings.TrimPrefix(b.cfg.KubernetesVersion, "v1."), ".")[0]
	const v = "k8s.io/component-base/version"
	ldflags := fmt.Sprintf("-s -w -X %s.gitVersion=%s -X %s.gitMajor=1 -X %s.gitMinor=%s -X %s.gitTreeState=clean",
		v, b.cfg.KubernetesVersion, v, v, minor, v)
	for n, i := range missing {
		kb := kubeBinaries[i]
		if isExecutable(paths[kb.name]) { // built by another process while we waited
			continue
		}
		tmp := filepath.Join(b.l.k8sBin, "."+kb.name+".tmp")
		what := fmt.Sprintf("%s (%d/%d)", kb.name, n+1, len(missing))
		if err := b.runGo(ctx, b.l.k8sSrc, logPath, "building "+what, nil,
			"build", "-v", "-trimpath", "-ldflags", ldflags, "-o", tmp, kb.pkg); err != nil {
			return nil, err
		}
		if err := os.Rename(tmp, paths[kb.name]); err != nil {
			return nil, err
		}
		b.built = append(b.built, kb.name)
	}
	return paths, nil
}

// prepareWrapper writes the module the Kubernetes binaries are built in.
// k8s.io/kubernetes replaces every k8s.io/* module with ./staging/..., which only
// exists in its git repository; the wrapper replaces each with the published
// k8s.io/<name> v0.<minor>.<patch> instead.
func (b *builder) prepareWrapper(ctx context.Context, logPath string) error {
	goMod := filepath.Join(b.l.k8sSrc, "go.mod")
	if _, err := os.Stat(filepath.Join(b.l.k8sSrc, "go.sum")); err == nil {
		return nil // tidied before
	}
	if err := os.MkdirAll(b.l.noModule, 0o755); err != nil {
		return err
	}
	info, err := b.modDownload(ctx, "k8s.io/kubernetes@"+b.cfg.KubernetesVersion)
	if err != nil {
		return err
	}
	upstream, err := os.ReadFile(info.GoMod)
	if err != nil {
		return err
	}
	mod, err := wrapperGoMod(b.cfg.KubernetesVersion, upstream)
	if err != nil {
		return err
	}
	if err := os.WriteFile(goMod, []byte(mod), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(b.l.k8sSrc, "tools.go"), []byte(wrapperTools()), 0o644); err != nil {
		return err
	}
	return b.runGo(ctx, b.l.k8sSrc, logPath, "downloading modules (go mod tidy)", nil, "mod", "tidy")
}

var stagingReplaceRE = regexp.MustCompile(`(?m)^\s*(?:replace\s+)?(k8s\.io/[A-Za-z0-9._-]+)\s+=>\s+\./staging/`)

// wrapperGoMod renders the wrapper module's go.mod from k8s.io/kubernetes' own.
func wrapperGoMod(version string, upstream []byte) (string, error) {
	staging := "v0." + strings.TrimPrefix(version, "v1.")
	var sb strings.Builder
	sb.WriteString("// Generated by slipway: builds the Kubernetes binaries from the Go module proxy.\n")
	sb.WriteString("module slipway.local/kube-binaries\n\n")
	for _, line := range strings.Split(string(upstream), "\n") {
		if strings.HasPrefix(line, "go ") || strings.HasPrefix(line, "godebug ") {
			sb.WriteString(line + "\n")
		}
	}
	fmt.Fprintf(&sb, "\nrequire k8s.io/kubernetes %s\n\nreplace (\n", version)
	matches := stagingReplaceRE.FindAllSubmatch(upstream, -1)
	if len(matches) == 0 {
		return "", fmt.Errorf("k8s.io/kubernetes@%s: no ./staging replacements in its go.mod", version)
	}
	for _, m := range matches {
		fmt.Fprintf(&sb, "\t%s => %s %s\n", m[1], m[1], staging)
	}
	sb.WriteString(")\n")
	return sb.String(), nil
}

func wrapperTools() string {
	var sb strings.Builder
	sb.WriteString("//go:build tools\n\n// Package tools makes `go mod tidy` keep what the binaries need.\npackage tools\n\nimport (\n")
	for _, kb := range kubeBinaries {
		fmt.Fprintf(&sb, "\t_ %q\n", kb.pkg)
	}
	sb.WriteString(")\n")
	return sb.String()
}

type modInfo struct {
	Dir, GoMod, Error string
}

// modDownload downloads a module version (outside any module) and returns where it is.
func (b *builder) modDownload(ctx context.Context, modVersion string) (modInfo, error) {
	goBin, err := b.findGo()
	if err != nil {
		return modInfo{}, err
	}
	cmd := exec.CommandContext(ctx, goBin, "mod", "download", "-json", modVersion)
	cmd.Dir = b.l.noModule
	cmd.Env = goEnv()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var info modInfo
	_ = json.Unmarshal(out, &info)
	if err != nil || info.Error != "" || info.GoMod == "" {
		return info, fmt.Errorf("go mod download %s: %v %s %s", modVersion, err, info.Error, stderr.String())
	}
	return info, nil
}

// runGo runs a go command with its output in logPath, printing what it is doing
// and, every 15 seconds, how long it has been at it and the last package built.
func (b *builder) runGo(ctx context.Context, dir, logPath, what string, env []string, args ...string) error {
	goBin, err := b.findGo()
	if err != nil {
		return err
	}
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	fmt.Fprintf(logf, "\n==== %s go %s\n", time.Now().Format(time.RFC3339), strings.Join(args, " "))
	lw := &lastLineWriter{w: logf}
	cmd := exec.CommandContext(ctx, goBin, args...)
	cmd.Dir = dir
	cmd.Env = append(goEnv(), env...)
	cmd.Stdout, cmd.Stderr = lw, lw
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 10 * time.Second

	start := time.Now()
	b.p.printf("  %s", what)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(15 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				b.p.printf("  %s: %s so far, at %s", what, time.Since(start).Round(time.Second), lw.last())
			}
		}
	}()
	err = cmd.Run()
	close(done)
	wg.Wait()
	if err != nil {
		return fmt.Errorf("%s: go %s: %w; last lines of %s:\n%s", what, args[0], err, logPath, tailFile(logPath, 20))
	}
	b.p.printf("  %s: done in %s", what, time.Since(start).Round(time.Second))
	return nil
}

// lastLineWriter passes output through and remembers its last line.
type lastLineWriter struct {
	w    io.Writer
	mu   sync.Mutex
	line string
}

func (l *lastLineWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	if lines := strings.Split(strings.TrimRight(string(p), "\n"), "\n"); lines[len(lines)-1] != "" {
		l.line = lines[len(lines)-1]
	}
	l.mu.Unlock()
	return l.w.Write(p)
}

func (l *lastLineWriter) last() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.line == "" {
		return "(no output yet)"
	}
	return l.line
}

// kwokStagesFile names the stages file by its content's version, so that a running
// kwok started with older stages differs in its arguments and is restarted.
const kwokStagesFile = "kwok-stages-slipway2.yaml"

// ensureKwok returns kwok and its stages file, building them into the cache.
func (b *builder) ensureKwok(ctx context.Context) (bin, stages string, err error) {
	dir := filepath.Join(b.l.tools, "kwok-"+b.cfg.KwokVersion)
	bin, stages = filepath.Join(dir, "kwok"), filepath.Join(dir, kwokStagesFile)
	if !isExecutable(bin) {
		tmp, err := b.goInstall(ctx, "kwok "+b.cfg.KwokVersion, "sigs.k8s.io/kwok/cmd/kwok@"+b.cfg.KwokVersion)
		if err != nil {
			return "", "", err
		}
		defer os.RemoveAll(tmp)
		if err := os.RemoveAll(dir); err != nil {
			return "", "", err
		}
		if err := os.Rename(tmp, dir); err != nil {
			return "", "", err
		}
		b.built = append(b.built, "kwok")
	}
	if fileExists(stages) {
		return bin, stages, nil
	}
	info, err := b.modDownload(ctx, "sigs.k8s.io/kwok@"+b.cfg.KwokVersion)
	if err != nil {
		return "", "", err
	}
	doc, err := kwokStages(filepath.Join(info.Dir, "kustomize", "stage"))
	if err != nil {
		return "", "", err
	}
	if err := os.WriteFile(stages+".tmp", doc, 0o644); err != nil {
		return "", "", err
	}
	return bin, stages, os.Rename(stages+".tmp", stages)
}

// kwokStages concatenates kwok's stage files into one multi-document YAML file,
// with slipway's own stages added (see simulatedFailureStage).
func kwokStages(stageDir string) ([]byte, error) {
	var buf bytes.Buffer
	for _, f := range kwokStageFiles {
		b, err := os.ReadFile(filepath.Join(stageDir, f))
		if err != nil {
			return nil, fmt.Errorf("kwok stages: %w", err)
		}
		if f == "pod/fast/pod-ready.yaml" {
			// Pods that ask for a simulated failure must not become ready.
			if b, err = addMatchExpression(b, simulateNotRequested); err != nil {
				return nil, fmt.Errorf("kwok stages: %s: %w", f, err)
			}
		}
		buf.WriteString("---\n")
		buf.Write(bytes.TrimRight(b, "\n"))
		buf.WriteString("\n")
	}
	buf.WriteString("---\n")
	buf.WriteString(simulatedFailureStage)
	return buf.Bytes(), nil
}

// SimulateAnnotation on a pod template asks the local cluster, which runs no
// containers, to report its containers as failing the way a real cluster would:
// the only supported value is "CrashLoopBackOff".
const SimulateAnnotation = "slipway.dev/simulate"

const simulateNotRequested = `    - key: '.metadata.annotations["slipway.dev/simulate"]'
      operator: 'DoesNotExist'
`

// simulatedFailureStage makes pods annotated slipway.dev/simulate: CrashLoopBackOff
// run with every container waiting in CrashLoopBackOff after a failed start.
const simulatedFailureStage = `apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: slipway-pod-crashloop
spec:
  resourceRef:
    apiGroup: v1
    kind: Pod
  selector:
    matchExpressions:
    - key: '.metadata.deletionTimestamp'
      operator: 'DoesNotExist'
    - key: '.status.phase'
      operator: 'In'
      values:
      - 'Pending'
    - key: '.metadata.annotations["slipway.dev/simulate"]'
      operator: 'In'
      values:
      - 'CrashLoopBackOff'
  next:
    statusTemplate: |
      {{ $now := Now }}
      phase: Running
      startTime: {{ $now | Quote }}
      conditions:
      - lastTransitionTime: {{ $now | Quote }}
        status: "True"
        type: Initialized
      - lastTransitionTime: {{ $now | Quote }}
        status: "False"
        reason: ContainersNotReady
        type: Ready
      - lastTransitionTime: {{ $now | Quote }}
        status: "False"
        reason: ContainersNotReady
        type: ContainersReady
      containerStatuses:
      {{ range .spec.containers }}
      - image: {{ .image | Quote }}
        name: {{ .name | Quote }}
        ready: false
        restartCount: 3
        lastState:
          terminated:
            exitCode: 1
            reason: Error
            startedAt: {{ $now | Quote }}
            finishedAt: {{ $now | Quote }}
        state:
          waiting:
            reason: CrashLoopBackOff
            message: back-off 40s restarting failed container={{ .name }}
      {{ end }}
`

// addMatchExpression adds an expression to the first matchExpressions list of a
// Stage document.
func addMatchExpression(doc []byte, expr string) ([]byte, error) {
	const anchor = "    matchExpressions:\n"
	i := bytes.Index(doc, []byte(anchor))
	if i < 0 {
		return nil, fmt.Errorf("no selector.matchExpressions to extend")
	}
	i += len(anchor)
	return append(append(append([]byte{}, doc[:i]...), expr...), doc[i:]...), nil
}

// goInstall installs a command with `go install pkg@version` into a new temporary
// folder under the tools cache and returns that folder.
func (b *builder) goInstall(ctx context.Context, what string, pkgVersions ...string) (string, error) {
	if err := os.MkdirAll(b.l.noModule, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(b.l.tools, ".install-")
	if err != nil {
		return "", err
	}
	if err := os.Chmod(tmp, 0o755); err != nil { // MkdirTemp makes it private
		return "", err
	}
	logPath := filepath.Join(b.l.tools, "build.log")
	if err := b.runGo(ctx, b.l.noModule, logPath, fmt.Sprintf("building %s (go install; log: %s)", what, logPath), []string{"GOBIN=" + tmp},
		append([]string{"install", "-v", "-trimpath", "-ldflags", "-s -w"}, pkgVersions...)...); err != nil {
		os.RemoveAll(tmp)
		return "", err
	}
	return tmp, nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
