// Package productcsv reads the catalog's products.csv: a header "id,name,price", then one
// product a line, with the price in currency units (e.g. "12.50").
//
// The generator (//examples/shop/catalog/gen) uses it to turn products.csv into Go source
// at build time, and the catalog's products_gotool.go uses it when built by `go` rather
// than Bazel, so that both read the file the same way.
package productcsv

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"

	"github.com/slipway-dev/slipway/examples/shop/lib/money"
)

// Row is one product.
type Row struct {
	ID    string
	Name  string
	Price money.Cents
}

var (
	header = []string{"id", "name", "price"}
	// validID keeps IDs safe to put in a URL path (/products/{id}).
	validID = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)
)

// Parse reads products from CSV; name is used in error messages ("products.csv:3: ...").
func Parse(name string, r io.Reader) ([]Row, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = 0 // every line has as many fields as the header, checked below
	cr.TrimLeadingSpace = true
	first, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: empty file, want a header %q", name, strings.Join(header, ","))
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if !slices.Equal(first, header) {
		return nil, fmt.Errorf("%s:1: header is %q, want %q", name, strings.Join(first, ","), strings.Join(header, ","))
	}
	var rows []Row
	seen := map[string]int{}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		line, _ := cr.FieldPos(0)
		id, pname, price := strings.TrimSpace(rec[0]), strings.TrimSpace(rec[1]), strings.TrimSpace(rec[2])
		if !validID.MatchString(id) {
			return nil, fmt.Errorf("%s:%d: id %q must be lowercase letters, digits and dashes", name, line, id)
		}
		if prev, ok := seen[id]; ok {
			return nil, fmt.Errorf("%s:%d: id %q already used on line %d", name, line, id, prev)
		}
		seen[id] = line
		if pname == "" {
			return nil, fmt.Errorf("%s:%d: product %q has no name", name, line, id)
		}
		cents, err := money.Parse(price)
		if err != nil || cents < 0 {
			return nil, fmt.Errorf("%s:%d: product %q: price %q is not a non-negative amount like 12.50", name, line, id, price)
		}
		rows = append(rows, Row{ID: id, Name: pname, Price: cents})
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("%s: no products", name)
	}
	return rows, nil
}
