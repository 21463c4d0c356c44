package remotecache

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/slipway-dev/slipway/internal/bazel"
	"github.com/slipway-dev/slipway/internal/publish"
)

func TestFromOptions(t *testing.T) {
	tests := []struct {
		name    string
		options []string
		want    Settings
	}{
		{"none", []string{"--keep_going", "--disk_cache=/x"}, Settings{}},
		{"http cache, minimal", []string{"--remote_cache=http://127.0.0.1:9090/ns", "--remote_download_minimal"},
			Settings{Cache: "http://127.0.0.1:9090/ns", Download: "minimal"}},
		{"later wins, split value", []string{"--remote_cache=http://a", "--remote_cache", "grpc://b", "--remote_download_outputs=toplevel"},
			Settings{Cache: "grpc://b", Download: "toplevel"}},
		{"executor caches", []string{"--remote_executor=grpcs://re.example:443", "--remote_download_all"},
			Settings{Cache: "grpcs://re.example:443", Download: "all"}},
		{"headers", []string{"--remote_cache=https://c", "--remote_header=Authorization=Bearer x", "--remote_cache_header=X-Ns=a=b"},
			Settings{Cache: "https://c", Header: http.Header{"Authorization": {"Bearer x"}, "X-Ns": {"a=b"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := FromOptions(tt.options)
			if len(got.Header) == 0 {
				got.Header = nil
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// The options of a real build (Bazel 7.7.1's optionsParsed event) carry the rc
// files' flags: a disk cache here, and no remote cache.
func TestFromOptionsOfARealBuild(t *testing.T) {
	f, err := os.Open("../bazel/testdata/bep_success.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, err := bazel.ParseBuildEvents(f)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(res.Options, " "), "--disk_cache=") {
		t.Fatalf("options %v lack the rc file's --disk_cache", res.Options)
	}
	if s := FromOptions(res.Options); s.Cache != "" {
		t.Errorf("cache %q, want none", s.Cache)
	}
}

func digestOf(b []byte) v1.Hash {
	sum := sha256.Sum256(b)
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sum[:])}
}

func TestHTTPOpensBlobsByDigest(t *testing.T) {
	blob := []byte("layer bytes")
	var gotAuth, gotHeader string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotAuth, gotHeader = r.Header.Get("Authorization"), r.Header.Get("X-Tenant")
		switch r.URL.Path {
		case "/prefix/cas/" + digestOf(blob).Hex:
			w.Write(blob)
		case "/prefix/cas/" + digestOf([]byte("broken")).Hex:
			http.Error(w, "disk full", http.StatusInternalServerError)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	u := strings.Replace(srv.URL, "http://", "http://me:secret@", 1) + "/prefix/"
	h, err := NewHTTP(u, http.Header{"X-Tenant": {"a"}})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(h.String(), "secret") {
		t.Errorf("String() %q shows the password", h)
	}
	rc, err := h.Open(context.Background(), digestOf(blob))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if string(got) != string(blob) || h.BytesRead() != int64(len(blob)) {
		t.Errorf("read %q (%d bytes counted)", got, h.BytesRead())
	}
	if gotAuth == "" || gotHeader != "a" {
		t.Errorf("authorization %q, header %q: want basic auth and the --remote_header", gotAuth, gotHeader)
	}
	if _, err := h.Open(context.Background(), digestOf([]byte("evicted"))); !errors.Is(err, publish.ErrBlobNotFound) {
		t.Errorf("missing blob: err = %v, want ErrBlobNotFound", err)
	}
	_, err = h.Open(context.Background(), digestOf([]byte("broken")))
	if err == nil || errors.Is(err, publish.ErrBlobNotFound) || !strings.Contains(err.Error(), "500") || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("server error: err = %v, want the status and body", err)
	}
}

func TestNewHTTPRefusesOtherSchemes(t *testing.T) {
	if _, err := NewHTTP("grpc://cache:9092", nil); err == nil {
		t.Error("a gRPC cache was taken for an HTTP one")
	}
}

func TestMaterializeFlags(t *testing.T) {
	got := MaterializeFlags([]string{"--config=ci"}, "/root/.cache/ob/execroot/_main/bazel-out/k8-fastbuild/bin/shop/catalog/image")
	want := []string{"--config=ci",
		`--remote_download_regex=bazel-out/k8-fastbuild/bin/shop/catalog/image/.*`,
		"--experimental_remote_cache_eviction_retries=5"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
