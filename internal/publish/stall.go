package publish

import (
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"k8s.io/utils/clock"
)

// StallError: no byte moved, in either direction, for Timeout during one request
// to a registry. The attempt is aborted; a later attempt may succeed.
type StallError struct {
	Registry   string
	Repository string
	// Object is what the request was about: "blob sha256:...", "manifest ...", or
	// empty for requests about no object (the registry ping, token requests).
	Object string
	// Method and Path are the request's.
	Method, Path string
	Timeout      time.Duration
	// Sent counts the request body's bytes sent before the stall.
	Sent int64
}

func (e *StallError) Error() string {
	what := e.Method + " " + e.Path
	if e.Object != "" {
		verb := "uploading"
		if e.Sent == 0 && e.Method != "PATCH" && e.Method != "PUT" {
			verb = "asking for"
		}
		what = verb + " " + e.Object
	}
	repo := ""
	if e.Repository != "" {
		repo = ", repository " + e.Repository
	}
	return fmt.Sprintf("registry %s stalled: no bytes moved for %s while %s%s (%s of the request sent)", e.Registry, e.Timeout, what, repo, humanSize(e.Sent))
}

// Temporary: a stalled attempt may be retried.
func (e *StallError) Temporary() bool { return true }

func humanSize(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// stallWatch calls onStall once when moved has not been called for timeout, unless
// stopped first. It is the stall detector of one request.
type stallWatch struct {
	timeout time.Duration
	timer   clock.Timer
	done    atomic.Bool // fired or stopped
}

func newStallWatch(clk clock.WithDelayedExecution, timeout time.Duration, onStall func()) *stallWatch {
	w := &stallWatch{timeout: timeout}
	w.timer = clk.AfterFunc(timeout, func() {
		if !w.done.Swap(true) {
			onStall()
		}
	})
	return w
}

// moved says bytes moved: the wait starts again.
func (w *stallWatch) moved() {
	if !w.done.Load() {
		w.timer.Reset(w.timeout)
	}
}

// stop ends the watch; onStall will not be called after it returns.
func (w *stallWatch) stop() {
	if !w.done.Swap(true) {
		w.timer.Stop()
	}
}

// watchedReader reports each read's byte count to onRead (request bodies).
type watchedReader struct {
	rc     io.ReadCloser
	onRead func(n int)
}

func (r *watchedReader) Read(p []byte) (int, error) {
	n, err := r.rc.Read(p)
	if n > 0 {
		r.onRead(n)
	}
	return n, err
}

func (r *watchedReader) Close() error { return r.rc.Close() }
