package main

// Bazel never compiles this file (see the gazelle:exclude in BUILD.bazel): Bazel compiles
// in products_gen.go, which the :products_gen genrule generates from products.csv. The go
// command cannot run a genrule, so for `go build`, `go vet` and `go test` this file
// provides the same products by parsing the embedded products.csv with the generator's
// own parser.

import (
	_ "embed"
	"log"
	"strings"

	"github.com/slipway-dev/slipway/examples/shop/catalog/internal/productcsv"
)

//go:embed products.csv
var productsCSV string

var products = mustParseProducts(productsCSV)

func mustParseProducts(csv string) []Product {
	rows, err := productcsv.Parse("products.csv", strings.NewReader(csv))
	if err != nil {
		log.Fatal(err)
	}
	ps := make([]Product, len(rows))
	for i, r := range rows {
		ps[i] = Product{ID: r.ID, Name: r.Name, Price: r.Price}
	}
	return ps
}
