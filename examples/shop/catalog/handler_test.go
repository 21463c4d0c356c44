package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

var testProducts = []Product{{ID: "mug", Name: "Mug", Price: 1250}, {ID: "tee", Name: "Tee", Price: 1999}}

func get(t *testing.T, url string) (int, http.Header, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(body)
}

func TestHandler(t *testing.T) {
	srv := httptest.NewServer(newHandler("v-test", testProducts, 30))
	defer srv.Close()
	tests := []struct {
		path     string
		wantCode int
		wantBody string
	}{
		{"/healthz", http.StatusOK, "ok catalog v-test\n"},
		{"/products", http.StatusOK, `[{"id":"mug","name":"Mug","price_cents":1250,"price":"$12.50"},{"id":"tee","name":"Tee","price_cents":1999,"price":"$19.99"}]` + "\n"},
		{"/products/tee", http.StatusOK, `{"id":"tee","name":"Tee","price_cents":1999,"price":"$19.99"}` + "\n"},
		{"/products/nope", http.StatusNotFound, `{"error":"no product \"nope\""}` + "\n"},
		{"/missing", http.StatusNotFound, "404 page not found\n"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			code, _, body := get(t, srv.URL+tt.path)
			if code != tt.wantCode || body != tt.wantBody {
				t.Errorf("GET %s = %d %q, want %d %q", tt.path, code, body, tt.wantCode, tt.wantBody)
			}
		})
	}
	if _, h, _ := get(t, srv.URL+"/products"); h.Get("Cache-Control") != "public, max-age=30" || h.Get("Content-Type") != "application/json" {
		t.Errorf("GET /products headers = %v", h)
	}
}

// TestProducts checks the products compiled in: by Bazel from the generated
// products_gen.go, by the go command from products_gotool.go.
func TestProducts(t *testing.T) {
	if len(products) == 0 {
		t.Fatal("no products compiled in")
	}
	seen := map[string]bool{}
	for _, p := range products {
		if p.ID == "" || p.Name == "" || p.Price < 0 || seen[p.ID] {
			t.Errorf("bad or duplicate product %+v", p)
		}
		seen[p.ID] = true
	}
	srv := httptest.NewServer(newHandler("v-test", products, 0))
	defer srv.Close()
	_, _, body := get(t, srv.URL+"/products")
	var got []productJSON
	if err := json.Unmarshal([]byte(body), &got); err != nil || len(got) != len(products) {
		t.Errorf("GET /products = %s (%v), want %d products", body, err, len(products))
	}
}
