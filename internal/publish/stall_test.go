package publish

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	clocktesting "k8s.io/utils/clock/testing"
)

func TestStallWatch(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Unix(0, 0))
	var fired atomic.Int32
	w := newStallWatch(clk, 10*time.Second, func() { fired.Add(1) })

	clk.Step(9 * time.Second)
	w.moved()
	clk.Step(9 * time.Second) // 18s since the start, 9s since bytes moved
	if n := fired.Load(); n != 0 {
		t.Fatalf("fired %d times while bytes kept moving", n)
	}
	clk.Step(time.Second)
	if n := fired.Load(); n != 1 {
		t.Fatalf("fired %d times after 10s without bytes, want 1", n)
	}
	w.moved() // a late read after the stall does not re-arm it
	w.stop()
	clk.Step(time.Minute)
	if n := fired.Load(); n != 1 {
		t.Errorf("fired %d times in all, want 1", n)
	}

	stopped := newStallWatch(clk, 10*time.Second, func() { fired.Add(1) })
	stopped.stop()
	clk.Step(time.Minute)
	if n := fired.Load(); n != 1 {
		t.Errorf("a stopped watch fired")
	}
}

// chunkReader is a request body the test feeds chunk by chunk.
type chunkReader struct {
	chunks chan []byte
	buf    []byte
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.buf) == 0 {
		b, ok := <-c.chunks
		if !ok {
			return 0, io.EOF
		}
		c.buf = b
	}
	n := copy(p, c.buf)
	c.buf = c.buf[n:]
	return n, nil
}

func (c *chunkReader) Close() error { return nil }

// uploadingServer is a RoundTripper that reads the request body like an HTTP
// transport sending it, reporting each read, until the request's context ends.
type uploadingServer struct {
	requests chan *http.Request
	reads    chan int
}

func (s *uploadingServer) RoundTrip(req *http.Request) (*http.Response, error) {
	s.requests <- req
	go func() {
		buf := make([]byte, 1024)
		for {
			n, err := req.Body.Read(buf)
			s.reads <- n
			if err != nil {
				return
			}
		}
	}()
	<-req.Context().Done()
	return nil, req.Context().Err()
}

func TestPushTransportAbortsAStalledUpload(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Unix(0, 0))
	server := &uploadingServer{requests: make(chan *http.Request, 1), reads: make(chan int)}
	tr := &pushTransport{base: server, clock: clk, stallTimeout: 10 * time.Second}
	var reports []PushProgress
	st := newPushState("reg.example/shop/cart", "sha256:manifest", map[string]int64{"sha256:aaa": 1000}, clk, time.Minute,
		func(p PushProgress) { reports = append(reports, p) })
	body := &chunkReader{chunks: make(chan []byte)}
	defer close(body.chunks)
	req, err := http.NewRequestWithContext(withPushState(context.Background(), st), http.MethodPatch,
		"http://reg.example/v2/shop/cart/blobs/uploads/u1?_state=x", &blobReader{ReadCloser: body, digest: "sha256:aaa"})
	if err != nil {
		t.Fatal(err)
	}
	result := make(chan error, 1)
	go func() {
		_, err := tr.RoundTrip(req)
		result <- err
	}()
	sent := (<-server.requests).Context()

	send := func(n int) {
		body.chunks <- make([]byte, n)
		if got := <-server.reads; got != n {
			t.Fatalf("the server read %d bytes, want %d", got, n)
		}
	}
	send(300)
	clk.Step(9 * time.Second)
	send(200)
	clk.Step(9 * time.Second)
	if err := sent.Err(); err != nil {
		t.Fatalf("the request was aborted while bytes moved: %v", err)
	}
	clk.Step(time.Second)
	err = <-result
	var stall *StallError
	if !errors.As(err, &stall) {
		t.Fatalf("RoundTrip returned %v, want a StallError", err)
	}
	want := &StallError{Registry: "reg.example", Repository: "shop/cart", Object: "blob sha256:aaa",
		Method: http.MethodPatch, Path: "/v2/shop/cart/blobs/uploads/u1", Timeout: 10 * time.Second, Sent: 500}
	if diff := cmp.Diff(want, stall); diff != "" {
		t.Errorf("stall error (-want +got):\n%s", diff)
	}
	for _, part := range []string{"registry reg.example stalled", "no bytes moved for 10s", "uploading blob sha256:aaa", "repository shop/cart", "500 B"} {
		if !strings.Contains(err.Error(), part) {
			t.Errorf("%q does not say %q", err, part)
		}
	}
	// Progress: the first read is reported at once; the second came within the
	// interval (a minute), so it is only in the counts.
	if len(reports) != 1 || reports[0].Sent != 300 || reports[0].Done != 300 || reports[0].Total != 1000 {
		t.Errorf("progress reports %+v, want one with 300 of 1000 bytes", reports)
	}
	if s := st.getStats(); s.Requests != 1 || s.BytesUploaded != 500 {
		t.Errorf("stats %+v, want 1 request, 500 bytes", s)
	}
}

// slowBody is a response body that yields nothing until its context ends.
type slowBody struct{ ctx context.Context }

func (b slowBody) Read([]byte) (int, error) { <-b.ctx.Done(); return 0, b.ctx.Err() }
func (b slowBody) Close() error             { return nil }

type respondingServer struct{ requests chan *http.Request }

func (s respondingServer) RoundTrip(req *http.Request) (*http.Response, error) {
	s.requests <- req
	return &http.Response{StatusCode: http.StatusOK, Body: slowBody{req.Context()}, Request: req}, nil
}

func TestPushTransportAbortsAStalledResponse(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Unix(0, 0))
	server := respondingServer{requests: make(chan *http.Request, 1)}
	tr := &pushTransport{base: server, clock: clk, stallTimeout: 5 * time.Second}
	req, err := http.NewRequest(http.MethodGet, "http://reg.example/v2/shop/cart/manifests/v1", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	<-server.requests
	result := make(chan error, 1)
	go func() {
		_, err := io.ReadAll(resp.Body)
		result <- err
	}()
	clk.Step(5 * time.Second)
	err = <-result
	var stall *StallError
	if !errors.As(err, &stall) || stall.Object != "manifest v1" || stall.Repository != "shop/cart" {
		t.Fatalf("reading a stalled body: %v, want a StallError about manifest v1 of shop/cart", err)
	}
	if !strings.Contains(err.Error(), "while asking for manifest v1") {
		t.Errorf("%q does not say what it was waiting for", err)
	}
	resp.Body.Close()
}

func TestTransient(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"stall", &StallError{}, true},
		{"wrapped stall", errors.Join(errors.New("push"), &StallError{}), true},
		{"cancelled", context.Canceled, false},
		{"deadline", context.DeadlineExceeded, false},
		{"unexpected EOF", io.ErrUnexpectedEOF, true},
		{"plain", errors.New("unauthorized"), false},
		{"refused", &net.OpError{Op: "dial", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}, true},
		{"reset", &url.Error{Op: "Patch", Err: &net.OpError{Op: "write", Err: os.NewSyscallError("write", syscall.ECONNRESET)}}, true},
		{"503", &transport.Error{StatusCode: http.StatusServiceUnavailable}, true},
		{"401", &transport.Error{StatusCode: http.StatusUnauthorized}, false},
	}
	for _, tt := range tests {
		if got := transient(tt.err); got != tt.want {
			t.Errorf("%s: transient(%v) = %v, want %v", tt.name, tt.err, got, tt.want)
		}
	}
}
