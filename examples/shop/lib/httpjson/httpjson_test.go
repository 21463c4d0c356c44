package httpjson

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

type item struct {
	Name  string `json:"name"`
	Count int    `json:"count"`
}

func newServer(t *testing.T) *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /item", func(w http.ResponseWriter, _ *http.Request) {
		Write(w, http.StatusOK, item{Name: "mug", Count: 2})
	})
	mux.HandleFunc("POST /echo", func(w http.ResponseWriter, r *http.Request) {
		var in item
		if err := Decode(w, r, &in); err != nil {
			Error(w, http.StatusBadRequest, "%v", err)
			return
		}
		in.Count++
		Write(w, http.StatusCreated, in)
	})
	mux.HandleFunc("GET /missing", func(w http.ResponseWriter, _ *http.Request) {
		Error(w, http.StatusNotFound, "no such %s", "thing")
	})
	mux.HandleFunc("GET /slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func TestGetAndPost(t *testing.T) {
	srv := newServer(t)
	c := NewClient(srv.URL+"/", 0)
	ctx := context.Background()

	var got item
	if err := c.Get(ctx, "/item", &got); err != nil || got != (item{"mug", 2}) {
		t.Fatalf("Get = %+v, %v", got, err)
	}
	if err := c.Post(ctx, "/echo", item{Name: "pen", Count: 1}, &got); err != nil || got != (item{"pen", 2}) {
		t.Fatalf("Post = %+v, %v", got, err)
	}
}

func TestStatusError(t *testing.T) {
	srv := newServer(t)
	c := NewClient(srv.URL, time.Second)
	err := c.Get(context.Background(), "/missing", nil)
	if !IsStatus(err, http.StatusNotFound) {
		t.Fatalf("err = %v, want a 404 StatusError", err)
	}
	if !strings.Contains(err.Error(), "no such thing") {
		t.Errorf("err = %q, want the server's message", err)
	}
	// Decode rejects unknown fields; the server answers 400 with the reason.
	err = c.Post(context.Background(), "/echo", map[string]any{"name": "x", "colour": "red"}, nil)
	if !IsStatus(err, http.StatusBadRequest) || !strings.Contains(err.Error(), "colour") {
		t.Errorf("err = %v, want a 400 naming the unknown field", err)
	}
}

func TestTimeout(t *testing.T) {
	srv := newServer(t)
	c := NewClient(srv.URL, 50*time.Millisecond)
	start := time.Now()
	err := c.Get(context.Background(), "/slow", nil)
	if err == nil {
		t.Fatal("Get /slow succeeded, want a timeout")
	}
	var se *StatusError
	if errors.As(err, &se) {
		t.Errorf("err = %v, want a transport error", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Get took %v despite a 50ms timeout", d)
	}
}

func TestDecodeRejectsTrailingData(t *testing.T) {
	r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(`{"name":"a"} {"name":"b"}`))
	var in item
	if err := Decode(httptest.NewRecorder(), r, &in); err == nil {
		t.Error("Decode accepted two values")
	}
}

func TestWriteSetsContentType(t *testing.T) {
	rec := httptest.NewRecorder()
	Write(rec, http.StatusAccepted, map[string]int{"n": 1})
	if rec.Code != http.StatusAccepted || rec.Header().Get("Content-Type") != "application/json" || rec.Body.String() != "{\"n\":1}\n" {
		t.Errorf("Write gave %d %q %q", rec.Code, rec.Header().Get("Content-Type"), rec.Body.String())
	}
}
