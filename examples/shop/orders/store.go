package main

import (
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/slipway-dev/slipway/examples/shop/lib/money"
)

// Order is a priced order.
type Order struct {
	ID         string      `json:"id"`
	Items      []Item      `json:"items"`
	TotalCents money.Cents `json:"total_cents"`
	Total      string      `json:"total"`
	CreatedAt  time.Time   `json:"created_at"`
}

// Item is one line of an order, priced when the order was placed.
type Item struct {
	ProductID      string      `json:"product_id"`
	Name           string      `json:"name"`
	Quantity       int         `json:"quantity"`
	UnitPriceCents money.Cents `json:"unit_price_cents"`
	UnitPrice      string      `json:"unit_price"`
}

// store keeps orders in memory: it stands in for the database whose password the
// service reads from DB_PASSWORD. Orders are lost on restart (hence one replica).
type store struct {
	password string // never logged or served
	mu       sync.Mutex
	orders   []Order
}

func newStore(password string) *store { return &store{password: password} }

// authenticated reports whether the store was given a password.
func (s *store) authenticated() bool { return s.password != "" }

// add gives the order an ID and its total, stores it, and returns it.
func (s *store) add(o Order) Order {
	amounts := make([]money.Cents, len(o.Items))
	for i, it := range o.Items {
		amounts[i] = it.UnitPriceCents.Times(it.Quantity)
	}
	o.TotalCents = money.Sum(amounts...)
	o.Total = o.TotalCents.String()
	s.mu.Lock()
	defer s.mu.Unlock()
	o.ID = fmt.Sprintf("order-%d", len(s.orders)+1)
	s.orders = append(s.orders, o)
	return o
}

// list returns the orders, oldest first, and their total.
func (s *store) list() ([]Order, money.Cents) {
	s.mu.Lock()
	defer s.mu.Unlock()
	totals := make([]money.Cents, len(s.orders))
	for i, o := range s.orders {
		totals[i] = o.TotalCents
	}
	return slices.Clone(s.orders), money.Sum(totals...)
}
