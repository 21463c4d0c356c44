package cluster

import (
	"bufio"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const cgroupFS = "/sys/fs/cgroup"

// cgroupHierarchies are the mounted cgroup hierarchies (v1: one per controller
// set; a v2-only host has one, the root itself).
func cgroupHierarchies() []string {
	if fileExists(filepath.Join(cgroupFS, "cgroup.controllers")) {
		return []string{cgroupFS}
	}
	var out []string
	entries, _ := os.ReadDir(cgroupFS)
	for _, e := range entries {
		p := filepath.Join(cgroupFS, e.Name())
		if fi, err := os.Lstat(p); err == nil && fi.IsDir() && fileExists(filepath.Join(p, "cgroup.procs")) {
			out = append(out, p)
		}
	}
	return out
}

// ensureCgroupRoot creates the kubelet's cgroup root (the pods' parent) in every
// hierarchy; the kubelet refuses a root that does not exist.
func ensureCgroupRoot(root string) error {
	for _, h := range cgroupHierarchies() {
		dir := filepath.Join(h, root)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("cgroup %s: %w", dir, err)
		}
		if filepath.Base(h) == "cpuset" || strings.Contains(filepath.Base(h), "cpuset") {
			for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
				if b, _ := os.ReadFile(filepath.Join(dir, f)); len(strings.TrimSpace(string(b))) > 0 {
					continue
				}
				parent, err := os.ReadFile(filepath.Join(h, f))
				if err != nil {
					return err
				}
				if err := os.WriteFile(filepath.Join(dir, f), parent, 0o644); err != nil {
					return fmt.Errorf("cgroup %s/%s: %w", dir, f, err)
				}
			}
		}
	}
	return nil
}

// cgroupPIDs lists the processes in the cgroup root's subtree (any hierarchy).
func cgroupPIDs(root string) []int {
	seen := map[int]bool{}
	for _, h := range cgroupHierarchies() {
		_ = filepath.WalkDir(filepath.Join(h, root), func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.IsDir() {
				return nil
			}
			b, _ := os.ReadFile(filepath.Join(p, "cgroup.procs"))
			for _, f := range strings.Fields(string(b)) {
				if pid, err := strconv.Atoi(f); err == nil {
					seen[pid] = true
				}
			}
			return nil
		})
	}
	pids := make([]int, 0, len(seen))
	for pid := range seen {
		pids = append(pids, pid)
	}
	sort.Ints(pids)
	return pids
}

// killCgroup SIGKILLs every process of the pods (the kubelet is stopped by now,
// nothing restarts them) and waits until the cgroups are empty.
func killCgroup(ctx context.Context, root string) error {
	for range 3 {
		pids := cgroupPIDs(root)
		if len(pids) == 0 {
			return nil
		}
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		waitUntil(ctx, time.Now().Add(5*time.Second), func() bool { return len(cgroupPIDs(root)) == 0 })
	}
	if pids := cgroupPIDs(root); len(pids) > 0 {
		return fmt.Errorf("processes %v are still in cgroup %s after SIGKILL", pids, root)
	}
	return nil
}

// removeCgroupRoot removes the cgroup root's subtree, deepest first.
func removeCgroupRoot(root string) error {
	var errs []error
	for _, h := range cgroupHierarchies() {
		var dirs []string
		_ = filepath.WalkDir(filepath.Join(h, root), func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		for i := len(dirs) - 1; i >= 0; i-- {
			if err := os.Remove(dirs[i]); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, fmt.Errorf("cgroup %s: %w", dirs[i], err))
			}
		}
	}
	return errors.Join(errs...)
}

// killShims stops the containerd shims of this instance: those running our shim
// binary with our containerd socket as -address. It removes their sockets, which
// containerd keeps in a global folder (/run/containerd/s) whatever its config says.
func killShims(shim, socket string) {
	want, err := os.Stat(shim)
	if err != nil {
		return
	}
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range procs {
		fi, err := os.Stat(filepath.Join(p, "exe"))
		if err != nil || !os.SameFile(fi, want) {
			continue
		}
		b, _ := os.ReadFile(filepath.Join(p, "cmdline"))
		args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		i := slices.Index(args, "-address")
		if i < 0 || i+1 >= len(args) || args[i+1] != socket {
			continue
		}
		pid, _ := strconv.Atoi(filepath.Base(p))
		_ = syscall.Kill(pid, syscall.SIGKILL)
		ns, id := argValue(args, "-namespace"), argValue(args, "-id")
		if ns != "" && id != "" {
			sum := sha256.Sum256([]byte(filepath.Join(socket, ns, id)))
			_ = os.Remove(fmt.Sprintf("/run/containerd/s/%x", sum))
		}
	}
}

