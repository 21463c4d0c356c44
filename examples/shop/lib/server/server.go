// Package server runs the shop services' HTTP servers: listen, serve until the
// context ends, then shut down gracefully.
//
// Imported by all four services: a change here affects every one of them.
package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"time"
)

// Serve runs an HTTP server for service on addr until ctx is done, then shuts it
// down, letting requests in flight finish for up to 10 seconds.
func Serve(ctx context.Context, service, addr string, h http.Handler) error {
	srv := &http.Server{Addr: addr, Handler: h, ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	select {
	case err := <-errc:
		return fmt.Errorf("%s: %w", service, err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("%s: shutting down: %w", service, err)
	}
	return nil
}

// Env returns the environment variable key, or fallback when it is unset or empty.
func Env(key, fallback string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return fallback
}
