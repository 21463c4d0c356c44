// Package connect is slipway's one way to a cluster. Every command that talks to
// Kubernetes (dev, ci, affected --deploy, the .apply/.diff/.delete/.show run
// targets, and .push when it asks the cluster for its registry) goes through it:
//
//  1. Resolve decides which context is meant from the kubeconfig alone (no
//     request): --local, else --context, else the kubeconfig's current context;
//     with no context at all, or --context slipway-local when the kubeconfig does
//     not list it, slipway's own local cluster.
//  2. Resolve then checks the guard (kube.Guard): a context that is not allowed is
//     refused with a message that names it and says what to do. It is never
//     replaced by another cluster.
//  3. Open, and only Open, sends requests: it finds the local cluster (starting it
//     when it is not running) or checks that the kubeconfig context answers. An
//     allowed context that does not answer is an error naming the context and its
//     server; there is no silent fallback to the local cluster.
package connect

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"k8s.io/client-go/rest"

	"github.com/slipway-dev/slipway/internal/cluster"
	"github.com/slipway-dev/slipway/internal/kube"
)

// Request is what a command asks for: its --kubeconfig, --context, --local and
// --allow-context flags, the allowed contexts of its targets, and whether it writes.
type Request struct {
	Kubeconfig string
	Context    string
	// Local always uses slipway's local cluster.
	Local bool
	// Allowed are the non-local contexts the user or the targets allow.
	Allowed []string
	// ReadOnly: the command writes nothing to the cluster (diff, show, registry
	// discovery), so a context named with --context may be read from.
	ReadOnly bool
	// Instance is slipway's local cluster; nil means DefaultInstance().
	Instance LocalCluster
	// Log receives what Open decides and does ("using the local cluster ...").
	Log io.Writer
	// ProbeTimeout bounds the first request to a kubeconfig context (default 10s).
	ProbeTimeout time.Duration
}

// Destination is a resolved Request that the guard admitted. No request was sent.
type Destination struct {
	// Context is the kubeconfig context; Server its API server (empty for the local
	// cluster until Open finds it).
	Context, Server string
	// Local: slipway's local cluster instance, found or started by Open.
	Local bool
	// Reason says why the local cluster is used (for messages).
	Reason string

	req  Request
	conn *kube.Connection
}

// Session is an open connection: clients for the cluster, and the local cluster
// instance when that is what was opened.
type Session struct {
	Clients *kube.Clients
	Context string
	Server  string
	// Cluster is set when the session is slipway's local cluster.
	Cluster *cluster.Cluster
}

// Open resolves the request, checks the guard and connects: Resolve then Open.
func Open(ctx context.Context, req Request) (*Session, error) {
	d, err := Resolve(req)
	if err != nil {
		return nil, err
	}
	return d.Open(ctx)
}

// Resolve decides from the kubeconfig alone which cluster the request means and
// checks the guard. It sends no request and starts nothing.
func Resolve(req Request) (*Destination, error) {
	if req.Instance == nil {
		req.Instance = DefaultInstance()
	}
	if req.Log == nil {
		req.Log = io.Discard
	}
	if req.Local {
		if req.Context != "" && req.Context != cluster.ContextName {
			return nil, fmt.Errorf("--local and --context=%s contradict each other: --local means the local cluster (context %s)", req.Context, cluster.ContextName)
		}
		return localDestination(req, "--local"), nil
	}
	conn, err := kube.Connect(kube.Target{Kubeconfig: req.Kubeconfig, Context: req.Context})
	var noContext *kube.NoContextError
	var unknown *kube.UnknownContextError
	switch {
	case errors.As(err, &noContext):
		return localDestination(req, noContext.Error()), nil
	case errors.As(err, &unknown) && unknown.Context == cluster.ContextName:
		return localDestination(req, fmt.Sprintf("kubeconfig %s does not list context %s", unknown.Kubeconfig, cluster.ContextName)), nil
	case errors.As(err, &unknown):
		return nil, fmt.Errorf("%w; pass --context with one of them, or --local for slipway's local cluster", err)
	case err != nil:
		return nil, err
	}
	if err := (kube.Guard{Allowed: req.Allowed, ReadOnly: req.ReadOnly}).Admit(conn); err != nil {
		return nil, err
	}
	return &Destination{Context: conn.Context, Server: conn.Server, req: req, conn: conn}, nil
}

func localDestination(req Request, reason string) *Destination {
	return &Destination{Context: cluster.ContextName, Local: true, Reason: reason, req: req}
}

// Open connects to the destination: the local cluster (found, or started when it
// is not running), or the kubeconfig context after checking that it answers.
func (d *Destination) Open(ctx context.Context) (*Session, error) {
	if d.Local {
		return d.openLocal(ctx)
	}
	if d.Context == cluster.ContextName {
		// The local cluster's own kubeconfig (e.g. after `eval $(slipway cluster env)`):
		// start it when it is down, like any other way of naming it.
		if c, _, err := d.req.Instance.Find(ctx); err == nil && c != nil && c.Server == d.Server {
			d.Reason = "context " + d.Context + " of " + d.conn.Kubeconfig
			return d.openLocal(ctx)
		}
	}
	if err := probe(ctx, d.conn.Config, d.req.ProbeTimeout); err != nil {
		return nil, &UnreachableError{Context: d.Context, Server: d.Server, Kubeconfig: d.conn.Kubeconfig, Err: err}
	}
	clients, err := kube.NewClients(d.conn)
	if err != nil {
		return nil, err
	}
	return &Session{Clients: clients, Context: d.Context, Server: d.Server}, nil
}

func (d *Destination) openLocal(ctx context.Context) (*Session, error) {
	c, err := ensureLocal(ctx, d.req.Instance, d.Reason, d.req.Log)
	if err != nil {
		return nil, err
	}
	conn, err := kube.Connect(kube.Target{Kubeconfig: c.Kubeconfig, Context: c.Context})
	if err != nil {
		return nil, fmt.Errorf("the local cluster %q: %w", d.req.Instance.Name(), err)
	}
	clients, err := kube.NewClients(conn)
	if err != nil {
		return nil, err
	}
	d.Server = conn.Server
	return &Session{Clients: clients, Context: conn.Context, Server: conn.Server, Cluster: c}, nil
}

// UnreachableError: an allowed kubeconfig context did not answer. slipway does not
// fall back to another cluster.
type UnreachableError struct {
	Context, Server, Kubeconfig string
	Err                         error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("kubeconfig context %q (server %s, from %s) does not answer: %v; start that cluster, pick another context with --context, or use slipway's local cluster with --local",
		e.Context, e.Server, e.Kubeconfig, e.Err)
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// probe asks the API server for its version: one GET, not retried, bounded in
// time (client-go's own clients retry dropped connections for a while). Any answer
// but a 5xx shows the server is there; what a 401 or 403 means, the first real
// request says.
func probe(ctx context.Context, cfg *rest.Config, timeout time.Duration) error {
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(cfg.Host, "/")+"/version", nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode >= 500 {
		return fmt.Errorf("GET /version: %s", resp.Status)
	}
	return nil
}
