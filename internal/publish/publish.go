// Package publish pushes images and indexes built by slipway's rules to a registry,
// sending only what the registry lacks.
package publish

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"k8s.io/utils/clock"

	"github.com/slipway-dev/slipway/internal/oci"
)

// Artifact is an image or an index (exactly one is set).
type Artifact struct {
	Image v1.Image
	Index v1.ImageIndex
	// Sources counts where the bytes of layers pushed came from (FromMeta sets it).
	Sources *SourceCounter
}

// FromLayout reads the artifact an image rule wrote.
func FromLayout(dir string) (Artifact, error) {
	img, idx, err := oci.LoadLayout(dir)
	return Artifact{Image: img, Index: idx}, err
}

// Digest is the artifact's manifest digest.
func (a Artifact) Digest() (v1.Hash, error) {
	if a.Index != nil {
		return a.Index.Digest()
	}
	return a.Image.Digest()
}

// Result says what a push did.
type Result struct {
	// Reference is repository@digest, what manifests deploy.
	Reference string
	Digest    v1.Hash
	// AlreadyPresent: the registry had the manifest, so nothing was uploaded.
	AlreadyPresent bool
	Stats          Stats
}

// Publisher pushes an artifact to a repository.
type Publisher interface {
	Publish(ctx context.Context, a Artifact, repo name.Repository, tags ...string) (*Result, error)
}

// Remote publishes to registries with go-containerregistry, authenticating through
// the Docker config and credential helpers. One Remote reuses its connections and
// tokens across pushes (one ping per repository per process).
//
// A push cannot hang: a request during which no byte moves for StallTimeout is
// aborted with a StallError naming the registry, repository and blob; attempts
// that fail transiently (a stall, a dropped connection, a 5xx) are retried up to
// Attempts times with backoff; cancelling the context interrupts an upload in
// flight and any wait between attempts.
type Remote struct {
	// ContactTimeout bounds the first request, so an unreachable registry fails
	// fast with its address instead of hanging.
	ContactTimeout time.Duration
	// StallTimeout aborts a request when no byte moved for this long (default 30s).
	StallTimeout time.Duration
	// Attempts bounds the tries of a push that fails transiently (default 3).
	Attempts int
	// RetryDelay is the wait before the second attempt; each further wait is three
	// times longer (default 1s).
	RetryDelay time.Duration
	// Progress, when set, receives each Publish call's progress. It is called from
	// the push's goroutines, several at once for concurrent pushes, and must not
	// block.
	Progress func(PushProgress)
	// ProgressInterval is the least time between two progress reports of a push
	// while bytes move (default 1s).
	ProgressInterval time.Duration
	// Mounts remembers which repository holds which blob, to mount rather than
	// upload blobs shared between repositories. May be nil.
	Mounts *MountCache

	// clock drives stall timeouts, retry waits and progress (tests set a fake one).
	clock  clock.WithDelayedExecution
	once   sync.Once
	err    error
	pusher *remote.Pusher
	puller *remote.Puller
}

var _ Publisher = (*Remote)(nil)

// NewRemote returns a Remote with defaults suited to local and remote registries.
func NewRemote(mounts *MountCache) *Remote {
	return &Remote{ContactTimeout: 15 * time.Second, Mounts: mounts}
}

// init fills defaults and builds the shared pusher and puller on first use, so
// that callers may set fields after NewRemote.
func (r *Remote) init() error {
	r.once.Do(func() {
		if r.ContactTimeout <= 0 {
			r.ContactTimeout = 15 * time.Second
		}
		if r.StallTimeout <= 0 {
			r.StallTimeout = stallTimeoutDefault
		}
		if r.Attempts <= 0 {
			r.Attempts = attemptsDefault
		}
		if r.RetryDelay <= 0 {
			r.RetryDelay = retryDelayDefault
		}
		if r.ProgressInterval <= 0 {
			r.ProgressInterval = progressDefault
		}
		if r.clock == nil {
			r.clock = clock.RealClock{}
		}
		opts := []remote.Option{
			remote.WithTransport(&pushTransport{base: remote.DefaultTransport, clock: r.clock, stallTimeout: r.StallTimeout}),
			remote.WithAuthFromKeychain(authn.DefaultKeychain),
			remote.WithJobs(4),
			// One try per request and per blob: withAttempts retries whole pushes,
			// with waits that end when the context does (go-containerregistry's
			// own waits between tries do not watch the context).
			remote.WithRetryBackoff(remote.Backoff{Steps: 1}),
		}
		if r.pusher, r.err = remote.NewPusher(opts...); r.err != nil {
			return
		}
		r.puller, r.err = remote.NewPuller(opts...)
	})
	return r.err
}

