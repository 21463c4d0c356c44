package cluster

import (
	"context"
	"errors"
	"sync"
	"time"
)

// ComponentStatus is the state of one component of an instance.
type ComponentStatus struct {
	Name    string `json:"name"`
	State   string `json:"state"` // running, stopped, exited, pid reused
	PID     int    `json:"pid,omitempty"`
	Binary  string `json:"binary,omitempty"` // what the pid file says the pid runs
	Port    int    `json:"port"`
	Healthy bool   `json:"healthy"`
	Detail  string `json:"detail,omitempty"` // why it is not running or not healthy
	RSSKiB  int64  `json:"rssKiB,omitempty"`
	Log     string `json:"log"`
}

// StatusReport is the state of an instance.
type StatusReport struct {
	Name       string            `json:"name"`
	RunDir     string            `json:"runDir"`
	Up         bool              `json:"up"` // every component running and healthy
	Cluster    *Cluster          `json:"cluster,omitempty"`
	Components []ComponentStatus `json:"components"`
}

// Status reports which components of the instance run (by pid file and
// /proc), their memory and whether their health endpoints answer.
func Status(ctx context.Context, cfg Config) (*StatusReport, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	l := cfg.layout()
	rep := &StatusReport{Name: cfg.Name, RunDir: l.run, Up: true}
	ports := cfg.Ports
	if c, err := Load(cfg); err == nil {
		rep.Cluster, ports = c, c.Ports // what up actually ran with
	} else if !errors.Is(err, ErrNotUp) {
		return nil, err
	}
	mainPort := map[string]*int{Etcd: &ports.Etcd, Registry: &ports.Registry, APIServer: &ports.APIServer,
		ControllerManager: &ports.ControllerManager, Scheduler: &ports.Scheduler, Kwok: &ports.Kwok,
		Kubelet: &ports.Kubelet, KubeProxy: &ports.KubeProxy, CoreDNS: &ports.CoreDNS, Containerd: new(int)}
	names := ComponentsOf(cfg.FakeNodes)
	if rep.Cluster != nil {
		names = ComponentsOf(rep.Cluster.FakeNodes)
	}

	rep.Components = make([]ComponentStatus, len(names))
	running := map[int]bool{}
	for i, name := range names {
		cs := &rep.Components[i]
		*cs = ComponentStatus{Name: name, State: procNone.String(), Log: l.logFile(name)}
		rec, err := readRecord(l.pids, name)
		if err != nil {
			cs.Detail = err.Error()
			continue
		}
		s, pi := rec.state()
		cs.State = s.String()
		if rec == nil {
			continue
		}
		cs.PID, cs.Binary = rec.PID, rec.Binary
		if len(rec.Ports) > 0 { // what it was started with, even if up never finished
			*mainPort[name] = rec.Ports[0]
		}
		if s != procRunning {
			cs.Detail = rec.describe(s, pi)
			continue
		}
		cs.RSSKiB = rssKiB(rec.PID)
		running[i] = true
	}
	pr := newProbesAt(l.pki, ports, l.node().socket)
	var wg sync.WaitGroup
	for i, name := range names {
		cs := &rep.Components[i]
		cs.Port = *mainPort[name]
		if !running[i] {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			defer cancel()
			if err := pr.health(name)(cctx); err != nil {
				cs.Detail = err.Error()
				return
			}
			cs.Healthy = true
		}()
	}
	wg.Wait()
	for _, cs := range rep.Components {
		rep.Up = rep.Up && cs.Healthy
	}
	return rep, nil
}
