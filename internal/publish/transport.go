package publish

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync/atomic"
	"time"

	"k8s.io/utils/clock"
)

// pushTransport is the bottom of the registry client's transport stack (below
// go-containerregistry's auth): it aborts a request when no byte moves for
// stallTimeout, and counts requests, bytes and progress into the pushState of
// the request's context.
type pushTransport struct {
	base         http.RoundTripper
	clock        clock.WithDelayedExecution
	stallTimeout time.Duration
}

func (t *pushTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	st := pushStateFrom(req.Context())
	obj := requestObject(req)
	ctx, cancel := context.WithCancelCause(req.Context())
	var sent atomic.Int64
	about := StallError{Registry: req.URL.Host, Repository: repositoryOf(req.URL.Path), Object: obj.String(),
		Method: req.Method, Path: req.URL.Path, Timeout: t.stallTimeout}
	watch := newStallWatch(t.clock, t.stallTimeout, func() {
		stall := about
		stall.Sent = sent.Load()
		cancel(&stall)
	})
	req = req.Clone(ctx)
	if req.Body != nil && req.Body != http.NoBody {
		req.Body = &watchedReader{rc: req.Body, onRead: func(n int) {
			watch.moved()
			soFar := sent.Add(int64(n))
			if st != nil {
				st.sent(obj, n, soFar)
			}
		}}
	}
	resp, err := t.base.RoundTrip(req)
	if st != nil {
		st.observe(req, resp, sent.Load(), obj)
	}
	if err != nil {
		watch.stop()
		err = stallCause(ctx, err)
		cancel(nil)
		return nil, err
	}
	watch.moved() // the response's headers arrived
	resp.Body = &watchedResponse{rc: resp.Body, ctx: ctx, watch: watch, cancel: cancel}
	return resp, nil
}

// stallCause is the StallError behind err when the watch cancelled the request.
func stallCause(ctx context.Context, err error) error {
	var stall *StallError
	if errors.As(context.Cause(ctx), &stall) {
		return stall
	}
	return err
}

// watchedResponse keeps the stall watch on while the body is read, and ends the
// request's context when the body is done.
type watchedResponse struct {
	rc     io.ReadCloser
	ctx    context.Context
	watch  *stallWatch
	cancel context.CancelCauseFunc
}

func (r *watchedResponse) Read(p []byte) (int, error) {
	n, err := r.rc.Read(p)
	if n > 0 {
		r.watch.moved()
	}
	if err == io.EOF {
		r.watch.stop()
	} else if err != nil {
		err = stallCause(r.ctx, err)
	}
	return n, err
}

func (r *watchedResponse) Close() error {
	r.watch.stop()
	err := r.rc.Close()
	r.cancel(nil)
	return err
}
