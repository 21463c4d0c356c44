// Package httpjson serves and calls JSON over HTTP, with size limits and timeouts.
//
// Imported by frontend, orders and worker only (not by catalog, which writes its JSON
// with encoding/json directly): a change here affects exactly //examples/shop/frontend,
// //examples/shop/orders and //examples/shop/worker.
package httpjson

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// MaxBodyBytes bounds the JSON bodies Decode and Client read.
const MaxBodyBytes = 1 << 20

// DefaultTimeout bounds a whole call (connect, request and response) of a Client.
const DefaultTimeout = 5 * time.Second

// Write sends v as JSON with the given status code.
func Write(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, `{"error":"encoding the response failed"}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// ErrorBody is the JSON body of an error response: {"error": "..."}.
type ErrorBody struct {
	Error string `json:"error"`
}

// Error sends {"error": message} with the given status code.
func Error(w http.ResponseWriter, status int, format string, args ...any) {
	Write(w, status, ErrorBody{Error: fmt.Sprintf(format, args...)})
}

// Decode reads a request's JSON body into v, rejecting unknown fields, trailing data and
// bodies over MaxBodyBytes.
func Decode(w http.ResponseWriter, r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("invalid JSON body: %w", err)
	}
	if dec.More() {
		return errors.New("invalid JSON body: more than one value")
	}
	return nil
}

// StatusError is a response with a status other than 2xx.
type StatusError struct {
	Method, URL string
	Code        int
	// Message is the body's "error" field, else the body itself (shortened).
	Message string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("%s %s: %d %s: %s", e.Method, e.URL, e.Code, http.StatusText(e.Code), e.Message)
}

// IsStatus reports whether err is (or wraps) a StatusError with the given code.
func IsStatus(err error, code int) bool {
	var se *StatusError
	return errors.As(err, &se) && se.Code == code
}

// Client calls a JSON API at BaseURL, e.g. "http://catalog".
type Client struct {
	BaseURL string
	HTTP    *http.Client
}

// NewClient returns a Client whose calls each take at most timeout
// (DefaultTimeout when zero or negative).
func NewClient(baseURL string, timeout time.Duration) *Client {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	return &Client{BaseURL: strings.TrimRight(baseURL, "/"), HTTP: &http.Client{Timeout: timeout}}
}

// Get fetches path and decodes the JSON response into out.
func (c *Client) Get(ctx context.Context, path string, out any) error {
	return c.Do(ctx, http.MethodGet, path, nil, out)
}

// Post sends in as JSON to path and decodes the JSON response into out (unless nil).
func (c *Client) Post(ctx context.Context, path string, in, out any) error {
	return c.Do(ctx, http.MethodPost, path, in, out)
}

// Do sends a request with in (unless nil) as its JSON body, and decodes a 2xx response's
// JSON body into out (unless nil). Other statuses return a *StatusError.
func (c *Client) Do(ctx context.Context, method, path string, in, out any) error {
	url := c.BaseURL + path
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("%s %s: encoding the request: %w", method, url, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: DefaultTimeout}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err // already names the method and URL
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxBodyBytes+1))
	if err != nil {
		return fmt.Errorf("%s %s: reading the response: %w", method, url, err)
	}
	if len(data) > MaxBodyBytes {
		return fmt.Errorf("%s %s: response larger than %d bytes", method, url, MaxBodyBytes)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return &StatusError{Method: method, URL: url, Code: resp.StatusCode, Message: errorMessage(data)}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s: decoding the response: %w", method, url, err)
	}
	return nil
}

func errorMessage(body []byte) string {
	var eb ErrorBody
	if json.Unmarshal(body, &eb) == nil && eb.Error != "" {
		return eb.Error
	}
	s := strings.TrimSpace(string(body))
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}
