package publish

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
)

// Stats counts what a push sent, from the registry API requests it made.
type Stats struct {
	Requests      int   `json:"requests"`
	BytesUploaded int64 `json:"bytesUploaded"`
	// BlobsUploaded: blob uploads completed with content sent by us.
	BlobsUploaded int `json:"blobsUploaded"`
	// BlobsMounted: blobs the registry linked from another repository.
	BlobsMounted int `json:"blobsMounted"`
	// BlobsPresent: blobs the registry already had in the repository.
	BlobsPresent int `json:"blobsPresent"`
	// ManifestsPut: manifests and indexes written.
	ManifestsPut int `json:"manifestsPut"`
}

// statsCounter collects the Stats of one Publish call; the transport finds it in
// each request's context, so concurrent pushes sharing a transport count apart.
type statsCounter struct {
	mu sync.Mutex
	s  Stats
}

type statsKey struct{}

func withStats(ctx context.Context) (context.Context, *statsCounter) {
	c := &statsCounter{}
	return context.WithValue(ctx, statsKey{}, c), c
}

func (c *statsCounter) get() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.s
}

// countingTransport counts requests and the bytes of request bodies into the
// statsCounter of the request's context.
type countingTransport struct {
	base http.RoundTripper
}

func (t *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	c, _ := req.Context().Value(statsKey{}).(*statsCounter)
	if c == nil {
		return t.base.RoundTrip(req)
	}
	var body *countingReader
	if req.Body != nil && req.Method != http.MethodGet && req.Method != http.MethodHead {
		body = &countingReader{r: req.Body}
		req = req.Clone(req.Context())
		req.Body = body
	}
	resp, err := t.base.RoundTrip(req)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.s.Requests++
	if body != nil {
		c.s.BytesUploaded += body.n
	}
	if err != nil {
		return resp, err
	}
	path := req.URL.Path
	switch {
	case req.Method == http.MethodHead && strings.Contains(path, "/blobs/") && resp.StatusCode == http.StatusOK:
		c.s.BlobsPresent++
	case req.Method == http.MethodPost && strings.HasSuffix(strings.TrimSuffix(path, "/"), "/blobs/uploads") &&
		req.URL.Query().Get("mount") != "" && resp.StatusCode == http.StatusCreated:
		c.s.BlobsMounted++
	case req.Method == http.MethodPut && strings.Contains(path, "/blobs/uploads/") && resp.StatusCode == http.StatusCreated:
		c.s.BlobsUploaded++
	case req.Method == http.MethodPut && strings.Contains(path, "/manifests/") && resp.StatusCode/100 == 2:
		c.s.ManifestsPut++
	}
	return resp, nil
}

type countingReader struct {
	r io.ReadCloser
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func (c *countingReader) Close() error { return c.r.Close() }
