// Command orders takes and lists the shop's orders as JSON: POST /orders prices each
// item with the catalog (CATALOG_URL) and stores the order in memory; GET /orders lists
// them with the revenue so far. Its database password comes from DB_PASSWORD (the
// orders-db Secret in deploy.yaml).
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

// version is what /healthz reports ("ok orders <version>"); edit it to watch the dev
// loop roll out a new image.
const version = "orders-v1"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	catalogURL := server.Env("CATALOG_URL", "http://catalog")
	db := newStore(os.Getenv("DB_PASSWORD"))
	if !db.authenticated() {
		log.Printf("orders: DB_PASSWORD is not set; using an unauthenticated in-memory store")
	}
	addr := ":" + server.Env("PORT", "8080")
	log.Printf("orders %s listening on %s, pricing with %s", version, addr, catalogURL)
	h := newHandler(version, db, httpjson.NewClient(catalogURL, 3*time.Second))
	if err := server.Serve(ctx, "orders", addr, h); err != nil {
		log.Fatal(err)
	}
}
