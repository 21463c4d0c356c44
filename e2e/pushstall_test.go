//go:build e2e

package e2e

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/slipway-dev/slipway/internal/oci"
	"github.com/slipway-dev/slipway/internal/publish"
)

// stallProxy forwards TCP connections to a registry. While it is stalling, a
// connection whose client has sent `allowance` bytes (an upload under way: small
// requests never get that far) is held: nothing more is read from the client,
// so its upload stops moving, until the proxy recovers.
type stallProxy struct {
	addr, target string
	allowance    int64
	stalled      chan struct{} // one value per connection that starts stalling

	mu      sync.Mutex
	left    int           // connections still to stall; -1: every one
	release chan struct{} // closed when the proxy recovers
}

func newStallProxy(t *testing.T, target string, allowance int64) *stallProxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &stallProxy{addr: l.Addr().String(), target: target, allowance: allowance,
		stalled: make(chan struct{}, 100), release: make(chan struct{})}
	t.Cleanup(func() { l.Close(); p.recover() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go p.forward(c)
		}
	}()
	return p
}

// stall makes the next n uploads stall (-1: all of them).
func (p *stallProxy) stall(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.left = n
}

// recover forwards everything again and lets the held connections go.
func (p *stallProxy) recover() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.left = 0
	close(p.release)
	p.release = make(chan struct{})
}

// takeStall returns the channel a connection waits on when it is to stall now.
func (p *stallProxy) takeStall() chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.left == 0 {
		return nil
	}
	if p.left > 0 {
		p.left--
	}
	return p.release
}

func (p *stallProxy) forward(client net.Conn) {
	defer client.Close()
	server, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	defer server.Close()
	go func() { _, _ = io.Copy(client, server); client.Close() }()
	if _, err := io.CopyN(server, client, p.allowance); err != nil {
		return
	}
	if release := p.takeStall(); release != nil {
		p.stalled <- struct{}{}
		<-release
		return
	}
	_, _ = io.Copy(server, client)
}

const stalltestBuild = `load("@rules_go//go:def.bzl", "go_binary")
load("@slipway//rules:defs.bzl", "dev", "image", "manifests")

go_binary(
    name = "app",
    srcs = ["main.go"],
)

image(
    name = "image",
    binary = ":app",
    files = {":blob.bin": "/data/blob.bin"},
    repository = "stalltest/app",
)

manifests(
    name = "deploy",
    srcs = ["deploy.yaml"],
    images = {"app": ":image"},
)

dev(
    name = "dev",
    targets = [":deploy"],
)
`

// stallWorkspace is an image with a binary layer and a 6 MiB layer of random
// bytes (new ones each call: the registry has never seen them).
func stallWorkspace(t *testing.T) *workspace {
	w := newWorkspace(t, "stalltest")
	w.write("stalltest/BUILD.bazel", stalltestBuild)
	w.write("stalltest/main.go", goMain("stalltest"))
	w.write("stalltest/deploy.yaml", deployment("app", 1))
	newBlob(t, w)
	return w
}

func newBlob(t *testing.T, w *workspace) {
	t.Helper()
	b := make([]byte, 6<<20)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	w.write("stalltest/blob.bin", string(b))
}

// layerDigests are the digests of an image layout's layers and config.
func layerDigests(t *testing.T, dir string) map[string]bool {
	t.Helper()
	img, _, err := oci.LoadLayout(dir)
	if err != nil {
		t.Fatal(err)
	}
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{m.Config.Digest.String(): true}
	for _, l := range m.Layers {
		out[l.Digest.String()] = true
	}
	return out
}

var stalledBlobRE = regexp.MustCompile(`stalled: no bytes moved for [0-9.]+s while uploading blob (sha256:[0-9a-f]{64}), repository (\S+)`)

// checkStallError checks that output names a stall of one of blobs, in repository.
func checkStallError(t *testing.T, output, registry, repository string, blobs map[string]bool) {
	t.Helper()
	m := stalledBlobRE.FindStringSubmatch(output)
	if m == nil || !strings.Contains(output, "registry "+registry+" stalled") {
		t.Errorf("no stall error naming registry %s and a blob:\n%s", registry, tailLines(output, 15))
		return
	}
	t.Logf("the error: %s", m[0])
	if !blobs[m[1]] || m[2] != repository {
		t.Errorf("the stall names blob %s of repository %s; want one of the image's blobs %v in %s", m[1], m[2], blobs, repository)
	}
}

