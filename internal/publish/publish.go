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

	"github.com/slipway-dev/slipway/internal/oci"
)

// Artifact is an image or an index (exactly one is set).
type Artifact struct {
	Image v1.Image
	Index v1.ImageIndex
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
type Remote struct {
	// ContactTimeout bounds the first request, so an unreachable registry fails
	// fast with its address instead of hanging.
	ContactTimeout time.Duration
	// Mounts remembers which repository holds which blob, to mount rather than
	// upload blobs shared between repositories. May be nil.
	Mounts *MountCache

	once   sync.Once
	err    error
	opts   []remote.Option
	pusher *remote.Pusher
	puller *remote.Puller
}

var _ Publisher = (*Remote)(nil)

// NewRemote returns a Remote with defaults suited to local and remote registries.
func NewRemote(mounts *MountCache) *Remote {
	return &Remote{ContactTimeout: 15 * time.Second, Mounts: mounts}
}

// init builds the shared pusher and puller on first use, so that callers may set
// fields after NewRemote.
func (r *Remote) init() error {
	r.once.Do(func() {
		r.opts = []remote.Option{
			remote.WithTransport(&countingTransport{base: remote.DefaultTransport}),
			remote.WithAuthFromKeychain(authn.DefaultKeychain),
			remote.WithJobs(4),
		}
		if r.pusher, r.err = remote.NewPusher(r.opts...); r.err != nil {
			return
		}
		r.puller, r.err = remote.NewPuller(r.opts...)
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
	ctx, counter := withStats(ctx)
	res := &Result{Reference: repo.Digest(digest.String()).String(), Digest: digest}
	ref := repo.Digest(digest.String())

	// HEAD first: an unchanged image costs one request.
	contactCtx, cancel := context.WithTimeout(ctx, r.ContactTimeout)
	_, err = remote.Head(ref, remote.Reuse(r.puller), remote.WithContext(contactCtx))
	cancel()
	switch {
	case err == nil:
		res.AlreadyPresent = true
	case isNotFound(err):
		if err := r.write(ctx, a, repo, digest); err != nil {
			return nil, describe(err, repo)
		}
		r.Mounts.Record(repo, a)
	default:
		return nil, describe(err, repo)
	}
	for _, t := range tags {
		if err := remote.Tag(repo.Tag(t), a.taggable(), remote.Reuse(r.pusher), remote.WithContext(ctx)); err != nil {
			return nil, describe(fmt.Errorf("tag %s: %w", t, err), repo)
		}
	}
	res.Stats = counter.get()
	return res, nil
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
		return remote.WriteIndex(ref, r.Mounts.wrapIndex(a.Index, repo), opts...)
	}
	return remote.Write(ref, r.Mounts.wrapImage(a.Image, repo), opts...)
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
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return fmt.Errorf("registry %s did not answer in time (is it running and reachable?): %w", repo.RegistryStr(), err)
	case errors.As(err, &urlErr):
		return fmt.Errorf("registry %s is unreachable: %w", repo.RegistryStr(), err)
	}
	return fmt.Errorf("push to %s: %w", repo, err)
}
