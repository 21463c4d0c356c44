package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/slipway-dev/slipway/examples/shop/lib/httpjson"
)

// fakeCatalog answers GET /products/{id} for a mug and a tee.
func fakeCatalog(t *testing.T) *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /products/{id}", func(w http.ResponseWriter, r *http.Request) {
		switch r.PathValue("id") {
		case "mug":
			httpjson.Write(w, http.StatusOK, map[string]any{"id": "mug", "name": "Mug", "price_cents": 1250, "price": "$12.50"})
		case "tee":
			httpjson.Write(w, http.StatusOK, map[string]any{"id": "tee", "name": "Tee", "price_cents": 1999, "price": "$19.99"})
		default:
			httpjson.Error(w, http.StatusNotFound, "no product %q", r.PathValue("id"))
		}
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func do(t *testing.T, method, url, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestOrders(t *testing.T) {
	catalog := fakeCatalog(t)
	srv := httptest.NewServer(newHandler("v-test", newStore("pw"), httpjson.NewClient(catalog.URL, time.Second)))
	defer srv.Close()

	if code, body := do(t, "GET", srv.URL+"/healthz", ""); code != 200 || body != "ok orders v-test\n" {
		t.Errorf("GET /healthz = %d %q", code, body)
	}
	if code, body := do(t, "GET", srv.URL+"/orders", ""); code != 200 || body != `{"orders":[],"count":0,"revenue_cents":0,"revenue":"$0.00"}`+"\n" {
		t.Errorf("GET /orders (none) = %d %q", code, body)
	}

	code, body := do(t, "POST", srv.URL+"/orders", `{"items":[{"product_id":"mug","quantity":2},{"product_id":"tee","quantity":1}]}`)
	if code != http.StatusCreated {
		t.Fatalf("POST /orders = %d %s", code, body)
	}
	var o Order
	if err := json.Unmarshal([]byte(body), &o); err != nil {
		t.Fatal(err)
	}
	if o.ID != "order-1" || o.TotalCents != 4499 || o.Total != "$44.99" || len(o.Items) != 2 || o.Items[0].Name != "Mug" || o.Items[1].UnitPrice != "$19.99" {
		t.Errorf("order = %+v", o)
	}
	do(t, "POST", srv.URL+"/orders", `{"items":[{"product_id":"tee","quantity":1}]}`)

	code, body = do(t, "GET", srv.URL+"/orders", "")
	var list orderList
	if err := json.Unmarshal([]byte(body), &list); err != nil || code != 200 {
		t.Fatalf("GET /orders = %d %s (%v)", code, body, err)
	}
	if list.Count != 2 || list.RevenueCents != 6498 || list.Revenue != "$64.98" || list.Orders[1].ID != "order-2" {
		t.Errorf("list = %+v", list)
	}
}

func TestOrderErrors(t *testing.T) {
	catalog := fakeCatalog(t)
	srv := httptest.NewServer(newHandler("v-test", newStore(""), httpjson.NewClient(catalog.URL, time.Second)))
	defer srv.Close()
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close() // a catalog that refuses connections
	srvDown := httptest.NewServer(newHandler("v-test", newStore(""), httpjson.NewClient(down.URL, time.Second)))
	defer srvDown.Close()

	tests := []struct {
		name, url, body string
		wantCode        int
		wantErr         string
	}{
		{"no items", srv.URL, `{"items":[]}`, 400, "at least one item"},
		{"bad json", srv.URL, `{"items":`, 400, "invalid JSON"},
		{"unknown field", srv.URL, `{"item":[]}`, 400, "unknown field"},
		{"quantity", srv.URL, `{"items":[{"product_id":"mug","quantity":0}]}`, 400, "quantity 0"},
		{"unknown product", srv.URL, `{"items":[{"product_id":"nope","quantity":1}]}`, 400, `unknown product \"nope\"`},
		{"empty product", srv.URL, `{"items":[{"product_id":"","quantity":1}]}`, 400, "needs a product_id"},
		{"catalog down", srvDown.URL, `{"items":[{"product_id":"mug","quantity":1}]}`, 502, "pricing with the catalog"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := do(t, "POST", tt.url+"/orders", tt.body)
			if code != tt.wantCode || !strings.Contains(body, tt.wantErr) {
				t.Errorf("POST /orders %s = %d %s, want %d with %q", tt.body, code, body, tt.wantCode, tt.wantErr)
			}
		})
	}
	if _, body := do(t, "GET", srv.URL+"/orders", ""); !strings.Contains(body, `"count":0`) {
		t.Errorf("failed orders were stored: %s", body)
	}
}

func TestStore(t *testing.T) {
	if newStore("").authenticated() || !newStore("pw").authenticated() {
		t.Error("authenticated() does not follow the password")
	}
}
