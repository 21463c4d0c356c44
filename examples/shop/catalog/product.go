package main

import "github.com/slipway-dev/slipway/examples/shop/lib/money"

// Product is one product of the catalog. The catalog's own products are in the
// generated products_gen.go (from products.csv).
type Product struct {
	ID    string
	Name  string
	Price money.Cents
}

// productJSON is a Product as the API sends it: the price both in cents, for
// arithmetic, and formatted, for display.
type productJSON struct {
	ID         string      `json:"id"`
	Name       string      `json:"name"`
	PriceCents money.Cents `json:"price_cents"`
	Price      string      `json:"price"`
}

func (p Product) toJSON() productJSON {
	return productJSON{ID: p.ID, Name: p.Name, PriceCents: p.Price, Price: p.Price.String()}
}
