package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/slipway-dev/slipway/examples/shop/lib/httpjson"
)

// fakes returns a catalog with two products and an orders service that counts orders.
func fakes(t *testing.T) (catalog, orders *httptest.Server) {
	cmux := http.NewServeMux()
	cmux.HandleFunc("GET /products", func(w http.ResponseWriter, _ *http.Request) {
		httpjson.Write(w, http.StatusOK, []map[string]any{
			{"id": "mug", "name": "Mug", "price_cents": 1250, "price": "$12.50"},
			{"id": "tee", "name": "Tee <large>", "price_cents": 1999, "price": "$19.99"},
		})
	})
	omux := http.NewServeMux()
	count := 0
	omux.HandleFunc("GET /orders", func(w http.ResponseWriter, _ *http.Request) {
		httpjson.Write(w, http.StatusOK, map[string]any{"orders": []any{}, "count": count, "revenue_cents": 1250 * count, "revenue": "$12.50"})
	})
	omux.HandleFunc("POST /orders", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Items []struct {
				ProductID string `json:"product_id"`
				Quantity  int    `json:"quantity"`
			} `json:"items"`
		}
		if err := httpjson.Decode(w, r, &req); err != nil || len(req.Items) != 1 || req.Items[0].Quantity != 1 {
			httpjson.Error(w, http.StatusBadRequest, "bad order %+v: %v", req, err)
			return
		}
		if req.Items[0].ProductID != "mug" {
			httpjson.Error(w, http.StatusBadRequest, "unknown product %q", req.Items[0].ProductID)
			return
		}
		count++
		httpjson.Write(w, http.StatusCreated, map[string]any{"id": "order-1"})
	})
	catalog, orders = httptest.NewServer(cmux), httptest.NewServer(omux)
	t.Cleanup(catalog.Close)
	t.Cleanup(orders.Close)
	return catalog, orders
}

func newTestServer(t *testing.T, catalogURL, ordersURL string) *httptest.Server {
	srv := httptest.NewServer(newHandler("v-test", httpjson.NewClient(catalogURL, time.Second), httpjson.NewClient(ordersURL, time.Second)))
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestHealthz(t *testing.T) {
	srv := newTestServer(t, "http://127.0.0.1:1", "http://127.0.0.1:1")
	if code, body := get(t, srv.URL+"/healthz"); code != 200 || body != "ok frontend v-test\n" {
		t.Errorf("GET /healthz = %d %q", code, body)
	}
	if code, _ := get(t, srv.URL+"/missing"); code != http.StatusNotFound {
		t.Errorf("GET /missing = %d, want 404", code)
	}
}

func TestPage(t *testing.T) {
	catalog, orders := fakes(t)
	srv := newTestServer(t, catalog.URL, orders.URL)
	code, body := get(t, srv.URL+"/")
	if code != 200 {
		t.Fatalf("GET / = %d %s", code, body)
	}
	for _, want := range []string{"<td>Mug</td><td>$12.50</td>", "<td>Tee &lt;large&gt;</td><td>$19.99</td>", `value="tee"`, "0 orders so far", "frontend v-test"} {
		if !strings.Contains(body, want) {
			t.Errorf("GET / lacks %q:\n%s", want, body)
		}
	}
}

func TestBuy(t *testing.T) {
	catalog, orders := fakes(t)
	srv := newTestServer(t, catalog.URL, orders.URL)
	resp, err := http.PostForm(srv.URL+"/buy", url.Values{"product": {"mug"}}) // follows the redirect to /
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "Your order order-1 is placed") || !strings.Contains(string(body), "1 order so far, $12.50 in total") {
		t.Errorf("POST /buy then GET / = %d\n%s", resp.StatusCode, body)
	}
	resp, err = http.PostForm(srv.URL+"/buy", url.Values{"product": {"nope"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("POST /buy unknown product = %d, want 400", resp.StatusCode)
	}
}

func TestPeersDown(t *testing.T) {
	catalog, _ := fakes(t)
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	// Without orders, the page still lists the products.
	code, body := get(t, newTestServer(t, catalog.URL, down.URL).URL+"/")
	if code != 200 || !strings.Contains(body, "<td>Mug</td>") || !strings.Contains(body, "Orders are unavailable") {
		t.Errorf("GET / without orders = %d\n%s", code, body)
	}
	// Without the catalog, it is a 502.
	code, body = get(t, newTestServer(t, down.URL, down.URL).URL+"/")
	if code != http.StatusBadGateway || !strings.Contains(body, "The catalog is unavailable") {
		t.Errorf("GET / without catalog = %d\n%s", code, body)
	}
}
