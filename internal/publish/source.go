package publish

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/slipway-dev/slipway/internal/oci"
)

// BlobSource streams blobs by content digest: a remote cache, whose content
// digest of a file is the OCI digest of the blob it holds (sha256 of the same
// bytes). Implementations: remotecache.HTTP (`GET <cache>/cas/<sha256>`); a gRPC
// ByteStream reader (REAPI) fits the same interface.
type BlobSource interface {
	// Open streams the blob; an error wrapping ErrBlobNotFound when the source
	// does not hold it (a cache evicted it, or never had it).
	Open(ctx context.Context, digest v1.Hash) (io.ReadCloser, error)
	// String names the source in messages (e.g. its URL).
	String() string
}

// ErrBlobNotFound: the source does not hold the blob.
var ErrBlobNotFound = errors.New("blob not found")

// Where a pushed layer's bytes came from.
const (
	// FromOutputBase: the file was in Bazel's output base already.
	FromOutputBase = "output base"
	// FromRemoteCache: streamed from the remote cache, never written to disk.
	FromRemoteCache = "remote cache"
	// FromMaterialized: the cache lacked it; Bazel downloaded (or rebuilt) the
	// image's layout into the output base first.
	FromMaterialized = "materialized by bazel"
)

// SourceStats count, for one push, the layers the registry lacked by where their
// bytes came from.
type SourceStats struct {
	OutputBase      int   `json:"outputBase,omitempty"`
	OutputBaseBytes int64 `json:"outputBaseBytes,omitempty"`
	Streamed        int   `json:"streamed,omitempty"`
	StreamedBytes   int64 `json:"streamedBytes,omitempty"`
	// Materialized: layers the cache lacked, pushed after Bazel materialized them.
	Materialized      int   `json:"materialized,omitempty"`
	MaterializedBytes int64 `json:"materializedBytes,omitempty"`
}

// Add adds o to s.
func (s *SourceStats) Add(o SourceStats) {
	s.OutputBase += o.OutputBase
	s.OutputBaseBytes += o.OutputBaseBytes
	s.Streamed += o.Streamed
	s.StreamedBytes += o.StreamedBytes
	s.Materialized += o.Materialized
	s.MaterializedBytes += o.MaterializedBytes
}

// LayerSources say where the layers of an image read from its metadata come
// from, in order: the layout in the output base, the remote cache, and else
// Bazel, asked to materialize the layout.
type LayerSources struct {
	// Cache streams layers the output base lacks (nil: none configured).
	Cache BlobSource
	// Materialize asks Bazel to write the image's layout into the output base
	// (nil: a layer in neither place is an error).
	Materialize func(ctx context.Context) error
	// Log receives one line per layer naming the path its bytes took (may be nil).
	Log func(string)
}

// FromMeta reads the image or index whose metadata (oci.Meta) is at meta and
// whose layout Bazel would write at layoutDir. Nothing of the layers is read
// until a push asks for the bytes of one the registry lacks; then it is opened
// from layoutDir, else streamed from src.Cache straight into the upload, else
// read from layoutDir after src.Materialize. ctx bounds those reads.
func FromMeta(ctx context.Context, meta, layoutDir string, label string, src LayerSources) (Artifact, error) {
	o := &layerOpener{ctx: ctx, layout: layoutDir, label: label, src: src, stats: &SourceCounter{seen: map[string]string{}}}
	img, idx, err := oci.LoadMeta(meta, o.open)
	return Artifact{Image: img, Index: idx, Sources: o.stats}, err
}

type layerOpener struct {
	ctx    context.Context
	layout string
	label  string
	src    LayerSources
	stats  *SourceCounter

	mu           sync.Mutex
	materialized bool
	matErr       error
}

func (o *layerOpener) log(format string, args ...any) {
	if o.src.Log != nil {
		o.src.Log(fmt.Sprintf(format, args...))
	}
}

func (o *layerOpener) open(h v1.Hash) (io.ReadCloser, error) {
	local := filepath.Join(o.layout, "blobs", h.Algorithm, h.Hex)
	if f, err := os.Open(local); err == nil {
		return o.stats.reader(f, h, FromOutputBase), nil
	}
	if o.src.Cache != nil {
		rc, err := o.src.Cache.Open(o.ctx, h)
		if err == nil {
			o.log("%s: layer %s streamed from the remote cache %s", o.label, short(h), o.src.Cache)
			return o.stats.reader(rc, h, FromRemoteCache), nil
		}
		if errors.Is(err, ErrBlobNotFound) {
			o.log("%s: layer %s is not in the remote cache %s (evicted?): asking bazel to materialize the image", o.label, short(h), o.src.Cache)
		} else {
			o.log("%s: layer %s: remote cache %s: %v: asking bazel to materialize the image", o.label, short(h), o.src.Cache, err)
		}
	}
	if o.src.Materialize == nil {
		return nil, fmt.Errorf("%s: layer %s is neither in the output base (%s) nor in a remote cache", o.label, h, local)
	}
	if err := o.materialize(); err != nil {
		return nil, fmt.Errorf("%s: layer %s: bazel could not materialize the image: %w", o.label, h, err)
	}
	f, err := os.Open(local)
	if err != nil {
		return nil, fmt.Errorf("%s: layer %s: bazel built the image but its layout lacks the layer: %w", o.label, h, err)
	}
	o.log("%s: layer %s pushed from the output base after bazel materialized it", o.label, short(h))
	return o.stats.reader(f, h, FromMaterialized), nil
}

// materialize runs src.Materialize once per image, however many layers need it.
func (o *layerOpener) materialize() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.materialized {
		o.matErr = o.src.Materialize(o.ctx)
		o.materialized = o.matErr == nil
	}
	return o.matErr
}

func short(h v1.Hash) string {
	if len(h.Hex) > 12 {
		return h.Algorithm + ":" + h.Hex[:12]
	}
	return h.String()
}

// SourceCounter counts layers by source: each digest once (its latest source),
// bytes as they are read.
type SourceCounter struct {
	mu    sync.Mutex
	seen  map[string]string // digest -> source
	bytes map[string]*atomic.Int64
}

func (c *SourceCounter) reader(rc io.ReadCloser, h v1.Hash, source string) io.ReadCloser {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.bytes == nil {
		c.bytes = map[string]*atomic.Int64{}
	}
	c.seen[h.String()] = source
	n := &atomic.Int64{}
	c.bytes[h.String()] = n
	return &countingReader{ReadCloser: rc, n: n}
}

// Stats are the counts so far.
func (c *SourceCounter) Stats() SourceStats {
	var s SourceStats
	if c == nil {
		return s
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for d, source := range c.seen {
		n := c.bytes[d].Load()
		switch source {
		case FromOutputBase:
			s.OutputBase++
			s.OutputBaseBytes += n
		case FromRemoteCache:
			s.Streamed++
			s.StreamedBytes += n
		case FromMaterialized:
			s.Materialized++
			s.MaterializedBytes += n
		}
	}
	return s
}

type countingReader struct {
	io.ReadCloser
	n *atomic.Int64
}

func (r *countingReader) Read(p []byte) (int, error) {
	n, err := r.ReadCloser.Read(p)
	r.n.Add(int64(n))
	return n, err
}
