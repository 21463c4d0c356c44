package cluster

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// checkPortFree fails when something already uses 127.0.0.1:port, naming the
// process when /proc tells us which one it is (and whether it runs the
// component's own binary: a leftover of an earlier run that lost its pid file).
func checkPortFree(component string, port int, flag, binary string) error {
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err == nil {
		return ln.Close()
	}
	owner := "another process"
	if o, ok := portOwner(port); ok {
		owner = fmt.Sprintf("pid %d (%s)", o.pid, o.exe)
		if !o.listening {
			owner += " as the local end of a connection"
		}
		if o.listening && sameFile(fmt.Sprintf("/proc/%d/exe", o.pid), binary) {
			return fmt.Errorf("%s: port %d on 127.0.0.1 is already in use by %s, which runs the same %s binary "+
				"but has no pid file here: probably left over from an earlier run; stop it with `kill %d` or choose another port with %s",
				component, port, owner, component, o.pid, flag)
		}
	}
	hint := ""
	if lo, hi, ok := ephemeralPorts(); ok && port >= lo && port <= hi {
		hint = fmt.Sprintf(" (ports %d-%d are the kernel's ephemeral range, which outgoing connections take at random: prefer one below %d)", lo, hi, lo)
	}
	return fmt.Errorf("%s: port %d on 127.0.0.1 is already in use by %s, which this instance did not start; "+
		"stop it or choose another port with %s%s", component, port, owner, flag, hint)
}

// ephemeralPorts is the range the kernel picks outgoing connections' local ports from.
func ephemeralPorts() (lo, hi int, ok bool) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0, 0, false
	}
	_, err = fmt.Sscan(string(b), &lo, &hi)
	return lo, hi, err == nil
}

func sameFile(a, b string) bool {
	fa, err1 := os.Stat(a)
	fb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(fa, fb)
}

type socketOwner struct {
	pid       int
	exe       string
	listening bool
}

// portOwner finds the process using a local TCP port, preferring a listener, by
// matching socket inodes from /proc/net/tcp{,6} against the processes' open file
// descriptors.
func portOwner(port int) (socketOwner, bool) {
	listen, other := map[string]bool{}, map[string]bool{}
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		l, o := socketInodes(f, port)
		for _, ino := range l {
			listen[ino] = true
		}
		for _, ino := range o {
			other[ino] = true
		}
	}
	if len(listen)+len(other) == 0 {
		return socketOwner{}, false
	}
	var found socketOwner
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range procs {
		fds, err := os.ReadDir(filepath.Join(p, "fd"))
		if err != nil {
			continue
		}
		for _, fd := range fds {
			link, err := os.Readlink(filepath.Join(p, "fd", fd.Name()))
			if err != nil || !strings.HasPrefix(link, "socket:[") {
				continue
			}
			ino := strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]")
			if !listen[ino] && (!other[ino] || found.pid != 0) {
				continue
			}
			found.pid, _ = strconv.Atoi(filepath.Base(p))
			found.exe, _ = os.Readlink(filepath.Join(p, "exe"))
			found.listening = listen[ino]
			if found.listening {
				return found, true
			}
		}
	}
	return found, found.pid != 0
}

// socketInodes returns the inodes of the sockets bound to local port in a
// /proc/net/tcp-format file: those in LISTEN state, and the others (connections).
// Sockets without an owner (inode 0, e.g. TIME_WAIT) are left out.
func socketInodes(file string, port int) (listen, other []string) {
	f, err := os.Open(file)
	if err != nil {
		return nil, nil
	}
	defer f.Close()
	want := fmt.Sprintf(":%04X", port)
	s := bufio.NewScanner(f)
	for s.Scan() {
		// sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
		fields := strings.Fields(s.Text())
		if len(fields) < 10 || !strings.HasSuffix(fields[1], want) || fields[9] == "0" {
			continue
		}
		if fields[3] == "0A" {
			listen = append(listen, fields[9])
		} else {
			other = append(other, fields[9])
		}
	}
	return listen, other
}
