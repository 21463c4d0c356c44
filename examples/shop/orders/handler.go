package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/slipway-dev/slipway/examples/shop/lib/httpjson"
	"github.com/slipway-dev/slipway/examples/shop/lib/money"
)

// maxQuantity bounds the quantity of one item.
const maxQuantity = 100

// orderRequest is the body of POST /orders.
type orderRequest struct {
	Items []struct {
		ProductID string `json:"product_id"`
		Quantity  int    `json:"quantity"`
	} `json:"items"`
}

// orderList is the body of GET /orders.
type orderList struct {
	Orders       []Order     `json:"orders"`
	Count        int         `json:"count"`
	RevenueCents money.Cents `json:"revenue_cents"`
	Revenue      string      `json:"revenue"`
}

// product is what the orders service reads of the catalog's GET /products/{id}.
type product struct {
	ID         string      `json:"id"`
	Name       string      `json:"name"`
	PriceCents money.Cents `json:"price_cents"`
}

// newHandler serves the orders API, and "ok orders <version>" on /healthz; catalog
// prices the items of new orders.
func newHandler(version string, db *store, catalog *httpjson.Client) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, "ok orders %s\n", version)
	})
	mux.HandleFunc("GET /orders", func(w http.ResponseWriter, _ *http.Request) {
		orders, revenue := db.list()
		if orders == nil {
			orders = []Order{}
		}
		httpjson.Write(w, http.StatusOK, orderList{Orders: orders, Count: len(orders), RevenueCents: revenue, Revenue: revenue.String()})
	})
	mux.HandleFunc("POST /orders", func(w http.ResponseWriter, r *http.Request) {
		var req orderRequest
		if err := httpjson.Decode(w, r, &req); err != nil {
			httpjson.Error(w, http.StatusBadRequest, "%v", err)
			return
		}
		if len(req.Items) == 0 {
			httpjson.Error(w, http.StatusBadRequest, "an order needs at least one item")
			return
		}
		order := Order{CreatedAt: time.Now().UTC()}
		for _, it := range req.Items {
			if it.ProductID == "" {
				httpjson.Error(w, http.StatusBadRequest, "every item needs a product_id")
				return
			}
			if it.Quantity < 1 || it.Quantity > maxQuantity {
				httpjson.Error(w, http.StatusBadRequest, "product %q: quantity %d is not between 1 and %d", it.ProductID, it.Quantity, maxQuantity)
				return
			}
			p, err := lookup(r.Context(), catalog, it.ProductID)
			switch {
			case httpjson.IsStatus(err, http.StatusNotFound):
				httpjson.Error(w, http.StatusBadRequest, "unknown product %q", it.ProductID)
				return
			case err != nil:
				httpjson.Error(w, http.StatusBadGateway, "pricing with the catalog: %v", err)
				return
			}
			order.Items = append(order.Items, Item{
				ProductID: p.ID, Name: p.Name, Quantity: it.Quantity,
				UnitPriceCents: p.PriceCents, UnitPrice: p.PriceCents.String(),
			})
		}
		httpjson.Write(w, http.StatusCreated, db.add(order))
	})
	return mux
}

// lookup asks the catalog for one product.
func lookup(ctx context.Context, catalog *httpjson.Client, id string) (product, error) {
	var p product
	err := catalog.Get(ctx, "/products/"+url.PathEscape(id), &p)
	return p, err
}
