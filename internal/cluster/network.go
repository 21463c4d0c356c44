package cluster

import (
	"context"
	"fmt"
	"hash/fnv"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// network is the real node's networking, all of it the instance's own.
//
// Pods attach to a bridge inside a network namespace of the instance ("the node
// namespace"), never the host's: the CNI bridge plugin and kube-proxy's nftables
// rules run there (through wrappers that enter it), so two instances on one
// machine never share a bridge, a chain or a forwarding sysctl, and deleting the
// namespace removes all of it at once. A veth pair links the host (kubelet,
// apiserver, CoreDNS, tests) to it: the host routes the pod and Service ranges
// into the node namespace, which has no default route, so no pod traffic can
// leave the machine.
type network struct {
	podCIDR     netip.Prefix
	serviceCIDR netip.Prefix
	link        netip.Prefix // the veth pair's /30
	hostIP      netip.Addr   // host end of the veth: CoreDNS listens here
	nodeIP      netip.Addr   // node-namespace end
	netns       string       // ip netns name
	hostLink    string       // host end's interface name
	nodeLink    string       // node end's interface name (inside netns)
	bridge      string       // the CNI bridge (inside netns)
	cniNetwork  string       // CNI network name (prefix of CNI's cache files)
	cgroupRoot  string       // the kubelet's cgroup root
}

// netIndex spreads instances over 10.240-10.242.<n>.0 by name.
func netIndex(name string) int {
	h := fnv.New32a()
	h.Write([]byte(name))
	return 10 + int(h.Sum32()%240)
}

func (c Config) network() (network, error) {
	n := netIndex(c.Name)
	pod, svc := c.PodCIDR, c.ServiceCIDR
	if pod == "" {
		pod = fmt.Sprintf("10.240.%d.0/24", n)
	}
	if svc == "" {
		svc = fmt.Sprintf("10.241.%d.0/24", n)
	}
	var nw network
	var err error
	if nw.podCIDR, err = parseCIDR("pod", pod); err != nil {
		return nw, err
	}
	if nw.serviceCIDR, err = parseCIDR("Service", svc); err != nil {
		return nw, err
	}
	if nw.podCIDR.Overlaps(nw.serviceCIDR) {
		return nw, fmt.Errorf("pod CIDR %s and Service CIDR %s overlap", nw.podCIDR, nw.serviceCIDR)
	}
	nw.link = netip.MustParsePrefix(fmt.Sprintf("10.242.%d.0/30", n))
	nw.hostIP = nw.link.Addr().Next()
	nw.nodeIP = nw.hostIP.Next()
	h := fnv.New32a()
	h.Write([]byte(c.Name))
	id := fmt.Sprintf("%08x", h.Sum32())
	nw.netns = "slipway-" + c.Name
	nw.hostLink = "slw" + id
	nw.nodeLink = "slw" + id + "n"
	nw.bridge = "slwbr0"
	nw.cniNetwork = "slipway-" + c.Name
	nw.cgroupRoot = "/slipway-" + c.Name
	return nw, nil
}

func parseCIDR(what, s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil || !p.Addr().Is4() || p.Bits() > 28 || p != p.Masked() {
		return p, fmt.Errorf("%s CIDR %q: want an IPv4 network such as 10.240.0.0/24 (at most /28)", what, s)
	}
	return p, nil
}

// firstIP is the network's first host address (a Service CIDR's is the apiserver's ClusterIP).
func firstIP(p netip.Prefix) netip.Addr { return p.Addr().Next() }

// gateway is the bridge's address: the pod range's first address.
func (nw network) gateway() netip.Addr { return firstIP(nw.podCIDR) }

// netnsPath is where `ip netns` keeps the node namespace.
func (nw network) netnsPath() string { return filepath.Join("/run/netns", nw.netns) }

// ipCmd runs `ip args...`, naming the command in errors.
func ipCmd(ctx context.Context, args ...string) error {
	out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// inNetns runs a command inside the node namespace.
func (nw network) inNetns(ctx context.Context, args ...string) error {
	full := append([]string{"--net=" + nw.netnsPath()}, args...)
	out, err := exec.CommandContext(ctx, "nsenter", full...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("nsenter %s: %v: %s", strings.Join(full, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// setUp creates the node namespace, the veth pair, their addresses and the host
// routes; each step is skipped when already done, so up can repeat it.
func (nw network) setUp(ctx context.Context) error {
	if _, err := os.Stat(nw.netnsPath()); err != nil {
		if err := nw.checkRoutesFree(ctx); err != nil {
			return err
		}
		if err := ipCmd(ctx, "netns", "add", nw.netns); err != nil {
			return err
		}
	}
	if _, err := os.Stat(filepath.Join("/sys/class/net", nw.hostLink)); err != nil {
		steps := [][]string{
			{"link", "add", nw.hostLink, "type", "veth", "peer", "name", nw.nodeLink, "netns", nw.netns},
			{"addr", "add", fmt.Sprintf("%s/%d", nw.hostIP, nw.link.Bits()), "dev", nw.hostLink},
			{"link", "set", nw.hostLink, "up"},
			{"-n", nw.netns, "addr", "add", fmt.Sprintf("%s/%d", nw.nodeIP, nw.link.Bits()), "dev", nw.nodeLink},
			{"-n", nw.netns, "link", "set", nw.nodeLink, "up"},
			{"-n", nw.netns, "link", "set", "lo", "up"},
		}
		for _, s := range steps {
			if err := ipCmd(ctx, s...); err != nil {
				return err
			}
		}
	}
	for _, cidr := range []netip.Prefix{nw.podCIDR, nw.serviceCIDR} {
		if err := ipCmd(ctx, "route", "replace", cidr.String(), "via", nw.nodeIP.String(), "dev", nw.hostLink); err != nil {
			return err
		}
	}
	// The node namespace forwards between the veth and the bridge (its own sysctl, not the host's).
	return nw.inNetns(ctx, "sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward")
}

// checkRoutesFree fails when the host already routes part of our ranges.
func (nw network) checkRoutesFree(ctx context.Context) error {
	out, err := exec.CommandContext(ctx, "ip", "-4", "route", "show").Output()
	if err != nil {
		return fmt.Errorf("ip route show: %w", err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] == "default" {
			continue
		}
		dst, err := netip.ParsePrefix(f[0])
		if err != nil {
			if a, err2 := netip.ParseAddr(f[0]); err2 == nil {
				dst = netip.PrefixFrom(a, 32)
			} else {
				continue
			}
		}
		for _, r := range []struct {
			what string
			p    netip.Prefix
		}{{"pod CIDR", nw.podCIDR}, {"Service CIDR", nw.serviceCIDR}, {"node link", nw.link}} {
			if dst.Overlaps(r.p) {
				return fmt.Errorf("the %s %s overlaps the host route %q: choose other ranges (--pod-cidr, --service-cidr) or another instance name",
					r.what, r.p, strings.TrimSpace(line))
			}
		}
	}
	return nil
}

// tearDown deletes the node namespace (with the bridge, veths and the rules in
// it); the host end of the veth pair and its routes go with its peer.
func (nw network) tearDown(ctx context.Context) error {
	if _, err := os.Stat(filepath.Join("/sys/class/net", nw.hostLink)); err == nil {
		if err := ipCmd(ctx, "link", "del", nw.hostLink); err != nil {
			return err
		}
	}
	if _, err := os.Stat(nw.netnsPath()); err == nil {
		return ipCmd(ctx, "netns", "del", nw.netns)
	}
	return nil
}
