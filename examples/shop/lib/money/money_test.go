package money

import (
	"encoding/json"
	"testing"
)

func TestString(t *testing.T) {
	for c, want := range map[Cents]string{
		0:      "$0.00",
		5:      "$0.05",
		1250:   "$12.50",
		100000: "$1000.00",
		-5:     "-$0.05",
		-1999:  "-$19.99",
	} {
		if got := c.String(); got != want {
			t.Errorf("Cents(%d).String() = %q, want %q", int64(c), got, want)
		}
	}
}

func TestSumAndTimes(t *testing.T) {
	if got := Sum(); got != 0 {
		t.Errorf("Sum() = %v, want 0", got)
	}
	if got := Sum(1250, Cents(399).Times(3), -50); got != 2397 {
		t.Errorf("Sum = %d, want 2397", got)
	}
}

func TestParse(t *testing.T) {
	for in, want := range map[string]Cents{
		"0":      0,
		"12":     1200,
		"12.5":   1250,
		"12.50":  1250,
		"$12.05": 1205,
		"-0.05":  -5,
	} {
		got, err := Parse(in)
		if err != nil || got != want {
			t.Errorf("Parse(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "$", "12.", ".5", "12.505", "1,5", "abc", "1e3", "--1", "99999999999999999999"} {
		if got, err := Parse(in); err == nil {
			t.Errorf("Parse(%q) = %d, want an error", in, got)
		}
	}
}

func TestJSONIsCents(t *testing.T) {
	b, err := json.Marshal(struct{ Price Cents }{1250})
	if err != nil || string(b) != `{"Price":1250}` {
		t.Errorf("json.Marshal = %s, %v", b, err)
	}
}
