package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/client-go/kubernetes"
)

// Readiness deadlines. The first start of an apiserver on a fresh etcd is the slow one.
const (
	etcdReadyTimeout     = 30 * time.Second
	registryReadyTimeout = 30 * time.Second
	apiReadyTimeout      = 2 * time.Minute
	controlReadyTimeout  = time.Minute
)

// Up brings the instance up: it builds or finds the binaries, creates the PKI and
// kubeconfig, starts every component that is not already running and waits until
// the cluster can run pods. Components already running are left alone, so a second
// Up returns as soon as the readiness checks pass.
func Up(ctx context.Context, cfg Config) (*Cluster, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	l := cfg.layout()
	p := newProgress(cfg.Log)
	for _, d := range []string{l.run, l.data, l.logs, l.pids, l.tools} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	unlock, err := lockFile(ctx, l.lock, func() { p.printf("waiting for another slipway command on instance %q", cfg.Name) })
	if err != nil {
		return nil, err
	}
	defer unlock()

	b := &builder{cfg: cfg, l: l, p: p}
	bins, err := b.ensure(ctx)
	if err != nil {
		return nil, err
	}
	if created, err := ensurePKI(l.pki, cfg.Name, time.Now()); err != nil {
		return nil, fmt.Errorf("PKI: %w", err)
	} else if created {
		p.printf("created the CA, certificates and service-account keys in %s", l.pki)
	}
	nw, _ := cfg.network() // validated
	registryHost := fmt.Sprintf("127.0.0.1:%d", cfg.Ports.Registry)
	var pause string
	if cfg.FakeNodes == 0 {
		if pause, err = pauseRef(registryHost, bins.pause); err != nil {
			return nil, err
		}
	}
	comps, err := components(cfg, l, bins, nw, pause)
	if err != nil {
		return nil, err
	}
	names := ComponentsOf(cfg.FakeNodes)
	r := &runner{cfg: cfg, l: l, p: p, comps: comps, names: names, probes: newProbes(l.pki, cfg.Ports)}
	// Refuse before touching any file when running components have other settings
	// (the kubeconfig must keep pointing at the apiserver that runs).
	for _, name := range names {
		if err := r.conflict(name); err != nil {
			return nil, err
		}
	}
	if err := r.conflictMode(); err != nil {
		return nil, err
	}
	server := fmt.Sprintf("https://127.0.0.1:%d", cfg.Ports.APIServer)
	if err := writeKubeconfig(l.kubeconfig, l.pki, server); err != nil {
		return nil, err
	}
	r.reportPartial()
	var cs kubernetes.Interface
	steps := []func() error{
		func() error { return r.start(Etcd) },
		func() error { return r.start(Registry) }, // independent of Kubernetes: starts while etcd comes up
		func() error { return r.wait(ctx, Etcd, "etcd", etcdReadyTimeout, r.probes.etcd) },
		func() error { return r.start(APIServer) },
		func() error { return r.wait(ctx, Registry, "registry", registryReadyTimeout, r.probes.registry) },
		func() error { return r.wait(ctx, APIServer, "kube-apiserver", apiReadyTimeout, r.probes.apiserver) },
		func() (err error) { cs, err = newClientset(l.kubeconfig); return err },
		func() error { return r.start(ControllerManager) },
		func() error { return r.start(Scheduler) },
	}
	if cfg.FakeNodes > 0 {
		steps = append(steps, r.fakeNodeSteps(ctx, &cs)...)
	} else {
		steps = append(steps, r.realNodeSteps(ctx, &cs, nw, server, pause, bins)...)
	}
	steps = append(steps,
		func() error {
			return r.wait(ctx, ControllerManager, "kube-controller-manager", controlReadyTimeout, r.probes.controllerManager)
		},
		func() error { return r.wait(ctx, Scheduler, "kube-scheduler", controlReadyTimeout, r.probes.scheduler) },
		func() error {
			return r.wait(ctx, ControllerManager, "ServiceAccount default/default", controlReadyTimeout, func(ctx context.Context) error {
				return serviceAccountExists(ctx, cs, "default", "default")
			})
		},
		func() error { return applyRegistryConfigMap(ctx, cs, registryHost) },
	)
	for _, step := range steps {
		if err := step(); err != nil {
			return nil, err
		}
	}

	c := &Cluster{
		Name:              cfg.Name,
		RunDir:            l.run,
		Kubeconfig:        l.kubeconfig,
		Context:           ContextName,
		Server:            server,
		RegistryHost:      registryHost,
		RegistryImpl:      bins.registryKind,
		BinDir:            filepath.Dir(bins.kube["kube-apiserver"]),
		KubectlDir:        filepath.Dir(bins.kube["kubectl"]),
		KubernetesVersion: cfg.KubernetesVersion,
		KwokVersion:       cfg.KwokVersion,
		Ports:             cfg.Ports,
		FakeNodes:         cfg.FakeNodes,
		Built:             b.built,
	}
	if cfg.FakeNodes == 0 {
		c.Node, c.PodCIDR, c.ServiceCIDR, c.DNS = realNodeName, nw.podCIDR.String(), nw.serviceCIDR.String(), nw.hostIP.String()
	}
	js, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := writeFileAtomic(l.instance, append(js, '\n'), 0o644); err != nil {
		return nil, err
	}
	p.printf("cluster %q is up: registry %s (%s), kubeconfig %s", cfg.Name, registryHost, bins.registryKind, l.kubeconfig)
	return c, nil
}

