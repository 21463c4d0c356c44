package main

import (
	"bytes"
	"context"
	"fmt"
	"html/template"
	"log"
	"net/http"
	"net/url"
	"sync"

	"github.com/slipway-dev/slipway/examples/shop/lib/httpjson"
)

// product is what the frontend shows of the catalog's GET /products: prices come
// formatted, so the frontend needs no money arithmetic (and no lib/money).
type product struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Price string `json:"price"`
}

// orderSummary is what the frontend shows of the orders service's GET /orders.
type orderSummary struct {
	Count   int    `json:"count"`
	Revenue string `json:"revenue"`
}

// page is the data of the shop's page.
type page struct {
	Version     string
	Products    []product
	CatalogErr  string
	Orders      orderSummary
	OrdersErr   string
	JustOrdered string
}

var pageTemplate = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Shop</title></head>
<body>
<h1>Shop</h1>
{{- if .JustOrdered}}
<p class="notice">Thanks! Your order {{.JustOrdered}} is placed.</p>
{{- end}}
{{- if .CatalogErr}}
<p class="error">The catalog is unavailable: {{.CatalogErr}}</p>
{{- else}}
<table>
<tr><th>Product</th><th>Price</th><th></th></tr>
{{- range .Products}}
<tr><td>{{.Name}}</td><td>{{.Price}}</td><td><form method="post" action="/buy"><input type="hidden" name="product" value="{{.ID}}"><button>Buy</button></form></td></tr>
{{- end}}
</table>
{{- end}}
{{- if .OrdersErr}}
<p class="error">Orders are unavailable: {{.OrdersErr}}</p>
{{- else}}
<p>{{.Orders.Count}} order{{if ne .Orders.Count 1}}s{{end}} so far, {{.Orders.Revenue}} in total.</p>
{{- end}}
<footer>frontend {{.Version}}</footer>
</body>
</html>
`))

// newHandler serves the shop's page on /, places orders on POST /buy, and answers
// "ok frontend <version>" on /healthz.
func newHandler(version string, catalog, orders *httpjson.Client) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, "ok frontend %s\n", version)
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		p := load(r.Context(), catalog, orders)
		p.Version, p.JustOrdered = version, r.URL.Query().Get("ordered")
		status := http.StatusOK
		if p.CatalogErr != "" {
			status = http.StatusBadGateway // the page is useless without products
		}
		render(w, status, p)
	})
	mux.HandleFunc("POST /buy", func(w http.ResponseWriter, r *http.Request) {
		id := r.PostFormValue("product")
		if id == "" {
			http.Error(w, "no product chosen", http.StatusBadRequest)
			return
		}
		req := map[string]any{"items": []map[string]any{{"product_id": id, "quantity": 1}}}
		var placed struct {
			ID string `json:"id"`
		}
		if err := orders.Post(r.Context(), "/orders", req, &placed); err != nil {
			status := http.StatusBadGateway
			if httpjson.IsStatus(err, http.StatusBadRequest) {
				status = http.StatusBadRequest
			}
			http.Error(w, "placing the order failed: "+err.Error(), status)
			return
		}
		http.Redirect(w, r, "/?ordered="+url.QueryEscape(placed.ID), http.StatusSeeOther)
	})
	return mux
}

// load asks the catalog and the orders service at the same time.
func load(ctx context.Context, catalog, orders *httpjson.Client) page {
	var p page
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := catalog.Get(ctx, "/products", &p.Products); err != nil {
			p.CatalogErr = err.Error()
		}
	})
	wg.Go(func() {
		if err := orders.Get(ctx, "/orders", &p.Orders); err != nil {
			p.OrdersErr = err.Error()
		}
	})
	wg.Wait()
	return p
}

func render(w http.ResponseWriter, status int, p page) {
	var b bytes.Buffer
	if err := pageTemplate.Execute(&b, p); err != nil {
		log.Printf("frontend: rendering the page: %v", err)
		http.Error(w, "rendering the page failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}
