// Command worker is the shop's periodic job, run by a Kubernetes CronJob: it asks the
// orders service (ORDERS_URL) for the orders so far, prints a report and exits (0 on
// success, 1 when the orders service cannot be asked).
//
// With --serve-health it instead serves "ok worker <version>" on /healthz at $PORT until
// terminated, so that its image's entrypoint can be started and probed like the others'.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/slipway-dev/slipway/examples/shop/lib/server"

	"github.com/slipway-dev/slipway/examples/shop/lib/httpjson"
)

// version is what /healthz and the report show ("ok worker <version>"); edit it to
// watch the dev loop roll out a new image.
const version = "worker-v1"

func main() {
	serveHealth := flag.Bool("serve-health", false, "serve /healthz on $PORT until terminated, instead of reporting once")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "worker: unexpected arguments %q\n", flag.Args())
		flag.Usage()
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if *serveHealth {
		addr := ":" + server.Env("PORT", "8080")
		log.Printf("worker %s serving /healthz on %s", version, addr)
		if err := server.Serve(ctx, "worker", addr, newHealthHandler(version)); err != nil {
			log.Fatal(err)
		}
		return
	}

	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	orders := httpjson.NewClient(server.Env("ORDERS_URL", "http://orders"), 10*time.Second)
	if err := report(ctx, os.Stdout, orders, version, time.Now()); err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(1)
	}
}

// newHealthHandler answers "ok worker <version>" on /healthz.
func newHealthHandler(version string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, "ok worker %s\n", version)
	})
	return mux
}
