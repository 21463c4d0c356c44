// Package money holds amounts of money as whole cents, so that sums are exact.
//
// Imported by catalog and orders only (not by frontend or worker, which show the
// formatted amounts those two services send): a change here affects exactly
// //examples/shop/catalog and //examples/shop/orders.
package money

import (
	"fmt"
	"strconv"
	"strings"
)

// Cents is an amount of money in cents (hundredths of the currency unit).
type Cents int64

// String formats the amount as dollars, e.g. "$12.50" or "-$0.05".
func (c Cents) String() string {
	sign := ""
	if c < 0 {
		sign, c = "-", -c
	}
	return fmt.Sprintf("%s$%d.%02d", sign, c/100, c%100)
}

// Times is the amount multiplied by n, e.g. a unit price times a quantity.
func (c Cents) Times(n int) Cents { return c * Cents(n) }

// Sum adds up amounts; the sum of none is zero.
func Sum(amounts ...Cents) Cents {
	var total Cents
	for _, a := range amounts {
		total += a
	}
	return total
}

// Parse reads an amount written in currency units, with an optional "$" and up to two
// decimals: "12", "12.5", "12.50", "$12.50" and "-0.05" are all accepted.
func Parse(s string) (Cents, error) {
	in := s
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(strings.TrimPrefix(s, "-"), "$")
	whole, frac, hasFrac := strings.Cut(s, ".")
	if whole == "" || len(frac) > 2 || (hasFrac && frac == "") || !digits(whole) || !digits(frac) {
		return 0, fmt.Errorf("money: invalid amount %q", in)
	}
	units, err := strconv.ParseInt(whole, 10, 64)
	if err != nil || units > (1<<63-1)/100-1 {
		return 0, fmt.Errorf("money: amount %q out of range", in)
	}
	cents := units * 100
	if frac != "" {
		f, _ := strconv.ParseInt(frac, 10, 64)
		if len(frac) == 1 {
			f *= 10
		}
		cents += f
	}
	if neg {
		cents = -cents
	}
	return Cents(cents), nil
}

func digits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
