package main

import (
	"fmt"
	"net/http"
)

// newHandler serves a greeting on / and "ok <version>" on /healthz.
func newHandler(version, greeting string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, "ok %s\n", version)
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, "%s from %s\n", greeting, version)
	})
	return mux
}
