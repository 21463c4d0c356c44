package publish

import (
	"context"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// testRegistry is an in-process registry whose blobs belong to repositories (as in
// a real registry, unlike go-containerregistry's test registry, which shares them all)
// and which honours cross-repository mounts.
type testRegistry struct {
	host string
	// onPatch, when set, sees each blob upload's PATCH first; returning true means
	// it answered (or dropped) the request itself.
	onPatch func(w http.ResponseWriter, req *http.Request) bool
	mu      sync.Mutex
	mounts  []string        // "from" repositories asked for
	has     map[string]bool // "repo@digest"
}

func newTestRegistry(t *testing.T) *testRegistry {
	r := &testRegistry{has: map[string]bool{}}
	inner := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(http.HandlerFunc(r.serve(inner)))
	t.Cleanup(srv.Close)
	r.host = strings.TrimPrefix(srv.URL, "http://")
	return r
}

func (r *testRegistry) serve(inner http.Handler) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, req *http.Request) {
		if req.Method == http.MethodPatch && r.onPatch != nil && r.onPatch(w, req) {
			return
		}
		repo, rest, ok := strings.Cut(strings.TrimPrefix(req.URL.Path, "/v2/"), "/blobs/")
		if !ok {
			inner.ServeHTTP(w, req)
			return
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		q := req.URL.Query()
		switch {
		case (req.Method == http.MethodHead || req.Method == http.MethodGet) && !strings.HasPrefix(rest, "uploads"):
			if !r.has[repo+"@"+rest] {
				w.WriteHeader(http.StatusNotFound)
				return
			}
		case req.Method == http.MethodPost && q.Get("mount") != "":
			r.mounts = append(r.mounts, q.Get("from"))
			if r.has[q.Get("from")+"@"+q.Get("mount")] {
				r.has[repo+"@"+q.Get("mount")] = true
				w.Header().Set("Location", "/v2/"+repo+"/blobs/"+q.Get("mount"))
				w.WriteHeader(http.StatusCreated)
				return
			}
		case req.Method == http.MethodPut && q.Get("digest") != "":
			rec := &statusRecorder{ResponseWriter: w}
			inner.ServeHTTP(rec, req)
			if rec.status == http.StatusCreated {
				r.has[repo+"@"+q.Get("digest")] = true
			}
			return
		}
		inner.ServeHTTP(w, req)
	}
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) { s.status = code; s.ResponseWriter.WriteHeader(code) }

func (r *testRegistry) repo(t *testing.T, path string) name.Repository {
	repo, err := name.NewRepository(r.host + "/" + path)
	if err != nil {
		t.Fatal(err)
	}
	return repo
}

