package cluster

import (
	"context"
	"encoding/json"
	"fmt"
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
	comps, err := components(cfg, l, bins)
	if err != nil {
		return nil, err
	}
	r := &runner{cfg: cfg, l: l, p: p, comps: comps, probes: newProbes(l.pki, cfg.Ports)}
	// Refuse before touching any file when running components have other settings
	// (the kubeconfig must keep pointing at the apiserver that runs).
	for _, name := range Components {
		if err := r.conflict(name); err != nil {
			return nil, err
		}
	}
	server := fmt.Sprintf("https://127.0.0.1:%d", cfg.Ports.APIServer)
	if err := writeKubeconfig(l.kubeconfig, l.pki, server); err != nil {
		return nil, err
	}
	r.reportPartial()
	registryHost := fmt.Sprintf("127.0.0.1:%d", cfg.Ports.Registry)
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
		func() error { return r.start(Kwok) },
		func() error { return applyNode(ctx, cs) },
		func() error {
			return r.wait(ctx, ControllerManager, "kube-controller-manager", controlReadyTimeout, r.probes.controllerManager)
		},
		func() error { return r.wait(ctx, Scheduler, "kube-scheduler", controlReadyTimeout, r.probes.scheduler) },
		func() error { return r.wait(ctx, Kwok, "kwok", controlReadyTimeout, r.probes.kwok) },
		func() error {
			return r.wait(ctx, Kwok, "node "+nodeName, controlReadyTimeout, func(ctx context.Context) error {
				return nodeReady(ctx, cs, nodeName)
			})
		},
		func() error {
			return r.wait(ctx, ControllerManager, "ServiceAccount default/default", controlReadyTimeout, func(ctx context.Context) error {
				return serviceAccountExists(ctx, cs, "default", "default")
			})
		},
		func() error { return applyRegistryConfigMap(ctx, cs, registryHost) },
	}
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
		Built:             b.built,
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
	probes *probes
}

// reportPartial says so when an earlier up stopped half-way (or a component
// died since): some components run and the others are about to be started.
func (r *runner) reportPartial() {
	var running, stopped []string
	for _, name := range Components {
		rec, _ := readRecord(r.l.pids, name)
		desc := fmt.Sprintf("%s (port %d)", name, r.comps[name].ports[0].port)
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
		r.p.printf("%s already running (pid %d, port %d)", name, rec.PID, c.ports[0].port)
		return nil
	case procExited, procReused:
		r.p.printf("%s: stale pid file (%s); starting %s again on port %d", name, rec.describe(s, pi), name, c.ports[0].port)
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
		if err := writeFileAtomic(path, data, 0o644); err != nil {
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
	r.p.printf("%s started (pid %d, port %d, log %s)", name, rec.PID, c.ports[0].port, r.l.logFile(name))
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
