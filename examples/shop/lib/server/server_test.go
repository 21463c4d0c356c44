package server

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestServeUntilCanceled(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, "test", addr, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "hi") }))
	}()
	var body string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		resp, err := http.Get("http://" + addr)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			body = string(b)
			break
		}
		time.Sleep(10 * time.Millisecond) // polling a server starting up, with a deadline
	}
	if body != "hi" {
		t.Fatalf("served %q, want hi", body)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Serve after cancel: %v", err)
	}
}

func TestServeReportsListenErrors(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	err = Serve(context.Background(), "catalog", l.Addr().String(), http.NotFoundHandler())
	if err == nil || !strings.HasPrefix(err.Error(), "catalog: ") {
		t.Errorf("Serve on a taken address: %v, want an error naming the service", err)
	}
}

func TestEnv(t *testing.T) {
	t.Setenv("SHOP_TEST_SET", "x")
	t.Setenv("SHOP_TEST_EMPTY", "")
	for key, want := range map[string]string{"SHOP_TEST_SET": "x", "SHOP_TEST_EMPTY": "fb", "SHOP_TEST_UNSET": "fb"} {
		if got := Env(key, "fb"); got != want {
			t.Errorf("Env(%s) = %q, want %q", key, got, want)
		}
	}
}