func TestPushThroughAStallingRegistry(t *testing.T) {
	cl := sharedCluster(t)
	proxy := newStallProxy(t, cl.RegistryHost, 256<<10)
	w := stallWorkspace(t)
	w.mustBazel("build", "//stalltest:image.push")
	env := envWith(map[string]string{"SLIPWAY_REGISTRY": ""})
	push := func(args ...string) (stdout, stderr string, took time.Duration, err error) {
		start := time.Now()
		stdout, stderr, err = runLauncher(t, w, "//stalltest:image.push", env, append([]string{"--registry=" + proxy.addr}, args...)...)
		return stdout, stderr, time.Since(start), err
	}

	t.Run("a stalled upload fails within the stall timeout, naming the blob", func(t *testing.T) {
		proxy.stall(-1)
		_, stderr, took, err := push("--stall-timeout=3s", "--push-attempts=1")
		if err == nil {
			t.Fatal("the push through a stalling registry succeeded")
		}
		checkStallError(t, stderr, proxy.addr, "stalltest/app", layerDigests(t, w.bin("stalltest/image")))
		if took < 3*time.Second || took > 30*time.Second {
			t.Errorf("gave up after %s; want the 3s stall timeout (and some)", took)
		}
		t.Logf("gave up after %s", took.Round(time.Millisecond))
	})

	t.Run("after the registry recovers, a retry succeeds", func(t *testing.T) {
		proxy.recover()
		out, stderr, _, err := push("--json")
		if err != nil {
			t.Fatalf("push after recovery: %v\n%s", err, tailLines(stderr, 10))
		}
		var res publish.Result
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatalf("push printed %q: %v", out, err)
		}
		if want := strings.TrimSpace(w.read("bazel-bin/stalltest/image.digest")); res.Digest.String() != want || res.AlreadyPresent {
			t.Errorf("pushed %+v, want %s uploaded", res, want)
		}
	})

	t.Run("a stalled attempt is retried within the push", func(t *testing.T) {
		newBlob(t, w)
		w.mustBazel("build", "//stalltest:image.push")
		proxy.stall(1)
		_, stderr, took, err := push("--stall-timeout=3s")
		if err != nil {
			t.Fatalf("push with one stalled attempt: %v\n%s", err, tailLines(stderr, 10))
		}
		if !strings.Contains(stderr, "attempt 1 failed: registry "+proxy.addr+" stalled") || !strings.Contains(stderr, "trying again in") {
			t.Errorf("the retry is not reported:\n%s", tailLines(stderr, 10))
		}
		t.Logf("pushed in %s, one stalled attempt included", took.Round(time.Millisecond))
	})

	t.Run("cancelling interrupts an upload in flight", func(t *testing.T) { testCancelInterruptsAnUpload(t, proxy) })
}

// testCancelInterruptsAnUpload pushes (in process) through the stalling proxy and
// cancels once the upload stalls: the push returns at once.
func testCancelInterruptsAnUpload(t *testing.T, proxy *stallProxy) {
	proxy.stall(-1)
	defer proxy.recover()
	img, err := random.Image(4<<20, 1)
	if err != nil {
		t.Fatal(err)
	}
	repo, err := name.NewRepository(proxy.addr + "/stalltest/cancel")
	if err != nil {
		t.Fatal(err)
	}
	p := publish.NewRemote(nil)
	p.StallTimeout = time.Hour // only the cancellation ends it
	ctx, cancel := context.WithCancel(context.Background())
	result := make(chan error, 1)
	go func() {
		_, err := p.Publish(ctx, publish.Artifact{Image: img}, repo)
		result <- err
	}()
	<-proxy.stalled
	start := time.Now()
	cancel()
	err = <-result
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled push: %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("returned %s after the cancellation", d)
	}
}

// slipway ci through a stalling registry fails within the stall timeout, naming
// the target and the blob, instead of hanging.
func TestCIThroughAStallingRegistry(t *testing.T) {
	cl := sharedCluster(t)
	proxy := newStallProxy(t, cl.RegistryHost, 256<<10)
	w := stallWorkspace(t)
	ns := fmt.Sprintf("stalltest-%d", time.Now().UnixNano()%1_000_000)
	defer clientset(t, cl).CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{})
	w.mustBazel("build", "//stalltest:dev.ci", "//stalltest:image")
	proxy.stall(-1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	start := time.Now()
	cmd := w.bazelCommand(ctx, "run", "--ui_event_filters=-info,-stdout,-stderr", "--noshow_progress", "//stalltest:dev.ci", "--",
		"--kubeconfig="+cl.Kubeconfig, "--context="+cl.Context, "--namespace="+ns, "--timeout=60s",
		"--registry="+proxy.addr, "--stall-timeout=3s", "--push-attempts=1")
	cmd.Env = envWith(map[string]string{"SLIPWAY_REGISTRY": ""})
	out, err := cmd.CombinedOutput()
	took := time.Since(start)
	if err == nil {
		t.Fatalf("ci through a stalling registry succeeded:\n%s", tailLines(string(out), 20))
	}
	if !regexp.MustCompile(`FAILED \S*//stalltest:deploy: image \S*//stalltest:image: registry `).Match(out) {
		t.Errorf("the failure does not name the target and image:\n%s", tailLines(string(out), 15))
	}
	checkStallError(t, string(out), proxy.addr, "stalltest/app", layerDigests(t, w.bin("stalltest/image")))
	t.Logf("ci gave up after %s (Bazel included)", took.Round(time.Millisecond))
}
