// Package remotecache lets slipway push images whose layers stay in a Bazel
// remote cache ("Build without the Bytes"): it reads the cache settings of a
// build from its effective options, streams blobs from an HTTP cache by digest
// (publish.BlobSource), and asks Bazel to materialize an image the cache lost.
package remotecache

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/slipway-dev/slipway/internal/publish"
)

// UserAgent is what slipway's cache requests say they are, so that a cache's
// access log tells them from Bazel's.
const UserAgent = "slipway-remotecache"

// HTTP reads blobs from a cache that speaks Bazel's HTTP caching protocol:
// `GET <base>/cas/<sha256 hex>` answers a blob, 404 when the cache lacks it.
type HTTP struct {
	// Base is the cache's URL as given to --remote_cache (user:password@ in it is
	// sent as basic authentication).
	Base *url.URL
	// Header is sent with every request (--remote_header, --remote_cache_header).
	Header http.Header
	// Client makes the requests (default: one with connect and header timeouts, and
	// no timeout on bodies, which stream as fast as the registry takes them).
	Client *http.Client

	bytes    atomic.Int64
	requests atomic.Int64
}

var _ publish.BlobSource = (*HTTP)(nil)

// NewHTTP returns a source for the cache at base.
func NewHTTP(base string, header http.Header) (*HTTP, error) {
	u, err := url.Parse(strings.TrimSuffix(base, "/"))
	if err != nil {
		return nil, fmt.Errorf("remote cache %q: %w", base, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("remote cache %q: not an HTTP cache", base)
	}
	return &HTTP{Base: u, Header: header}, nil
}

func (h *HTTP) String() string {
	u := *h.Base
	u.User = nil // never print a password
	return u.String()
}

var defaultClient = &http.Client{Transport: &http.Transport{
	Proxy:                 http.ProxyFromEnvironment,
	DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
	MaxIdleConnsPerHost:   8,
	ResponseHeaderTimeout: 30 * time.Second,
	IdleConnTimeout:       90 * time.Second,
}}

// Open streams the blob with digest d. The body is the upload's body: nothing
// is written to disk.
func (h *HTTP) Open(ctx context.Context, d v1.Hash) (io.ReadCloser, error) {
	if d.Algorithm != "sha256" {
		return nil, fmt.Errorf("remote cache %s: blob %s: only sha256 digests are cached: %w", h, d, publish.ErrBlobNotFound)
	}
	u := *h.Base
	u.Path = strings.TrimSuffix(u.Path, "/") + "/cas/" + d.Hex
	u.User = nil
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", UserAgent)
	for k, vs := range h.Header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if user := h.Base.User; user != nil {
		pw, _ := user.Password()
		req.SetBasicAuth(user.Username(), pw)
	}
	client := h.Client
	if client == nil {
		client = defaultClient
	}
	h.requests.Add(1)
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("remote cache %s: GET %s: %w", h, u.Path, err)
	}
	switch resp.StatusCode {
	case http.StatusOK:
		return &countedBody{ReadCloser: resp.Body, n: &h.bytes}, nil
	case http.StatusNotFound:
		resp.Body.Close()
		return nil, fmt.Errorf("remote cache %s: blob %s: %w", h, d, publish.ErrBlobNotFound)
	}
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	resp.Body.Close()
	return nil, fmt.Errorf("remote cache %s: GET %s: %s %s", h, u.Path, resp.Status, strings.TrimSpace(string(msg)))
}

// BytesRead is how many blob bytes this source served, over all requests.
func (h *HTTP) BytesRead() int64 { return h.bytes.Load() }

// Requests is how many blob requests this source made.
func (h *HTTP) Requests() int64 { return h.requests.Load() }

type countedBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (b *countedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}
