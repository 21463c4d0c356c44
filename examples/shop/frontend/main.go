// Command frontend serves the shop's web page: the catalog's products with their prices
// (from CATALOG_URL) and the orders so far (from ORDERS_URL), with a button per product
// that places an order.
package main

import (
	"context"
	"log"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/slipway-dev/slipway/examples/shop/lib/server"

	"github.com/slipway-dev/slipway/examples/shop/lib/httpjson"
)

// version is what /healthz reports ("ok frontend <version>"); edit it to watch the dev
// loop roll out a new image.
const version = "frontend-v1"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	catalogURL, ordersURL := server.Env("CATALOG_URL", "http://catalog"), server.Env("ORDERS_URL", "http://orders")
	addr := ":" + server.Env("PORT", "8080")
	log.Printf("frontend %s listening on %s (catalog %s, orders %s)", version, addr, catalogURL, ordersURL)
	h := newHandler(version, httpjson.NewClient(catalogURL, 3*time.Second), httpjson.NewClient(ordersURL, 5*time.Second))
	if err := server.Serve(ctx, "frontend", addr, h); err != nil {
		log.Fatal(err)
	}
}
