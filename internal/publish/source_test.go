package publish

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/slipway-dev/slipway/internal/oci"
)

// fakeCache is a BlobSource holding some blobs in memory.
type fakeCache struct {
	mu     sync.Mutex
	blobs  map[string][]byte
	opened []string
}

func (c *fakeCache) String() string { return "fake-cache" }

func (c *fakeCache) Open(_ context.Context, d v1.Hash) (io.ReadCloser, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.opened = append(c.opened, d.String())
	b, ok := c.blobs[d.String()]
	if !ok {
		return nil, fmt.Errorf("fake-cache: %s: %w", d, ErrBlobNotFound)
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

// bwobImage writes img's layout and metadata, then moves its layers out of the
// layout (as Bazel leaves it under --remote_download_minimal): into the returned
// cache, less the evicted ones, and into a "remote" folder that materializing
// copies back.
func bwobImage(t *testing.T, img v1.Image, evicted int) (meta, layout string, cache *fakeCache, materialize func(context.Context) error, calls *int) {
	t.Helper()
	dir := t.TempDir()
	layout = filepath.Join(dir, "image")
	if err := oci.WriteLayout(layout, img, nil, nil); err != nil {
		t.Fatal(err)
	}
	meta = filepath.Join(dir, "image"+oci.MetaSuffix)
	if err := oci.WriteMeta(meta, layout); err != nil {
		t.Fatal(err)
	}
	cache = &fakeCache{blobs: map[string][]byte{}}
	layers, _ := img.Layers()
	moved := map[string][]byte{}
	for i, l := range layers {
		d, _ := l.Digest()
		p := filepath.Join(layout, "blobs", "sha256", d.Hex)
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		moved[p] = b
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
		if i >= evicted {
			cache.blobs[d.String()] = b
		}
	}
	calls = new(int)
	materialize = func(context.Context) error {
		*calls++
		for p, b := range moved {
			if err := os.WriteFile(p, b, 0o644); err != nil {
				return err
			}
		}
		return nil
	}
	return meta, layout, cache, materialize, calls
}

func TestPushFromMetaStreamsMissingLayersFromTheCache(t *testing.T) {
	reg := newTestRegistry(t)
	repo := reg.repo(t, "shop/catalog")
	img := image(t, randomLayer(t, 300_000), randomLayer(t, 100_000))
	meta, layout, cache, materialize, calls := bwobImage(t, img, 0)
	var logs []string
	a, err := FromMeta(context.Background(), meta, layout, "//shop:image", LayerSources{Cache: cache, Materialize: materialize,
		Log: func(s string) { logs = append(logs, s) }})
	if err != nil {
		t.Fatal(err)
	}
	res, err := NewRemote(nil).Publish(context.Background(), a, repo)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := img.Digest()
	if res.Digest != want {
		t.Errorf("pushed %s, want %s", res.Digest, want)
	}
	if _, err := remote.Image(repo.Digest(want.String())); err != nil {
		t.Errorf("pushed image cannot be pulled back: %v", err)
	}
	got := a.Sources.Stats()
	if got.Streamed != 2 || got.StreamedBytes < 400_000 || got.Materialized != 0 || got.OutputBase != 0 || *calls != 0 {
		t.Errorf("sources %+v, materialized %d times; want both layers streamed", got, *calls)
	}
	if len(logs) != 2 || !strings.Contains(logs[0], "streamed from the remote cache fake-cache") {
		t.Errorf("logs %q, want one line per layer naming the cache", logs)
	}
	layers, _ := img.Layers()
	for _, l := range layers {
		d, _ := l.Digest()
		if _, err := os.Stat(filepath.Join(layout, "blobs", "sha256", d.Hex)); err == nil {
			t.Errorf("layer %s was written to disk", d)
		}
	}
}

func TestPushFromMetaMaterializesWhatTheCacheEvicted(t *testing.T) {
	reg := newTestRegistry(t)
	repo := reg.repo(t, "shop/orders")
	img := image(t, randomLayer(t, 50_000), randomLayer(t, 60_000))
	meta, layout, cache, materialize, calls := bwobImage(t, img, 1) // the first layer is evicted
	var mu sync.Mutex
	var logs []string
	a, err := FromMeta(context.Background(), meta, layout, "//shop:image", LayerSources{Cache: cache, Materialize: materialize,
		Log: func(s string) { mu.Lock(); logs = append(logs, s); mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewRemote(nil).Publish(context.Background(), a, repo); err != nil {
		t.Fatal(err)
	}
	want, _ := img.Digest()
	if _, err := remote.Image(repo.Digest(want.String())); err != nil {
		t.Errorf("pushed image cannot be pulled back: %v", err)
	}
	got := a.Sources.Stats()
	if got.Materialized != 1 || got.Streamed+got.OutputBase != 1 || *calls != 1 {
		t.Errorf("sources %+v, materialized %d times; want the evicted layer materialized once", got, *calls)
	}
	sort.Strings(logs)
	joined := strings.Join(logs, "\n")
	for _, w := range []string{"is not in the remote cache fake-cache (evicted?): asking bazel to materialize the image",
		"pushed from the output base after bazel materialized it"} {
		if !strings.Contains(joined, w) {
			t.Errorf("logs %q lack %q", joined, w)
		}
	}
}

func TestPushFromMetaPrefersTheOutputBase(t *testing.T) {
	reg := newTestRegistry(t)
	img := image(t, randomLayer(t, 1000), randomLayer(t, 1000))
	dir := t.TempDir()
	layout := filepath.Join(dir, "image")
	if err := oci.WriteLayout(layout, img, nil, nil); err != nil {
		t.Fatal(err)
	}
	meta := filepath.Join(dir, "image"+oci.MetaSuffix)
	if err := oci.WriteMeta(meta, layout); err != nil {
		t.Fatal(err)
	}
	cache := &fakeCache{blobs: map[string][]byte{}}
	a, err := FromMeta(context.Background(), meta, layout, "//x:image", LayerSources{Cache: cache})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewRemote(nil).Publish(context.Background(), a, reg.repo(t, "x")); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(SourceStats{OutputBase: 2, OutputBaseBytes: a.Sources.Stats().OutputBaseBytes}, a.Sources.Stats()); diff != "" || len(cache.opened) != 0 {
		t.Errorf("sources (-want +got):\n%s\ncache opened %v", diff, cache.opened)
	}
}

func TestPushFromMetaWithoutAnySourceNamesTheLayer(t *testing.T) {
	reg := newTestRegistry(t)
	img := image(t, randomLayer(t, 1000), randomLayer(t, 1000))
	meta, layout, _, _, _ := bwobImage(t, img, 2)
	a, err := FromMeta(context.Background(), meta, layout, "//x:image", LayerSources{})
	if err != nil {
		t.Fatal(err)
	}
	p := NewRemote(nil)
	p.Attempts = 1
	_, err = p.Publish(context.Background(), a, reg.repo(t, "x"))
	if err == nil || !strings.Contains(err.Error(), "//x:image: layer sha256:") || !strings.Contains(err.Error(), "neither in the output base") {
		t.Errorf("err = %v, want one naming the image and layer", err)
	}
}
