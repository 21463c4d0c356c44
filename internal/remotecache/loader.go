package remotecache

import (
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"sync"

	"github.com/slipway-dev/slipway/internal/bazel"
	"github.com/slipway-dev/slipway/internal/deploy"
	"github.com/slipway-dev/slipway/internal/publish"
)

// Loader reads images to push from their metadata (deploy.ArtifactLoader): the
// layers stream from the layout in the output base when Bazel wrote it there,
// else from the build's remote cache, else Bazel is asked to materialize the
// layout (with the loop's own flags, plus a --remote_download_regex for it).
//
// It learns the remote cache from the builds it sees: wrap the Bazel client the
// deployables are built with in Observe.
type Loader struct {
	// Flags are the user's build flags, which a materializing build reuses.
	Flags []string
	// Log receives the path each layer took (may be nil).
	Log func(string)

	mu       sync.Mutex
	bazel    bazel.Client
	settings Settings
	source   publish.BlobSource
	noted    bool
}

var _ deploy.ArtifactLoader = (*Loader)(nil)

// Observe returns c, recording the remote cache settings of each build it runs
// and using it to materialize images.
func (l *Loader) Observe(c bazel.Client) bazel.Client {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.bazel = c
	return &observed{Client: c, l: l}
}

type observed struct {
	bazel.Client
	l *Loader
}

func (o *observed) Build(ctx context.Context, targets, flags []string) (*bazel.BuildResult, error) {
	res, err := o.Client.Build(ctx, targets, flags)
	if err == nil && len(res.Options) > 0 {
		o.l.setSettings(FromOptions(res.Options))
	}
	return res, err
}

func (l *Loader) setSettings(s Settings) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if s.Cache == l.settings.Cache && l.noted {
		return
	}
	l.settings, l.source, l.noted = s, nil, true
	switch {
	case s.Cache == "":
	case s.IsHTTP():
		src, err := NewHTTP(s.Cache, s.Header)
		if err != nil {
			l.log("remote cache: %v; layers the output base lacks are materialized by bazel", err)
			return
		}
		l.source = src
	default:
		l.log("remote cache %s: slipway streams from HTTP caches only for now; layers the output base lacks are materialized by bazel", s.Cache)
	}
}

// Source is the blob source of the last build's remote cache (nil: none, or one
// slipway cannot read).
func (l *Loader) Source() publish.BlobSource {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.source
}

func (l *Loader) log(format string, args ...any) {
	if l.Log != nil {
		l.Log(fmt.Sprintf(format, args...))
	}
}

// Artifact reads img from its metadata, or from its layout when its rule wrote
// no metadata.
func (l *Loader) Artifact(ctx context.Context, img deploy.Image) (publish.Artifact, error) {
	if img.Meta == "" {
		return publish.FromLayout(img.Layout)
	}
	l.mu.Lock()
	src := publish.LayerSources{Cache: l.source, Log: l.Log}
	if l.bazel != nil {
		b := l.bazel
		src.Materialize = func(ctx context.Context) error { return l.materialize(ctx, b, img) }
	}
	l.mu.Unlock()
	return publish.FromMeta(ctx, img.Meta, img.Layout, img.Label, src)
}

// materialize builds the image with the user's flags and a download regex for
// its layout; a cache that lost blobs makes Bazel run the actions again.
func (l *Loader) materialize(ctx context.Context, b bazel.Client, img deploy.Image) error {
	flags := MaterializeFlags(l.Flags, img.Layout)
	l.log("%s: bazel build %s %s", img.Label, strings.Join(flags[len(l.Flags):], " "), img.Label)
	res, err := b.Build(ctx, []string{img.Label}, flags)
	if err != nil {
		return err
	}
	if !res.Success {
		t := res.Targets[img.Label]
		if t != nil && len(t.Errors) > 0 {
			return fmt.Errorf("bazel build %s failed: %s", img.Label, strings.Join(t.Errors, "\n"))
		}
		return fmt.Errorf("bazel build %s failed:\n%s", img.Label, res.Output)
	}
	return nil
}

// MaterializeFlags are the flags of a build that downloads the layout at
// layoutPath (absolute, under the execution root): the user's, then a download
// regex of the layout's path from the execution root, and retries that rebuild
// what the cache evicted. Neither is a configuration option: the analysis cache
// survives.
func MaterializeFlags(user []string, layoutPath string) []string {
	rel := filepath.ToSlash(layoutPath)
	if i := strings.Index(rel, "/bazel-out/"); i >= 0 {
		rel = rel[i+1:]
	}
	return append(append([]string(nil), user...),
		"--remote_download_regex="+regexp.QuoteMeta(rel)+"/.*",
		"--experimental_remote_cache_eviction_retries=5")
}
