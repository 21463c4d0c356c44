package cluster

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// Down stops the processes Up started for the instance, and only those: each pid
// is signalled only while it is still the process recorded in its pid file. It
// stops the kubelet, kube-proxy, CoreDNS, kwok, the scheduler, the controller
// manager and the registry first, then the pods and containerd, undoing what the
// real node changed on the host (see tearDownNode), then the apiserver, then etcd
// (SIGTERM, then SIGKILL after cfg.StopTimeout). With purge it also deletes the
// instance's state (PKI, data, logs); the binary caches stay.
func Down(ctx context.Context, cfg Config, purge bool) error {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return err
	}
	l := cfg.layout()
	p := newProgress(cfg.Log)
	if _, err := os.Stat(l.run); errors.Is(err, fs.ErrNotExist) {
		p.printf("instance %q has no state in %s: nothing to stop", cfg.Name, l.run)
		return nil
	}
	unlock, err := lockFile(ctx, l.lock, func() { p.printf("waiting for another slipway command on instance %q", cfg.Name) })
	if err != nil {
		return err
	}
	defer unlock()

	var errs []error
	stopped := 0
	stop := func(group []string) {
		for _, res := range stopGroup(ctx, l.pids, group, cfg.StopTimeout) {
			if res.err != nil {
				errs = append(errs, fmt.Errorf("%s (pid %d): %w", res.name, res.pid, res.err))
				continue
			}
			stopped++
			p.printf("%s (pid %d) %s", res.name, res.pid, res.action)
		}
	}
	stop(stopFirst)
	if err := tearDownNode(ctx, cfg, l, p, stop); err != nil {
		errs = append(errs, err)
	}
	for _, group := range stopLast {
		stop(group)
	}
	if stopped == 0 && len(errs) == 0 {
		p.printf("instance %q: nothing was running", cfg.Name)
	}
	if len(errs) > 0 {
		if purge {
			errs = append(errs, fmt.Errorf("state in %s kept: some processes could not be stopped", l.run))
		}
		return errors.Join(errs...)
	}
	if purge {
		if err := os.RemoveAll(l.run); err != nil {
			return err
		}
		p.printf("removed %s", l.run)
	}
	return nil
}