// appLayers returns an image of a shared "base" layer and an "app" layer.
func image(t *testing.T, base, app v1.Layer) v1.Image {
	img, err := mutate.AppendLayers(empty.Image, base, app)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func randomLayer(t *testing.T, size int64) v1.Layer {
	l, err := random.Layer(size, "application/vnd.oci.image.layer.v1.tar+gzip")
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func layerSize(t *testing.T, l v1.Layer) int64 {
	n, err := l.Size()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestPublishSendsOnlyWhatIsMissing(t *testing.T) {
	reg := newTestRegistry(t)
	repo := reg.repo(t, "shop/frontend")
	p := NewRemote(nil)
	ctx := context.Background()
	base, app := randomLayer(t, 200_000), randomLayer(t, 100_000)
	first := image(t, base, app)

	res, err := p.Publish(ctx, Artifact{Image: first}, repo)
	if err != nil {
		t.Fatal(err)
	}
	digest, _ := first.Digest()
	if res.AlreadyPresent || res.Reference != repo.String()+"@"+digest.String() {
		t.Fatalf("first push: %+v", res)
	}
	if res.Stats.BlobsUploaded != 3 { // two layers and the config
		t.Errorf("first push uploaded %d blobs, want 3", res.Stats.BlobsUploaded)
	}

	// Nothing changed: one manifest check, no upload.
	res, err = p.Publish(ctx, Artifact{Image: first}, repo)
	if err != nil {
		t.Fatal(err)
	}
	if !res.AlreadyPresent || res.Stats.BytesUploaded != 0 || res.Stats.BlobsUploaded != 0 {
		t.Errorf("unchanged push: %+v, want already present with nothing uploaded", res)
	}
	if res.Stats.Requests != 1 { // the manifest HEAD: the connection is reused
		t.Errorf("unchanged push made %d requests, want 1", res.Stats.Requests)
	}
	// A new process (a .push run target): the registry pings (go-containerregistry
	// races https and http for local registries), then the manifest HEAD, no more.
	res, err = NewRemote(nil).Publish(ctx, Artifact{Image: first}, repo)
	if err != nil {
		t.Fatal(err)
	}
	if s := res.Stats; !res.AlreadyPresent || s.Requests > 3 || s.BytesUploaded != 0 || s.ManifestsPut != 0 {
		t.Errorf("unchanged push from a new publisher: %+v, want the pings and one HEAD", res)
	}

	// A new app layer: only it and the config go up.
	newApp := randomLayer(t, 100_000)
	second := image(t, base, newApp)
	res, err = p.Publish(ctx, Artifact{Image: second}, repo)
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := second.RawConfigFile()
	manifest, _ := second.RawManifest()
	floor := layerSize(t, newApp) + int64(len(cfg)) + int64(len(manifest))
	if res.Stats.BlobsUploaded != 2 { // the base layer stays where it is
		t.Errorf("one-layer change: uploaded %d blobs, want 2 (the new layer and the config)", res.Stats.BlobsUploaded)
	}
	if got := res.Stats.BytesUploaded; got < floor || float64(got) > 1.05*float64(floor) {
		t.Errorf("one-layer change sent %d bytes, want within [%d, 1.05x]", got, floor)
	}
	if _, err := remote.Image(repo.Digest(res.Digest.String())); err != nil {
		t.Errorf("pushed image cannot be pulled back by digest: %v", err)
	}
}

func TestPublishMountsFromAnotherRepository(t *testing.T) {
	reg := newTestRegistry(t)
	mounts := LoadMountCache(filepath.Join(t.TempDir(), "mounts.json"))
	p := NewRemote(mounts)
	ctx := context.Background()
	shared := randomLayer(t, 50_000)
	if _, err := p.Publish(ctx, Artifact{Image: image(t, shared, randomLayer(t, 10))}, reg.repo(t, "shop/cart")); err != nil {
		t.Fatal(err)
	}
	res, err := p.Publish(ctx, Artifact{Image: image(t, shared, randomLayer(t, 10))}, reg.repo(t, "shop/orders"))
	if err != nil {
		t.Fatal(err)
	}
	reg.mu.Lock()
	defer reg.mu.Unlock()
	if len(reg.mounts) != 1 || reg.mounts[0] != "shop/cart" {
		t.Errorf("mount requests from %v, want one from shop/cart for the shared layer", reg.mounts)
	}
	if res.Stats.BlobsMounted != 1 || res.Stats.BytesUploaded >= layerSize(t, shared) {
		t.Errorf("second repository: %+v, want the shared layer mounted, not sent", res.Stats)
	}
	// A fresh process reads what the first one recorded.
	again := LoadMountCache(mounts.path)
	d, _ := shared.Digest()
	if from, ok := again.source(reg.repo(t, "shop/payments"), d); !ok || from.RepositoryStr() != "shop/orders" {
		t.Errorf("reloaded cache: source = %v, %v; want shop/orders", from, ok)
	}
}

func TestPublishIndexAndTags(t *testing.T) {
	reg := newTestRegistry(t)
	repo := reg.repo(t, "multi")
	idx, err := random.Index(1000, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	res, err := NewRemote(nil).Publish(context.Background(), Artifact{Index: idx}, repo, "v1")
	if err != nil {
		t.Fatal(err)
	}
	want, _ := idx.Digest()
	got, err := remote.Head(repo.Tag("v1"))
	if err != nil {
		t.Fatal(err)
	}
	if got.Digest != want || res.Digest != want {
		t.Errorf("tag v1 -> %s, result %s; want %s", got.Digest, res.Digest, want)
	}
}

func TestPublishUnreachableRegistry(t *testing.T) {
	// A port nobody listens on: connection refused.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := l.Addr().String()
	l.Close()
	// A listener that accepts and never answers: only the timeout ends the wait.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	img := image(t, randomLayer(t, 10), randomLayer(t, 10))
	for _, addr := range []string{closedAddr, silent.Addr().String()} {
		repo, _ := name.NewRepository(addr + "/x")
		p := NewRemote(nil)
		p.ContactTimeout = time.Second
		start := time.Now()
		_, err := p.Publish(context.Background(), Artifact{Image: img}, repo)
		if err == nil || !strings.Contains(err.Error(), "registry "+addr) {
			t.Errorf("%s: err = %v, want one naming the registry", addr, err)
		}
		if d := time.Since(start); d > 20*time.Second {
			t.Errorf("%s: gave up after %s, want a bounded wait", addr, d)
		}
	}
}