// Publish pushes a to repo unless the registry already has its manifest, then
// points tags at it.
func (r *Remote) Publish(ctx context.Context, a Artifact, repo name.Repository, tags ...string) (*Result, error) {
	if err := r.init(); err != nil {
		return nil, err
	}
	digest, err := a.Digest()
	if err != nil {
		return nil, err
	}
	st := newPushState(repo.String(), digest.String(), a.blobSizes(), r.clock, r.ProgressInterval, r.Progress)
	defer st.finish()
	ctx = withPushState(ctx, st)
	res := &Result{Reference: repo.Digest(digest.String()).String(), Digest: digest}
	err = r.withAttempts(ctx, st, func(ctx context.Context) error {
		present, err := r.publishOnce(ctx, a, repo, digest, tags)
		res.AlreadyPresent = present
		return err
	})
	res.Stats = st.getStats()
	if err != nil {
		return nil, err
	}
	return res, nil
}

// publishOnce is one attempt: the manifest check, the upload when the registry
// lacks it, the tags. It reports whether the registry had the manifest.
func (r *Remote) publishOnce(ctx context.Context, a Artifact, repo name.Repository, digest v1.Hash, tags []string) (bool, error) {
	// HEAD first: an unchanged image costs one request.
	contactCtx, cancel := context.WithTimeout(ctx, r.ContactTimeout)
	_, err := remote.Head(repo.Digest(digest.String()), remote.Reuse(r.puller), remote.WithContext(contactCtx))
	cancel()
	present := err == nil
	switch {
	case present:
	case isNotFound(err):
		if err := r.write(ctx, a, repo, digest); err != nil {
			return false, describe(err, repo)
		}
		r.Mounts.Record(repo, a)
	default:
		return false, describe(err, repo)
	}
	for _, t := range tags {
		if err := remote.Tag(repo.Tag(t), a.taggable(), remote.Reuse(r.pusher), remote.WithContext(ctx)); err != nil {
			return present, describe(fmt.Errorf("tag %s: %w", t, err), repo)
		}
	}
	return present, nil
}

// Has reports whether the registry has a manifest (one HEAD request), for dry runs.
func (r *Remote) Has(ctx context.Context, repo name.Repository, digest string) (bool, error) {
	if err := r.init(); err != nil {
		return false, err
	}
	ctx, cancel := context.WithTimeout(ctx, r.ContactTimeout)
	defer cancel()
	_, err := remote.Head(repo.Digest(digest), remote.Reuse(r.puller), remote.WithContext(ctx))
	switch {
	case err == nil:
		return true, nil
	case isNotFound(err):
		return false, nil
	}
	return false, describe(err, repo)
}

func (r *Remote) write(ctx context.Context, a Artifact, repo name.Repository, digest v1.Hash) error {
	ref := repo.Digest(digest.String())
	opts := []remote.Option{remote.Reuse(r.pusher), remote.WithContext(ctx)}
	if a.Index != nil {
		return remote.WriteIndex(ref, &pushIndex{imageIndex: a.Index, mounts: r.Mounts, repo: repo}, opts...)
	}
	return remote.Write(ref, &pushImage{Image: a.Image, mounts: r.Mounts, repo: repo}, opts...)
}

func (a Artifact) taggable() remote.Taggable {
	if a.Index != nil {
		return a.Index
	}
	return a.Image
}

func isNotFound(err error) bool {
	var te *transport.Error
	return errors.As(err, &te) && te.StatusCode == http.StatusNotFound
}

// describe turns transport failures into errors that name the registry.
func describe(err error, repo name.Repository) error {
	var urlErr *url.Error
	var netErr net.Error
	var stall *StallError
	switch {
	case errors.As(err, &stall):
		return stall // names the registry, repository and blob already
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("push to %s cancelled: %w", repo, err)
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return fmt.Errorf("registry %s did not answer in time (is it running and reachable?): %w", repo.RegistryStr(), err)
	case errors.As(err, &urlErr):
		return fmt.Errorf("registry %s is unreachable: %w", repo.RegistryStr(), err)
	}
	return fmt.Errorf("push to %s: %w", repo, err)
}

// blobSizes are the sizes of the artifact's configs and layers, by digest.
func (a Artifact) blobSizes() map[string]int64 {
	sizes := map[string]int64{}
	add := func(img v1.Image) {
		m, err := img.Manifest()
		if err != nil {
			return
		}
		sizes[m.Config.Digest.String()] = m.Config.Size
		for _, l := range m.Layers {
			sizes[l.Digest.String()] = l.Size
		}
	}
	if a.Image != nil {
		add(a.Image)
		return sizes
	}
	if m, err := a.Index.IndexManifest(); err == nil {
		for _, d := range m.Manifests {
			if img, err := a.Index.Image(d.Digest); err == nil {
				add(img)
			}
		}
	}
	return sizes
}
