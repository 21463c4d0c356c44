package publish

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// stallUploads makes the registry take the first bytes of the next n blob uploads
// and then read nothing more until the test ends (a server that stops reading
// does not notice the client hanging up). Each stall is announced on the
// returned channel.
func stallUploads(t *testing.T, reg *testRegistry, n int32) <-chan struct{} {
	left := &atomic.Int32{}
	left.Store(n)
	stalled := make(chan struct{}, 1000)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) }) // before the registry's cleanup closes it
	reg.onPatch = func(w http.ResponseWriter, req *http.Request) bool {
		if left.Add(-1) < 0 {
			return false
		}
		_, _ = io.CopyN(io.Discard, req.Body, 4096)
		stalled <- struct{}{}
		<-release
		return true
	}
	return stalled
}

// progressLog collects progress reports.
type progressLog struct {
	mu      sync.Mutex
	reports []PushProgress
}

func (l *progressLog) add(p PushProgress) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.reports = append(l.reports, p)
}

func (l *progressLog) all() []PushProgress {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]PushProgress(nil), l.reports...)
}

func TestPublishRetriesAStalledUpload(t *testing.T) {
	reg := newTestRegistry(t)
	stallUploads(t, reg, 1)
	var log progressLog
	p := NewRemote(nil)
	p.StallTimeout, p.RetryDelay, p.Progress = 2*time.Second, time.Millisecond, log.add
	big := randomLayer(t, 2<<20)
	img := image(t, randomLayer(t, 1000), big)
	res, err := p.Publish(context.Background(), Artifact{Image: img}, reg.repo(t, "shop/cart"))
	if err != nil {
		t.Fatalf("push with one stalled upload: %v", err)
	}
	reports := log.all()
	var retries []PushProgress
	for _, r := range reports {
		if r.Retry != nil {
			retries = append(retries, r)
		}
	}
	var stall *StallError
	if len(retries) != 1 || !errors.As(retries[0].Retry, &stall) || retries[0].Attempt != 1 {
		t.Fatalf("retry reports %+v, want one after a stall in attempt 1", retries)
	}
	last := reports[len(reports)-1]
	if !last.Finished || last.Attempt != 2 || last.Done != last.Total || last.Total < layerSize(t, big) {
		t.Errorf("last report %+v, want attempt 2 finished with every blob done", last)
	}
	if res.Stats.BlobsUploaded+res.Stats.BlobsPresent < 3 {
		t.Errorf("stats %+v: want the two layers and the config in the registry", res.Stats)
	}
}

func TestPublishGivesUpOnARegistryThatStalls(t *testing.T) {
	reg := newTestRegistry(t)
	stallUploads(t, reg, 1000)
	p := NewRemote(nil)
	p.StallTimeout, p.RetryDelay, p.Attempts = 2*time.Second, time.Millisecond, 2
	img := image(t, randomLayer(t, 1<<20), randomLayer(t, 1<<20))
	_, err := p.Publish(context.Background(), Artifact{Image: img}, reg.repo(t, "shop/cart"))
	var stall *StallError
	if !errors.As(err, &stall) {
		t.Fatalf("push to a stalling registry: %v, want a StallError", err)
	}
	blobs := Artifact{Image: img}.blobSizes()
	if _, ok := blobs[strings.TrimPrefix(stall.Object, "blob ")]; !ok || stall.Registry != reg.host || stall.Repository != "shop/cart" {
		t.Errorf("stall %+v: want registry %s, repository shop/cart and one of the image's blobs named", stall, reg.host)
	}
	if !strings.Contains(err.Error(), "gave up after 2 attempts") {
		t.Errorf("%q does not say how often it tried", err)
	}
}

func TestPublishCancelInterruptsAnUpload(t *testing.T) {
	reg := newTestRegistry(t)
	stalled := stallUploads(t, reg, 1000)
	p := NewRemote(nil)
	p.StallTimeout = time.Hour // only the cancellation can end it
	ctx, cancel := context.WithCancel(context.Background())
	result := make(chan error, 1)
	go func() {
		_, err := p.Publish(ctx, Artifact{Image: image(t, randomLayer(t, 1<<20), randomLayer(t, 10))}, reg.repo(t, "shop/cart"))
		result <- err
	}()
	<-stalled
	start := time.Now()
	cancel()
	err := <-result
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled push returned %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("returned %s after the cancellation, want promptly", d)
	}
}

func TestPublishDoesNotRetryAPermanentError(t *testing.T) {
	reg := newTestRegistry(t)
	var patches atomic.Int32
	reg.onPatch = func(w http.ResponseWriter, req *http.Request) bool {
		patches.Add(1)
		http.Error(w, `{"errors":[{"code":"DENIED","message":"no"}]}`, http.StatusForbidden)
		return true
	}
	p := NewRemote(nil)
	p.RetryDelay = time.Millisecond
	_, err := p.Publish(context.Background(), Artifact{Image: image(t, randomLayer(t, 10), randomLayer(t, 10))}, reg.repo(t, "shop/cart"))
	if err == nil {
		t.Fatal("push to a registry that denies uploads succeeded")
	}
	if strings.Contains(err.Error(), "attempts") {
		t.Errorf("a permanent error was retried: %v", err)
	}
	// One attempt uploads three blobs (two layers, the config) in parallel; some
	// may be cut short by the first failure, none is tried twice.
	if n := patches.Load(); n < 1 || n > 3 {
		t.Errorf("%d uploads tried, want one attempt's (at most 3)", n)
	}
}
