// Command catalog serves the shop's products as JSON: GET /products and
// GET /products/{id}. The products are compiled in: Bazel generates products_gen.go from
// products.csv (the :products_gen genrule), so editing products.csv rebuilds and
// redeploys the catalog and nothing else.
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

// version is what /healthz reports ("ok catalog <version>"); edit it to watch the dev
// loop roll out a new image.
const version = "catalog-v1"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	maxAge, err := strconv.Atoi(envOr("CACHE_MAX_AGE", "30"))
	if err != nil || maxAge < 0 {
		log.Fatalf("catalog: CACHE_MAX_AGE must be a number of seconds, not %q", os.Getenv("CACHE_MAX_AGE"))
	}
	addr := ":" + envOr("PORT", "8080")
	log.Printf("catalog %s listening on %s with %d products", version, addr, len(products))
	if err := serve(ctx, addr, newHandler(version, products, maxAge)); err != nil {
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
		return fmt.Errorf("catalog: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("catalog: shutting down: %w", err)
	}
	return nil
}

func envOr(key, fallback string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return fallback
}
