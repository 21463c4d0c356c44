package publish

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"k8s.io/apimachinery/pkg/util/wait"
)

// transient reports whether an attempt that failed with err may succeed when
// tried again: a stall, a dropped or refused connection, or a registry answer
// that says "try later" (5xx, 408, 429). Cancellation, timeouts of the first
// contact, authentication and other answers are final.
func transient(err error) bool {
	var stall *StallError
	var te *transport.Error
	switch {
	case errors.As(err, &stall):
		return true
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return false
	case errors.As(err, &te):
		return te.Temporary()
	}
	for _, e := range []error{io.ErrUnexpectedEOF, io.EOF, syscall.ECONNRESET, syscall.ECONNREFUSED, syscall.EPIPE, net.ErrClosed} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// withAttempts runs attempt until it succeeds, fails for good, or has failed
// r.Attempts times, waiting between attempts (r.RetryDelay, then three times
// longer each time). Cancelling ctx ends the wait at once.
func (r *Remote) withAttempts(ctx context.Context, st *pushState, attempt func(context.Context) error) error {
	backoff := wait.Backoff{Duration: r.RetryDelay, Factor: 3, Jitter: 0.1, Steps: r.Attempts}
	for n := 1; ; n++ {
		st.startAttempt(n)
		err := attempt(ctx)
		if err == nil {
			return nil
		}
		if n >= r.Attempts || !transient(err) || ctx.Err() != nil {
			if n > 1 {
				err = fmt.Errorf("%w (gave up after %d attempts)", err, n)
			}
			return err
		}
		delay := backoff.Step()
		st.retrying(err, delay)
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (while waiting to retry after: %v)", ctx.Err(), err)
		case <-r.clock.After(delay):
		}
	}
}

// retryDelayDefault and attemptsDefault are the Remote's defaults: a registry
// restart (a few seconds) is survived, a dead one reported within seconds.
const (
	retryDelayDefault   = time.Second
	attemptsDefault     = 3
	stallTimeoutDefault = 30 * time.Second
	progressDefault     = time.Second
)
