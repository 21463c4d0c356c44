package agent

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path"
	"path/filepath"
	"time"
)

// Received is what receive did: the file's digest and the supervisor's reply.
type Received struct {
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
	Bytes  int64  `json:"bytes"`
	Reply
}

// Receive writes data to a temporary file next to the replacement of the
// container path p, then asks the supervisor to put it in place and restart
// the child. It returns once the child runs again (or the supervisor refused).
func Receive(ps Paths, p string, data io.Reader, timeout time.Duration) (*Received, error) {
	if !path.IsAbs(p) || path.Clean(p) != p {
		return nil, fmt.Errorf("%q: %w", p, ErrBadPath)
	}
	tmp, rec, err := writeTemp(ps.Replacement(p), data)
	if err != nil {
		return nil, err
	}
	rec.Path = p
	rep, err := ask(ps.Socket(), Request{Op: "replace", Path: p, Tmp: tmp, SHA256: rec.SHA256}, timeout)
	if err != nil {
		_ = os.Remove(tmp)
		return nil, err
	}
	rec.Reply = *rep
	if !rep.OK {
		return rec, fmt.Errorf("%s: %s", p, rep.Error)
	}
	return rec, nil
}

func writeTemp(dst string, data io.Reader) (string, *Received, error) {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return "", nil, err
	}
	f, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".slipway-*")
	if err != nil {
		return "", nil, err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), data)
	if err == nil {
		err = f.Chmod(0o755)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(f.Name())
		return "", nil, fmt.Errorf("writing %s: %w", dst, err)
	}
	return f.Name(), &Received{SHA256: hex.EncodeToString(h.Sum(nil)), Bytes: n}, nil
}

func ask(sock string, req Request, timeout time.Duration) (*Reply, error) {
	conn, err := dial(sock, timeout)
	if err != nil {
		return nil, fmt.Errorf("%w (%v): is the pod running the dev-mode command?", ErrNoSupervisor, err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(timeout))
	if err := json.NewEncoder(conn).Encode(req); err != nil {
		return nil, err
	}
	var rep Reply
	if err := json.NewDecoder(conn).Decode(&rep); err != nil {
		return nil, fmt.Errorf("reading the agent's reply: %w", err)
	}
	return &rep, nil
}

// Reset asks the supervisor to remove every replacement and, when there were
// any, to restart the child from the image's own files.
func Reset(ps Paths, timeout time.Duration) (*Reply, error) {
	rep, err := ask(ps.Socket(), Request{Op: "reset"}, timeout)
	if err == nil && !rep.OK {
		err = fmt.Errorf("reset: %s", rep.Error)
	}
	return rep, err
}

// dial connects to the supervisor, waiting up to timeout for a container that
// is starting to listen.
func dial(sock string, timeout time.Duration) (net.Conn, error) {
	deadline := time.Now().Add(timeout)
	for {
		conn, err := net.DialTimeout("unix", sock, timeout)
		if err == nil || time.Now().After(deadline) {
			return conn, err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Install copies the running agent's executable to dst (the shared folder the
// container runs it from), atomically.
func Install(dst string) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	in, err := os.Open(self)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp, _, err := writeTemp(dst, in)
	if err != nil {
		return err
	}
	return os.Rename(tmp, dst)
}
