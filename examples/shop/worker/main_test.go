package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/slipway-dev/slipway/examples/shop/lib/httpjson"
)

func TestReport(t *testing.T) {
	orders := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || r.URL.Path != "/orders" {
			http.NotFound(w, r)
			return
		}
		_, _ = io.WriteString(w, `{"orders":[
			{"id":"order-1","total":"$44.99","total_cents":4499,"items":[{"name":"Mug","quantity":2},{"name":"Tee","quantity":1}]},
			{"id":"order-22","total":"$19.99","total_cents":1999,"items":[{"name":"Tee","quantity":1}]}],
			"count":2,"revenue_cents":6498,"revenue":"$64.98"}`)
	}))
	defer orders.Close()

	var out strings.Builder
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := report(context.Background(), &out, httpjson.NewClient(orders.URL, time.Second), "v-test", now); err != nil {
		t.Fatal(err)
	}
	want := `shop report by worker v-test at 2025-01-02T03:04:05Z
orders: 2, revenue: $64.98
  order-1   $44.99  2x Mug, 1x Tee
  order-22  $19.99  1x Tee
`
	if out.String() != want {
		t.Errorf("report:\n%s\nwant:\n%s", out.String(), want)
	}
}

func TestReportFailsWithoutOrders(t *testing.T) {
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	var out strings.Builder
	err := report(context.Background(), &out, httpjson.NewClient(down.URL, time.Second), "v-test", time.Now())
	if err == nil || !strings.Contains(err.Error(), "listing orders") {
		t.Errorf("report = %v, want a listing orders error", err)
	}
}

func TestHealth(t *testing.T) {
	srv := httptest.NewServer(newHealthHandler("v-test"))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "ok worker v-test\n" {
		t.Errorf("GET /healthz = %d %q", resp.StatusCode, body)
	}
}