func argValue(args []string, flag string) string {
	if i := slices.Index(args, flag); i >= 0 && i+1 < len(args) {
		return args[i+1]
	}
	return ""
}

// unmountUnder unmounts every mount point under dir (the kubelet's bind mount of
// its root, volume tmpfs, overlay rootfs, pod network namespaces), deepest first.
func unmountUnder(dir string) error {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	defer f.Close()
	var mounts []string
	s := bufio.NewScanner(f)
	s.Buffer(make([]byte, 1<<20), 1<<20)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMount(fields[4])
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			mounts = append(mounts, mp)
		}
	}
	sort.Slice(mounts, func(i, j int) bool { return len(mounts[i]) > len(mounts[j]) })
	var errs []error
	for _, m := range mounts {
		if err := syscall.Unmount(m, 0); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOENT) {
			if err := syscall.Unmount(m, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) {
				errs = append(errs, fmt.Errorf("unmount %s: %w", m, err))
			}
		}
	}
	return errors.Join(errs...)
}

// unescapeMount decodes mountinfo's octal escapes (\040 for a space, ...).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// removeGlobalLeftovers removes what containerd and CNI keep outside the instance
// folder: CNI's result cache of our network and containerd's runtime folders
// once empty (other containerds may use them).
func removeGlobalLeftovers(cniNetwork string) {
	cache, _ := filepath.Glob(filepath.Join("/var/lib/cni/results", cniNetwork+"-*"))
	for _, f := range cache {
		_ = os.Remove(f)
	}
	for _, d := range []string{"/var/lib/cni/results", "/var/lib/cni", "/run/containerd/s", "/run/containerd/fifo", "/run/containerd/runc/k8s.io", "/run/containerd/runc", "/run/containerd"} {
		_ = os.Remove(d) // only when empty
	}
}

// kubeletSysctls are the host settings the kubelet rewrites when it starts.
var kubeletSysctls = []string{"vm/overcommit_memory", "vm/panic_on_oom", "kernel/panic", "kernel/panic_on_oops",
	"kernel/keys/root_maxkeys", "kernel/keys/root_maxbytes"}

func readSysctls(keys []string) map[string]string {
	out := map[string]string{}
	for _, k := range keys {
		if b, err := os.ReadFile(filepath.Join("/proc/sys", k)); err == nil {
			out[k] = strings.TrimSpace(string(b))
		}
	}
	return out
}

// restoreSysctls writes back the saved values that differ now.
func restoreSysctls(saved map[string]string) error {
	var errs []error
	for k, v := range saved {
		if now := readSysctls([]string{k})[k]; now != v {
			if err := os.WriteFile(filepath.Join("/proc/sys", k), []byte(v), 0o644); err != nil {
				errs = append(errs, fmt.Errorf("restoring %s=%s: %w", k, v, err))
			}
		}
	}
	return errors.Join(errs...)
}

// tearDownNode stops the real node's pods and containerd and removes what they
// left on the host: the pods' processes (by cgroup), the shims, every mount under
// the instance folder, the node network namespace (bridge, veths, kube-proxy's
// rules), the cgroup root, CNI's cache files and containerd's empty global
// folders. The kubelet is stopped by then. Each step is a no-op when done.
func tearDownNode(ctx context.Context, cfg Config, l layout, p *progress, stop func([]string)) error {
	nw, err := cfg.network()
	if err != nil {
		return err
	}
	var errs []error
	if pids := cgroupPIDs(nw.cgroupRoot); len(pids) > 0 {
		p.printf("stopping %d pod processes in cgroup %s", len(pids), nw.cgroupRoot)
	}
	if err := killCgroup(ctx, nw.cgroupRoot); err != nil {
		errs = append(errs, err)
	}
	stop(stopRuntime)
	nl := l.node()
	shim := filepath.Join(l.tools, "containerd-"+ContainerdVersion, "containerd-shim-runc-v2")
	killShims(shim, nl.socket)
	if err := unmountUnder(l.run); err != nil {
		errs = append(errs, err)
	}
	if err := nw.tearDown(ctx); err != nil {
		errs = append(errs, err)
	}
	// Pods' addresses are gone with the namespace: so are their IPAM reservations.
	if err := os.RemoveAll(nl.cniIPAM); err != nil {
		errs = append(errs, err)
	}
	removeGlobalLeftovers(nw.cniNetwork)
	if err := removeCgroupRoot(nw.cgroupRoot); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
