// Command frontend serves the shop's web page: the catalog's products with their prices
// (from CATALOG_URL) and the orders so far (from ORDERS_URL), with a button per product
// that places an order.
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/slipway-dev/slipway/examples/shop/lib/httpjson"
)

// version is what /healthz reports ("ok frontend <version>"); edit it to watch the dev
// loop roll out a new image.
const version = "frontend-v1"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	catalogURL, ordersURL := envOr("CATALOG_URL", "http://catalog"), envOr("ORDERS_URL", "http://orders")
	addr := ":" + envOr("PORT", "8080")
	log.Printf("frontend %s listening on %s (catalog %s, orders %s)", version, addr, catalogURL, ordersURL)
	h := newHandler(version, httpjson.NewClient(catalogURL, 3*time.Second), httpjson.NewClient(ordersURL, 5*time.Second))
	if err := serve(ctx, addr, h); err != nil {
		log.Fatal(err)
	}
}

// serve runs an HTTP server on addr until ctx is done, then shuts it down gracefully.
func serve(ctx context.Context, addr string, h http.Handler) error {
	srv := &http.Server{Addr: addr, Handler: h, ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	select {
	case err := <-errc:
		return fmt.Errorf("frontend: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("frontend: shutting down: %w", err)
	}
	return nil
}

func envOr(key, fallback string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return fallback
}
