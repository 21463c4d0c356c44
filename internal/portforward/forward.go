package portforward

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"time"
)

// Endpoint is where one connection goes: a pod and one of its ports.
type Endpoint struct {
	Pod  string
	Port int
}

// Endpoints finds the pods behind a forward.
type Endpoints interface {
	// Pick returns a ready, not terminating pod of the forward's workload (the
	// newest when there are several) and the port the forward names on it.
	Pick(ctx context.Context, f Forward) (Endpoint, error)
	// Ready tells whether a pod picked earlier is still ready and not terminating.
	Ready(ctx context.Context, namespace, pod string) (bool, error)
}

// Tunnel opens streams to pods' ports.
type Tunnel interface {
	Open(ctx context.Context, namespace string, ep Endpoint) (Stream, error)
}

// Stream is one forwarded connection's remote side.
type Stream interface {
	io.ReadWriter
	// CloseWrite says the local side sends nothing more.
	CloseWrite() error
	// Close ends the stream and returns the error the remote side reported, if any
	// (the pod went away, nothing listens on the port).
	Close() error
}

// forwarder serves one forward: a local listener whose connections each go to a
// ready pod of the workload, looked up again whenever the last one is gone.
type forwarder struct {
	f         Forward
	ln        net.Listener
	endpoints Endpoints
	tunnel    Tunnel
	// wait bounds how long a connection waits for a ready pod; poll is how often
	// it looks meanwhile.
	wait, poll time.Duration
	problem    func(error)

	ctx    context.Context
	cancel context.CancelFunc
	done   sync.WaitGroup

	mu      sync.Mutex
	current *Endpoint
}

// listen opens the forward's local port on the loopback interface.
func listen(f Forward) (net.Listener, error) {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(f.LocalPort))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("port-forward %s: local port %d is not free (%v); free it or change port_forwards on %s", f, f.LocalPort, errors.Unwrap(err), f.Target)
	}
	return ln, nil
}

func (fw *forwarder) serve() {
	defer fw.done.Done()
	for {
		c, err := fw.ln.Accept()
		if err != nil {
			return // closed
		}
		fw.done.Add(1)
		go func() {
			defer fw.done.Done()
			defer c.Close()
			if err := fw.handle(c); err != nil && fw.ctx.Err() == nil {
				fw.problem(fmt.Errorf("port-forward %s: %w", fw.f, err))
			}
		}()
	}
}

// stop closes the listener and the connections in flight, and waits for them.
func (fw *forwarder) stop() {
	fw.cancel()
	fw.ln.Close()
	fw.done.Wait()
}

// handle forwards one local connection. A pod that fails to open a stream is
// forgotten and the connection tries the next ready pod once.
func (fw *forwarder) handle(c net.Conn) error {
	var lastErr error
	for attempt := 0; attempt < 2; attempt++ {
		ep, err := fw.endpoint()
		if err != nil {
			return err
		}
		s, err := fw.tunnel.Open(fw.ctx, fw.f.Namespace, ep)
		if err != nil {
			fw.forget(ep)
			lastErr = fmt.Errorf("pod %s: %w", ep.Pod, err)
			continue
		}
		if err := pipe(c, s); err != nil {
			fw.forget(ep)
			return fmt.Errorf("pod %s: %w", ep.Pod, err)
		}
		return nil
	}
	return lastErr
}

// endpoint returns the pod the last connection used while it stays ready, and
// otherwise picks a ready pod, waiting up to fw.wait for one to exist.
func (fw *forwarder) endpoint() (Endpoint, error) {
	fw.mu.Lock()
	cur := fw.current
	fw.mu.Unlock()
	if cur != nil {
		if ok, err := fw.endpoints.Ready(fw.ctx, fw.f.Namespace, cur.Pod); err == nil && ok {
			return *cur, nil
		}
		fw.forget(*cur)
	}
	deadline := time.Now().Add(fw.wait)
	for {
		ep, err := fw.endpoints.Pick(fw.ctx, fw.f)
		if err == nil {
			fw.mu.Lock()
			fw.current = &ep
			fw.mu.Unlock()
			return ep, nil
		}
		if !time.Now().Before(deadline) {
			return Endpoint{}, err
		}
		select {
		case <-fw.ctx.Done():
			return Endpoint{}, fw.ctx.Err()
		case <-time.After(fw.poll):
		}
	}
}

// forget drops ep as the current pod, unless another connection replaced it.
func (fw *forwarder) forget(ep Endpoint) {
	fw.mu.Lock()
	defer fw.mu.Unlock()
	if fw.current != nil && *fw.current == ep {
		fw.current = nil
	}
}

// pipe copies both ways until the remote side is done or the local side fails,
// and returns the remote side's error.
func pipe(c net.Conn, s Stream) error {
	remoteDone := make(chan struct{})
	go func() {
		io.Copy(c, s)
		close(remoteDone)
	}()
	localFailed := make(chan struct{})
	go func() {
		defer s.CloseWrite()
		if _, err := io.Copy(s, c); err != nil {
			close(localFailed)
		}
	}()
	select {
	case <-remoteDone:
	case <-localFailed:
	}
	return s.Close()
}
