package publish

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"time"

	"k8s.io/utils/clock"
)

// PushProgress is where one Publish call stands. Remote.Progress receives it at
// most once per Remote.ProgressInterval while bytes move, when an attempt fails
// and another follows, and once at the end.
type PushProgress struct {
	// Repository is registry/repository; Digest the artifact's manifest digest.
	Repository string `json:"repository"`
	Digest     string `json:"digest"`
	// Sent counts the bytes of request bodies sent so far, every attempt included.
	Sent int64 `json:"sent"`
	// Done counts the bytes of the artifact's blobs the registry has, or has
	// received of an upload under way; Total is the size of all its blobs (layers
	// and configs). Done reaches Total when the push succeeds.
	Done  int64 `json:"done"`
	Total int64 `json:"total"`
	// Attempt counts from 1.
	Attempt int `json:"attempt"`
	// Retry is the error of the attempt that just failed, when another follows
	// after RetryIn.
	Retry   error         `json:"-"`
	RetryIn time.Duration `json:"retryIn,omitempty"`
	// Finished: the last report of the call (success or not).
	Finished bool `json:"finished,omitempty"`
}

// pushState is one Publish call's accounting: its Stats and the progress of its
// blobs. The
// transport finds it in each request's context, so concurrent pushes sharing a
// transport count apart.
type pushState struct {
	clock    clock.PassiveClock
	interval time.Duration
	report   func(PushProgress) // nil: nobody listens

	mu    sync.Mutex
	stats Stats
	p     PushProgress
	sizes map[string]int64 // blob digest -> size
	done  map[string]int64 // blob digest -> bytes the registry has or received
	last  time.Time        // when progress was last reported
}

type pushStateKey struct{}

func withPushState(ctx context.Context, st *pushState) context.Context {
	return context.WithValue(ctx, pushStateKey{}, st)
}

func pushStateFrom(ctx context.Context) *pushState {
	st, _ := ctx.Value(pushStateKey{}).(*pushState)
	return st
}

func newPushState(repo, digest string, sizes map[string]int64, clk clock.PassiveClock, interval time.Duration, report func(PushProgress)) *pushState {
	st := &pushState{clock: clk, interval: interval, report: report, sizes: sizes,
		done: map[string]int64{}}
	st.p = PushProgress{Repository: repo, Digest: digest}
	for _, n := range sizes {
		st.p.Total += n
	}
	return st
}

func (s *pushState) getStats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// startAttempt counts a new attempt. Blobs earlier attempts completed stay done;
// a blob cut short starts again from nothing when it is sent again.
func (s *pushState) startAttempt(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.p.Attempt = n
}

// retrying reports a failed attempt that another will follow.
func (s *pushState) retrying(err error, in time.Duration) {
	s.mu.Lock()
	p := s.progressLocked()
	s.mu.Unlock()
	p.Retry, p.RetryIn = err, in
	s.send(p)
}

// finish sends the last report.
func (s *pushState) finish() {
	s.mu.Lock()
	p := s.progressLocked()
	s.mu.Unlock()
	p.Finished = true
	s.send(p)
}

// sent records n more body bytes of a request about obj (sentSoFar bytes of
// that request so far), and reports progress when it is time.
func (s *pushState) sent(obj objectRef, n int, sentSoFar int64) {
	s.mu.Lock()
	s.p.Sent += int64(n)
	if _, ok := s.sizes[obj.ref]; ok && obj.kind == "blob" {
		s.done[obj.ref] = sentSoFar
	}
	p, due := s.dueLocked()
	s.mu.Unlock()
	if due {
		s.send(p)
	}
}

// has records that the registry holds blob in full.
func (s *pushState) has(blob string) {
	s.mu.Lock()
	if size, ok := s.sizes[blob]; ok {
		s.done[blob] = size
	}
	p, due := s.dueLocked()
	s.mu.Unlock()
	if due {
		s.send(p)
	}
}

func (s *pushState) progressLocked() PushProgress {
	p := s.p
	p.Done = 0
	for _, n := range s.done {
		p.Done += n
	}
	return p
}

func (s *pushState) dueLocked() (PushProgress, bool) {
	if s.report == nil {
		return PushProgress{}, false
	}
	now := s.clock.Now()
	if !s.last.IsZero() && now.Sub(s.last) < s.interval {
		return PushProgress{}, false
	}
	s.last = now
	return s.progressLocked(), true
}

func (s *pushState) send(p PushProgress) {
	if s.report != nil {
		s.report(p)
	}
}

// observe counts a finished request into the stats, and the blobs the registry
// has into the progress.
func (s *pushState) observe(req *http.Request, resp *http.Response, bodyBytes int64, obj objectRef) {
	s.mu.Lock()
	s.stats.Requests++
	s.stats.BytesUploaded += bodyBytes
	if resp == nil {
		s.mu.Unlock()
		return
	}
	path := strings.TrimSuffix(req.URL.Path, "/")
	complete := false
	switch {
	case req.Method == http.MethodHead && strings.Contains(path, "/blobs/") && resp.StatusCode == http.StatusOK:
		s.stats.BlobsPresent++
		complete = true
	case req.Method == http.MethodPost && strings.HasSuffix(path, "/blobs/uploads") && obj.kind == "blob":
		if resp.StatusCode == http.StatusCreated {
			s.stats.BlobsMounted++
			complete = true
		}
	case req.Method == http.MethodPut && strings.Contains(path, "/blobs/uploads/") && resp.StatusCode == http.StatusCreated:
		s.stats.BlobsUploaded++
		complete = true
	case req.Method == http.MethodPut && strings.Contains(path, "/manifests/") && resp.StatusCode/100 == 2:
		s.stats.ManifestsPut++
	}
	s.mu.Unlock()
	if complete && obj.kind == "blob" {
		s.has(obj.ref)
	}
}

// objectRef is what a registry request is about.
type objectRef struct {
	kind string // "blob", "manifest", or "" (the ping, an unknown upload)
	ref  string // a digest, or a manifest's tag or digest
}

func (o objectRef) String() string {
	if o.kind == "" {
		return ""
	}
	return o.kind + " " + o.ref
}

// requestObject names what a request is about, from its URL and body.
func requestObject(req *http.Request) objectRef {
	if b, ok := req.Body.(*blobReader); ok {
		return objectRef{"blob", b.digest}
	}
	u := req.URL
	_, rest, ok := strings.Cut(u.Path, "/blobs/")
	if !ok {
		if _, ref, ok := strings.Cut(u.Path, "/manifests/"); ok {
			return objectRef{"manifest", ref}
		}
		return objectRef{}
	}
	for _, key := range []string{"digest", "mount"} {
		if d := u.Query().Get(key); d != "" {
			return objectRef{"blob", d}
		}
	}
	if !strings.HasPrefix(rest, "uploads") {
		return objectRef{"blob", rest}
	}
	return objectRef{}
}

// repositoryOf is the repository a /v2/<repository>/... path is about.
func repositoryOf(path string) string {
	rest, ok := strings.CutPrefix(path, "/v2/")
	if !ok {
		return ""
	}
	for _, sep := range []string{"/blobs/", "/manifests/", "/tags/", "/referrers/"} {
		if repo, _, ok := strings.Cut(rest, sep); ok {
			return repo
		}
	}
	return ""
}
