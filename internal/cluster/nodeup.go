package cluster

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// nodeReadyTimeout is how long a (re)started kubelet has to report Ready.
const nodeReadyTimeout = 2 * time.Minute

// fakeNodeSteps start kwok and register its nodes.
func (r *runner) fakeNodeSteps(ctx context.Context, cs *kubernetes.Interface) []func() error {
	return []func() error{
		func() error { return r.start(Kwok) },
		func() error { return applyNodes(ctx, *cs, r.cfg.FakeNodes) },
		func() error { return r.wait(ctx, Kwok, "kwok", controlReadyTimeout, r.probes.kwok) },
		func() error {
			return r.wait(ctx, Kwok, "node "+nodeName, controlReadyTimeout, func(ctx context.Context) error {
				return nodeReady(ctx, *cs, nodeName)
			})
		},
	}
}

// realNodeSteps prepare the host (certificate, network namespace, cgroup root),
// push the sandbox image and start containerd, CoreDNS, kube-proxy and the kubelet.
func (r *runner) realNodeSteps(ctx context.Context, cs *kubernetes.Interface, nw network, server, pause string, bins binaries) []func() error {
	l := r.l
	return []func() error{
		func() error {
			if err := ensureNodeCert(l.pki, time.Now()); err != nil {
				return err
			}
			return writeKubeconfigFor(filepath.Join(l.run, "kubelet.kubeconfig"), l.pki, server, nodeCert, nodeKey)
		},
		func() error { return nw.setUp(ctx) },
		func() error { return ensureCgroupRoot(nw.cgroupRoot) },
		func() error { return r.start(Containerd) },
		func() error {
			pushed, err := pushPause(ctx, pause, bins.pause, filepath.Join(l.data, "pause"))
			if pushed {
				r.p.printf("pushed the sandbox image %s", pause)
			}
			return err
		},
		func() error { return r.start(CoreDNS) },
		func() error { return r.start(KubeProxy) },
		func() error { return r.wait(ctx, Containerd, "containerd", controlReadyTimeout, r.probes.containerd) },
		func() error { return r.startKubelet(ctx, *cs) },
		func() error {
			return r.wait(ctx, Kubelet, "node "+realNodeName+" untainted", controlReadyTimeout, func(ctx context.Context) error {
				return nodeUntainted(ctx, *cs, realNodeName)
			})
		},
		func() error { return r.wait(ctx, KubeProxy, "kube-proxy", controlReadyTimeout, r.probes.kubeProxy) },
		func() error { return r.wait(ctx, CoreDNS, "coredns", controlReadyTimeout, r.probes.coreDNS) },
	}
}

// startKubelet starts the kubelet unless it runs and waits for the node to be
// Ready. The kubelet rewrites a few host sysctls when it starts: they are saved
// before and restored once the node is Ready, under a machine-wide lock so that
// two instances starting at once never save each other's rewritten values.
func (r *runner) startKubelet(ctx context.Context, cs kubernetes.Interface) error {
	ready := func() error {
		// The kubelet's own health first: after a restart the node object still
		// says Ready (its lease has not expired yet) before the new kubelet serves.
		if err := r.wait(ctx, Kubelet, "kubelet", nodeReadyTimeout, r.probes.kubelet); err != nil {
			return err
		}
		return r.wait(ctx, Kubelet, "node "+realNodeName, nodeReadyTimeout, func(ctx context.Context) error {
			return nodeReady(ctx, cs, realNodeName)
		})
	}
	if rec, _ := readRecord(r.l.pids, Kubelet); rec != nil {
		if s, _ := rec.state(); s == procRunning {
			if err := r.start(Kubelet); err != nil { // checks its settings
				return err
			}
			return ready()
		}
	}
	unlock, err := lockFile(ctx, filepath.Join(r.l.tools, ".kubelet-sysctls.lock"), func() {
		r.p.printf("waiting for another instance's kubelet to start")
	})
	if err != nil {
		return err
	}
	defer unlock()
	saved := readSysctls(kubeletSysctls)
	if err := r.start(Kubelet); err != nil {
		return err
	}
	err = ready()
	if rerr := restoreSysctls(saved); rerr != nil {
		return fmt.Errorf("the kubelet changed host sysctls that could not be restored: %w", rerr)
	}
	return err
}

// conflictMode refuses to start a real node next to running fake nodes, or the reverse.
func (r *runner) conflictMode() error {
	for _, name := range append(append([]string{}, Components...), FakeNodeComponents...) {
		if _, ours := r.comps[name]; ours {
			continue
		}
		if rec, _ := readRecord(r.l.pids, name); rec != nil {
			if s, _ := rec.state(); s == procRunning {
				want := "a real node"
				if r.cfg.FakeNodes > 0 {
					want = fmt.Sprintf("%d fake nodes", r.cfg.FakeNodes)
				}
				return fmt.Errorf("instance %q runs %s (pid %d), which %s does not use; run `slipway cluster down%s` first",
					r.cfg.Name, name, rec.PID, want, nameFlag(r.cfg.Name))
			}
		}
	}
	return nil
}

// nodeUntainted fails while the node has a NoSchedule or NoExecute taint (the
// not-ready taint the node lifecycle controller removes).
func nodeUntainted(ctx context.Context, cs kubernetes.Interface, name string) error {
	n, err := cs.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	for _, t := range n.Spec.Taints {
		if t.Effect == corev1.TaintEffectNoSchedule || t.Effect == corev1.TaintEffectNoExecute {
			return fmt.Errorf("node %s: taint %s:%s", name, t.Key, t.Effect)
		}
	}
	return nil
}

func (p *probes) containerd(ctx context.Context) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", p.containerdSocket)
	if err != nil {
		return err
	}
	return c.Close()
}

func (p *probes) kubelet(ctx context.Context) error {
	_, err := get(ctx, p.plain, fmt.Sprintf("http://127.0.0.1:%d/healthz", p.ports.KubeletHealthz))
	return err
}

func (p *probes) kubeProxy(ctx context.Context) error {
	_, err := get(ctx, p.plain, fmt.Sprintf("http://127.0.0.1:%d/livez", p.ports.KubeProxy))
	return err
}

func (p *probes) coreDNS(ctx context.Context) error {
	_, err := get(ctx, p.plain, fmt.Sprintf("http://127.0.0.1:%d/ready", p.ports.CoreDNS))
	return err
}
