package main

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// newHandler serves the products as JSON, and "ok catalog <version>" on /healthz.
// Product responses may be cached for maxAge seconds.
func newHandler(version string, products []Product, maxAge int) http.Handler {
	byID := make(map[string]Product, len(products))
	list := make([]productJSON, 0, len(products))
	for _, p := range products {
		byID[p.ID] = p
		list = append(list, p.toJSON())
	}
	cacheControl := fmt.Sprintf("public, max-age=%d", maxAge)

	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, "ok catalog %s\n", version)
	})
	mux.HandleFunc("GET /products", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Cache-Control", cacheControl)
		writeJSON(w, http.StatusOK, list)
	})
	mux.HandleFunc("GET /products/{id}", func(w http.ResponseWriter, r *http.Request) {
		p, ok := byID[r.PathValue("id")]
		if !ok {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": fmt.Sprintf("no product %q", r.PathValue("id"))})
			return
		}
		w.Header().Set("Cache-Control", cacheControl)
		writeJSON(w, http.StatusOK, p.toJSON())
	})
	return mux
}

// writeJSON sends v as JSON. (The catalog does not use lib/httpjson, on purpose: see
// that package's comment.)
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, `{"error":"encoding the response failed"}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
