// Command catalog serves the shop's products as JSON: GET /products and
// GET /products/{id}. The products are compiled in: Bazel generates products_gen.go from
// products.csv (the :products_gen genrule), so editing products.csv rebuilds and
// redeploys the catalog and nothing else.
package main

import (
	"context"
	"log"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/slipway-dev/slipway/examples/shop/lib/server"
)

// version is what /healthz reports ("ok catalog <version>"); edit it to watch the dev
// loop roll out a new image.
const version = "catalog-v1"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	maxAge, err := strconv.Atoi(server.Env("CACHE_MAX_AGE", "30"))
	if err != nil || maxAge < 0 {
		log.Fatalf("catalog: CACHE_MAX_AGE must be a number of seconds, not %q", os.Getenv("CACHE_MAX_AGE"))
	}
	addr := ":" + server.Env("PORT", "8080")
	log.Printf("catalog %s listening on %s with %d products", version, addr, len(products))
	if err := server.Serve(ctx, "catalog", addr, newHandler(version, products, maxAge)); err != nil {
		log.Fatal(err)
	}
}
