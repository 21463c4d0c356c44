// Command orders takes and lists the shop's orders as JSON: POST /orders prices each
// item with the catalog (CATALOG_URL) and stores the order in memory; GET /orders lists
// them with the revenue so far. Its database password comes from DB_PASSWORD (the
// orders-db Secret in deploy.yaml).
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

// version is what /healthz reports ("ok orders <version>"); edit it to watch the dev
// loop roll out a new image.
const version = "orders-v1"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	catalogURL := envOr("CATALOG_URL", "http://catalog")
	db := newStore(os.Getenv("DB_PASSWORD"))
	if !db.authenticated() {
		log.Printf("orders: DB_PASSWORD is not set; using an unauthenticated in-memory store")
	}
	addr := ":" + envOr("PORT", "8080")
	log.Printf("orders %s listening on %s, pricing with %s", version, addr, catalogURL)
	h := newHandler(version, db, httpjson.NewClient(catalogURL, 3*time.Second))
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
		return fmt.Errorf("orders: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("orders: shutting down: %w", err)
	}
	return nil
}

func envOr(key, fallback string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return fallback
}
