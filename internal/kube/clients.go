package kube

import (
	"net/http"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/utils/clock"
)

// Clients are the API clients slipway uses for one cluster, sharing a request counter.
type Clients struct {
	Context  string
	Dynamic  dynamic.Interface
	Typed    kubernetes.Interface
	Mapper   meta.ResettableRESTMapper
	Requests *RequestCounter
	// Clock paces waits (nil: the real one; tests set a fake).
	Clock clock.Clock
	// Config is the connection the clients use, for streaming APIs (port-forward).
	Config *rest.Config
}

// NewClients builds clients for a connection. It sends no request.
func NewClients(conn *Connection) (*Clients, error) {
	counter := &RequestCounter{}
	cfg := rest.CopyConfig(conn.Config)
	cfg.QPS, cfg.Burst = 100, 200 // a dev loop talks to its own cluster
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { return &countingRoundTripper{base: rt, counter: counter} })
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	typed, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	disco, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, err
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(disco))
	return &Clients{Context: conn.Context, Dynamic: dyn, Typed: typed, Mapper: mapper, Requests: counter, Config: cfg}, nil
}

// RequestCounts counts API requests by kind.
type RequestCounts struct {
	// Reads are GET and LIST requests (discovery included).
	Reads int `json:"reads"`
	// DryRuns are requests with dryRun=All: they change nothing.
	DryRuns int `json:"dryRuns"`
	// Writes are POST, PUT, PATCH and DELETE requests that change the cluster.
	Writes int `json:"writes"`
}

// RequestCounter counts the requests of a Clients.
type RequestCounter struct {
	mu sync.Mutex
	c  RequestCounts
}

// Snapshot returns the counts so far.
func (r *RequestCounter) Snapshot() RequestCounts {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.c
}

// Since returns the counts since an earlier snapshot.
func (r *RequestCounter) Since(before RequestCounts) RequestCounts {
	now := r.Snapshot()
	return RequestCounts{Reads: now.Reads - before.Reads, DryRuns: now.DryRuns - before.DryRuns, Writes: now.Writes - before.Writes}
}

type countingRoundTripper struct {
	base    http.RoundTripper
	counter *RequestCounter
}

func (c *countingRoundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	c.counter.mu.Lock()
	switch {
	case req.Method == http.MethodGet || req.Method == http.MethodHead:
		c.counter.c.Reads++
	case strings.Contains(req.URL.RawQuery, "dryRun=All"):
		c.counter.c.DryRuns++
	default:
		c.counter.c.Writes++
	}
	c.counter.mu.Unlock()
	return c.base.RoundTrip(req)
}