// runner starts components and waits for them.
type runner struct {
	cfg    Config
	l      layout
	p      *progress
	comps  map[string]component
	names  []string // the instance's components, in start order
	probes *probes
}

// reportPartial says so when an earlier up stopped half-way (or a component
// died since): some components run and the others are about to be started.
func (r *runner) reportPartial() {
	var running, stopped []string
	for _, name := range r.names {
		rec, _ := readRecord(r.l.pids, name)
		desc := fmt.Sprintf("%s (port %d)", name, r.comps[name].mainPort())
		if s, _ := rec.state(); s == procRunning {
			running = append(running, desc)
		} else {
			stopped = append(stopped, desc)
		}
	}
	if len(running) > 0 && len(stopped) > 0 {
		r.p.printf("instance %q is partly running: %s running, %s not; starting the rest",
			r.cfg.Name, strings.Join(running, ", "), strings.Join(stopped, ", "))
	}
}

// conflict fails when the component runs with settings other than the wanted ones.
func (r *runner) conflict(name string) error {
	rec, err := readRecord(r.l.pids, name)
	if err != nil {
		return err
	}
	if s, _ := rec.state(); s != procRunning {
		return nil
	}
	if d := argsDiff(rec, r.comps[name]); d != "" {
		return fmt.Errorf("%s is already running (pid %d) with other settings (%s); run `slipway cluster down%s` first",
			name, rec.PID, d, nameFlag(r.cfg.Name))
	}
	return nil
}

// start starts a component unless it is already running, after checking that
// its ports are free.
func (r *runner) start(name string) error {
	c := r.comps[name]
	rec, err := readRecord(r.l.pids, name)
	if err != nil {
		return err
	}
	switch s, pi := rec.state(); s {
	case procRunning:
		if err := r.conflict(name); err != nil {
			return err
		}
		r.p.printf("%s already running (pid %d, port %d)", name, rec.PID, c.mainPort())
		return nil
	case procExited, procReused:
		r.p.printf("%s: stale pid file (%s); starting %s again on port %d", name, rec.describe(s, pi), name, c.mainPort())
		if err := removeRecord(r.l.pids, name); err != nil {
			return err
		}
	}
	for _, pf := range c.ports {
		if err := checkPortFree(name, pf.port, pf.flag, c.binary); err != nil {
			return err
		}
	}
	for _, d := range c.dirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	for path, data := range c.files {
		perm := fs.FileMode(0o644)
		if bytes.HasPrefix(data, []byte("#!")) {
			perm = 0o755
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := writeFileAtomic(path, data, perm); err != nil {
			return err
		}
	}
	rec, err = startDetached(name, c.binary, c.args, c.env, r.l.run, r.l.logFile(name))
	if err != nil {
		return fmt.Errorf("%w; last lines of %s:\n%s", err, r.l.logFile(name), tailFile(r.l.logFile(name), 20))
	}
	rec.Ports = c.portList()
	if err := writeRecord(r.l.pids, rec); err != nil {
		return err
	}
	r.p.printf("%s started (pid %d, port %d, log %s)", name, rec.PID, c.mainPort(), r.l.logFile(name))
	return nil
}

// wait polls check until it passes, the component exits or the deadline passes;
// failures include the component's last log lines.
func (r *runner) wait(ctx context.Context, name, what string, timeout time.Duration, check func(context.Context) error) error {
	logPath := r.l.logFile(name)
	deadline := time.Now().Add(timeout)
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		err := check(cctx)
		cancel()
		if err == nil {
			r.p.printf("%s ready", what)
			return nil
		}
		rec, _ := readRecord(r.l.pids, name)
		if s, pi := rec.state(); s != procRunning {
			return fmt.Errorf("%s: %s exited while starting up (%s); last lines of %s:\n%s",
				what, name, rec.describe(s, pi), logPath, tailFile(logPath, 20))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: not ready after %s: %v; last lines of %s:\n%s", what, timeout, err, logPath, tailFile(logPath, 20))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, context.Cause(ctx))
		case <-t.C:
		}
	}
}
