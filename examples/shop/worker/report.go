package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/slipway-dev/slipway/examples/shop/lib/httpjson"
)

// orderList is what the report reads of the orders service's GET /orders: amounts come
// formatted, so the worker needs no money arithmetic (and no lib/money).
type orderList struct {
	Orders []struct {
		ID    string `json:"id"`
		Total string `json:"total"`
		Items []struct {
			Name     string `json:"name"`
			Quantity int    `json:"quantity"`
		} `json:"items"`
	} `json:"orders"`
	Count   int    `json:"count"`
	Revenue string `json:"revenue"`
}

// report asks the orders service for the orders so far and writes a report to w.
func report(ctx context.Context, w io.Writer, orders *httpjson.Client, version string, now time.Time) error {
	var list orderList
	if err := orders.Get(ctx, "/orders", &list); err != nil {
		return fmt.Errorf("listing orders: %w", err)
	}
	fmt.Fprintf(w, "shop report by worker %s at %s\n", version, now.UTC().Format(time.RFC3339))
	fmt.Fprintf(w, "orders: %d, revenue: %s\n", list.Count, list.Revenue)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, o := range list.Orders {
		items := make([]string, len(o.Items))
		for i, it := range o.Items {
			items[i] = fmt.Sprintf("%dx %s", it.Quantity, it.Name)
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", o.ID, o.Total, strings.Join(items, ", "))
	}
	return tw.Flush()
}
