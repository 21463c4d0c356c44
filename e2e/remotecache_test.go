//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/slipway-dev/slipway/internal/dev"
	"github.com/slipway-dev/slipway/internal/oci"
	"github.com/slipway-dev/slipway/internal/remotecache"
)

// cacheServer is nginx from Debian serving Bazel's HTTP caching protocol (WebDAV
// PUT, GET), as Bazel's remote-caching documentation sets it up, on 127.0.0.1
// and a port that follows SLIPWAY_E2E_PORT_OFFSET. Its data stays between runs
// (cached state, like the output bases); its access log counts who downloaded what.
type cacheServer struct {
	t         *testing.T
	dir, data string
	url       string
	accessLog string
}

// cacheRequest is one line of the access log.
type cacheRequest struct {
	method, uri, agent string
	status             int
	bytes              int64
}

func startCacheServer(t *testing.T) *cacheServer {
	t.Helper()
	nginx, err := exec.LookPath("nginx")
	if err != nil {
		nginx = "/usr/sbin/nginx"
	}
	if _, err := os.Stat(nginx); err != nil {
		install := exec.Command("apt-get", "install", "-y", "nginx-light")
		install.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		if out, err := install.CombinedOutput(); err != nil {
			t.Fatalf("nginx is missing and apt-get install -y nginx-light failed: %v\n%s", err, tailLines(string(out), 20))
		}
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		t.Fatal(err)
	}
	c := &cacheServer{t: t, dir: filepath.Join(cache, "slipway", e2eID(), "nginx-cache")}
	c.data = filepath.Join(c.dir, "data")
	c.accessLog = filepath.Join(c.dir, "access.log")
	for _, d := range []string{c.data, filepath.Join(c.dir, "tmp")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	port := 18080 + e2ePortOffset()
	c.url = fmt.Sprintf("http://127.0.0.1:%d", port)
	user := ""
	if os.Geteuid() == 0 {
		user = "user root;" // workers read and write the data folder as we do
	}
	conf := fmt.Sprintf(`daemon off;
%[1]s
worker_processes 2;
pid %[2]s/nginx.pid;
error_log %[2]s/error.log;
events { worker_connections 256; }
http {
  log_format cache '$request_method $uri $status $body_bytes_sent $http_user_agent';
  access_log %[2]s/access.log cache;
  client_body_temp_path %[2]s/tmp;
  proxy_temp_path %[2]s/tmp;
  fastcgi_temp_path %[2]s/tmp;
  uwsgi_temp_path %[2]s/tmp;
  scgi_temp_path %[2]s/tmp;
  client_max_body_size 0;
  server {
    listen 127.0.0.1:%[3]d;
    root %[2]s/data;
    location / {
      dav_methods PUT;
      create_full_put_path on;
      dav_access user:rw group:r all:r;
    }
  }
}
`, user, c.dir, port)
	confPath := filepath.Join(c.dir, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(nginx, "-c", confPath, "-p", c.dir)
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGQUIT) // graceful stop of the nginx we started
		_ = cmd.Wait()
	})
	// Ready when a PUT and a GET of a probe blob go through.
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := exec.Command("curl", "-sf", "-X", "PUT", "--data-binary", "probe", c.url+"/probe").CombinedOutput()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx on %s did not answer: %v %s\n%s", c.url, err, out, stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	return c
}

// mark is the access log's size: requests after it are read with since.
func (c *cacheServer) mark() int64 {
	fi, err := os.Stat(c.accessLog)
	if err != nil {
		return 0
	}
	return fi.Size()
}

func (c *cacheServer) since(mark int64) []cacheRequest {
	c.t.Helper()
	f, err := os.Open(c.accessLog)
	if err != nil {
		c.t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Seek(mark, 0); err != nil {
		c.t.Fatal(err)
	}
	var out []cacheRequest
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), " ", 5)
		if len(parts) < 5 {
			continue
		}
		status, _ := strconv.Atoi(parts[2])
		n, _ := strconv.ParseInt(parts[3], 10, 64)
		out = append(out, cacheRequest{method: parts[0], uri: parts[1], status: status, bytes: n, agent: parts[4]})
	}
	return out
}

// downloads sums the CAS bytes sent with status 200, by Bazel and by slipway.
func downloads(reqs []cacheRequest) (bazelBytes, slipwayBytes int64, slipwayBlobs map[string]bool) {
	slipwayBlobs = map[string]bool{}
	for _, r := range reqs {
		if r.method != "GET" || r.status != 200 || !strings.HasPrefix(r.uri, "/cas/") {
			continue
		}
		if r.agent == remotecache.UserAgent {
			slipwayBytes += r.bytes
			slipwayBlobs[strings.TrimPrefix(r.uri, "/cas/")] = true
		} else {
			bazelBytes += r.bytes
		}
	}
	return bazelBytes, slipwayBytes, slipwayBlobs
}

// registryHasBlob asks the registry (plain HTTP on 127.0.0.1) for a blob's size.
func registryHasBlob(host, repo string, d v1.Hash) error {
	resp, err := http.Head(fmt.Sprintf("http://%s/v2/%s/blobs/%s", host, repo, d))
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("the registry answers %s for blob %s of %s", resp.Status, d, repo)
	}
	return nil
}

// remoteWorkspace is a workspace of its own ("a machine"): its own folder and
// output base, the shop, and user.bazelrc flags for the remote cache.
func remoteWorkspace(t *testing.T, name string, rc ...string) *workspace {
	t.Helper()
	cache, err := os.UserCacheDir()
	if err != nil {
		t.Fatal(err)
	}
	w := &workspace{t: t, dir: filepath.Join(os.TempDir(), "slipway-"+e2eID(), name),
		outputBase: filepath.Join(cache, "slipway", e2eID(), name+"-output-base")}
	if err := os.RemoveAll(w.dir); err != nil {
		t.Fatal(err)
	}
	w.write("MODULE.bazel", fmt.Sprintf(`module(name = "e2e")

bazel_dep(name = "slipway", version = "0.1.0")
local_path_override(module_name = "slipway", path = %q)

bazel_dep(name = "rules_go", version = "0.59.0")

go_sdk = use_extension("@rules_go//go:extensions.bzl", "go_sdk")
go_sdk.host()
`, repoRoot(t)))
	w.write(".bazelrc", "common --noenable_workspace\ncommon --lockfile_mode=off\nbuild --color=no --curses=no\ntry-import %workspace%/user.bazelrc\n")
	w.write("user.bazelrc", fmt.Sprintf("startup --output_base=%s\n%s\n", w.outputBase, strings.Join(rc, "\n")))
	w.write("BUILD.bazel", "")
	w.copyFromRepo("examples/shop", "examples/shop")
	return w
}

// stamp makes every shop service's binary, and so its image layer, new.
func stamp(w *workspace, nonce string) {
	for _, svc := range []string{"catalog", "frontend", "orders", "worker"} {
		w.edit("examples/shop/"+svc+"/main.go", fmt.Sprintf(`const version = "%s-v1"`, svc), fmt.Sprintf(`const version = "%s-%s"`, svc, nonce))
	}
}

var shopDeployables = []string{"//examples/shop/catalog:deploy", "//examples/shop/frontend:deploy", "//examples/shop/orders:deploy", "//examples/shop/worker:deploy"}

// shopMetas reads the shop's image metadata from a workspace's outputs.
func shopMetas(t *testing.T, w *workspace) map[string]*oci.Meta {
	t.Helper()
	out := map[string]*oci.Meta{}
	for _, svc := range []string{"catalog", "frontend", "orders", "worker"} {
		b, err := os.ReadFile(w.bin("examples/shop/" + svc + "/image" + oci.MetaSuffix))
		if err != nil {
			t.Fatalf("%s's image metadata was not downloaded: %v", svc, err)
		}
		var m oci.Meta
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		out[svc] = &m
	}
	return out
}

// layersOf lists an image's layers from its metadata.
func layersOf(t *testing.T, m *oci.Meta) []v1.Descriptor {
	t.Helper()
	mf, err := v1.ParseManifest(strings.NewReader(string(m.Blobs[m.Top.Digest.String()])))
	if err != nil {
		t.Fatal(err)
	}
	return mf.Layers
}

func TestRemoteCacheCIDeploysWithoutTheBytes(t *testing.T) {
	cl := sharedCluster(t)
	cs := clientset(t, cl)
	cache := startCacheServer(t)
	nonce := fmt.Sprintf("rc%d", time.Now().UnixNano()%1_000_000_000)

	// Machine A builds everything (every action runs, or hits the cache) and fills
	// the remote cache. Its disk cache is off, so every result reaches nginx.
	a := remoteWorkspace(t, "rc-a", "build --remote_cache="+cache.url, "build --disk_cache=")
	stamp(a, nonce)
	start := time.Now()
	a.mustBazel(append([]string{"build", "--output_groups=+deploy", "//examples/shop:dev.ci"}, shopDeployables...)...)
	t.Logf("machine A built the shop in %s", time.Since(start).Round(time.Second))

	// Machine B: same sources, another output base, Build without the Bytes.
	b := remoteWorkspace(t, "rc-b", "build --remote_cache="+cache.url, "build --remote_download_minimal", "build --disk_cache=")
	stamp(b, nonce)
	// `bazel run` downloads the ci tool itself first (its runfiles); the deploy's
	// downloads are counted from here.
	b.mustBazel("run", "//examples/shop:dev.ci", "--", "--help")
	mark := cache.mark()
	user := "rc" + nonce[2:8]
	ns := "shop-" + user
	defer cs.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{})

	r, stderr, err := shopCI(t, b, user)
	if err != nil {
		t.Fatalf("ci on machine B: %v\n%s", err, tailLines(stderr, 40))
	}
	reqs := cache.since(mark)
	bazelBytes, slipwayBytes, streamed := downloads(reqs)
	metas := shopMetas(t, b)
	var layerBytes int64
	for svc, m := range metas {
		for _, l := range layersOf(t, m) {
			layerBytes += l.Size
			if _, err := os.Stat(filepath.Join(b.bin("examples/shop/"+svc+"/image"), "blobs", "sha256", l.Digest.Hex)); err == nil {
				t.Errorf("%s's layer %s is in machine B's output base", svc, l.Digest)
			}
		}
	}
	t.Logf("machine B: bazel downloaded %d bytes from the cache, slipway streamed %d bytes (%d blobs); the shop's layers are %d bytes; sources %+v",
		bazelBytes, slipwayBytes, len(streamed), layerBytes, r.Sources)

	t.Run("bazel downloaded the metadata only", func(t *testing.T) {
		if bazelBytes > layerBytes/20 || bazelBytes > 1<<20 {
			t.Errorf("bazel downloaded %d bytes, want the small metadata only (the layers are %d bytes)", bazelBytes, layerBytes)
		}
		for _, req := range reqs {
			if req.agent != remotecache.UserAgent && req.method == "GET" && streamed[strings.TrimPrefix(req.uri, "/cas/")] {
				t.Errorf("bazel downloaded layer %s too", req.uri)
			}
		}
	})

	t.Run("the registry received every missing layer, streamed from the cache", func(t *testing.T) {
		if r.Sources.Streamed == 0 || r.Sources.Streamed != len(streamed) || r.Sources.Materialized != 0 || r.Sources.OutputBase != 0 {
			t.Errorf("sources %+v, %d blobs streamed per the cache's log: want every pushed layer streamed", r.Sources, len(streamed))
		}
		if !strings.Contains(stderr, "streamed from the remote cache "+cache.url) {
			t.Errorf("ci's output does not name the streaming path:\n%s", tailLines(stderr, 30))
		}
		for svc, m := range metas {
			repo, err := name.NewRepository(cl.RegistryHost + "/examples/shop/" + svc)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := remote.Head(repo.Digest(m.Top.Digest.String())); err != nil {
				t.Errorf("%s: the registry lacks the manifest %s: %v", svc, m.Top.Digest, err)
			}
			for _, l := range layersOf(t, m) {
				if err := registryHasBlob(cl.RegistryHost, "examples/shop/"+svc, l.Digest); err != nil {
					t.Errorf("%s: %v", svc, err)
				}
			}
		}
		if len(r.Failures) != 0 {
			t.Errorf("failures: %v", r.Failures)
		}
	})

	t.Run("an evicted layer is materialized by bazel, and says so", func(t *testing.T) {
		nonce2 := nonce + "e"
		a.edit("examples/shop/catalog/main.go", nonce, nonce2)
		b.edit("examples/shop/catalog/main.go", nonce, nonce2)
		a.mustBazel(append([]string{"build", "--output_groups=+deploy"}, shopDeployables...)...)
		b.mustBazel(append([]string{"build", "--output_groups=deploy", "--remote_download_regex=.*\\.oci-meta\\.json$"}, shopDeployables...)...)
		layers := layersOf(t, shopMetas(t, b)["catalog"])
		binary := layers[len(layers)-1].Digest
		if err := os.Remove(filepath.Join(cache.data, "cas", binary.Hex)); err != nil {
			t.Fatalf("evicting %s: %v", binary, err)
		}
		r, stderr, err := shopCI(t, b, user)
		if err != nil {
			t.Fatalf("ci after the eviction: %v\n%s", err, tailLines(stderr, 40))
		}
		if r.Sources.Materialized != 1 {
			t.Errorf("sources %+v, want the evicted layer materialized", r.Sources)
		}
		for _, want := range []string{"layer " + binary.Algorithm + ":" + binary.Hex[:12] + " is not in the remote cache",
			"pushed from the output base after bazel materialized it"} {
			if !strings.Contains(stderr, want) {
				t.Errorf("ci's output lacks %q:\n%s", want, tailLines(stderr, 30))
			}
		}
		if err := registryHasBlob(cl.RegistryHost, "examples/shop/catalog", binary); err != nil {
			t.Errorf("the evicted layer: %v", err)
		}
	})
}

func TestRemoteCacheDevLoopUnderMinimal(t *testing.T) {
	cl := sharedCluster(t)
	cs := clientset(t, cl)
	cache := startCacheServer(t)
	nonce := fmt.Sprintf("rd%d", time.Now().UnixNano()%1_000_000_000)
	a := remoteWorkspace(t, "rc-a", "build --remote_cache="+cache.url, "build --disk_cache=")
	stamp(a, nonce)
	a.mustBazel(append([]string{"build", "--output_groups=+deploy", "//examples/shop:dev"}, shopDeployables...)...)

	b := remoteWorkspace(t, "rc-b", "build --remote_cache="+cache.url, "build --remote_download_minimal", "build --disk_cache=")
	stamp(b, nonce)
	user := "rd" + nonce[2:8]
	ns := "shop-" + user
	defer cs.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{})
	d := startDev(t, b, []string{"USER=" + user})
	defer d.stop()
	d.waitReady(20 * time.Minute)

	// Machine A builds the edit first (CI, a colleague): machine B's loop finds
	// every action in the cache.
	edited := nonce + "x"
	a.edit("examples/shop/catalog/main.go", nonce, edited)
	a.mustBazel(append([]string{"build", "--output_groups=+deploy"}, shopDeployables...)...)
	mark := cache.mark()
	b.edit("examples/shop/catalog/main.go", nonce, edited)
	c := d.next()
	if c.Outcome != dev.OK || strings.Join(c.Affected, ",") != "//examples/shop/catalog:deploy" {
		t.Fatalf("cycle: %s, affected %v, errors %v\n%s", c.Outcome, c.Affected, c.Errors, tailLines(d.stderr.String(), 30))
	}
	if len(c.Images) != 1 || c.Images[0].BytesUploaded == 0 {
		t.Errorf("pushed %+v, want the new catalog image", c.Images)
	}
	ref := deployedImage(t, cs, ns, "Deployment", "catalog")
	m := shopMetas(t, b)["catalog"]
	if !strings.HasSuffix(ref, "@"+m.Top.Digest.String()) {
		t.Errorf("the catalog runs %s, want the edited image %s", ref, m.Top.Digest)
	}
	layers := layersOf(t, m)
	binary := layers[len(layers)-1].Digest
	for _, p := range []string{
		filepath.Join(b.bin("examples/shop/catalog/image"), "blobs", "sha256", binary.Hex),
		b.bin("examples/shop/catalog/image.layers/binary.layer"),
	} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("the new layer is in machine B's output base: %s", p)
		}
	}
	bazelBytes, slipwayBytes, streamed := downloads(cache.since(mark))
	if !streamed[binary.Hex] {
		t.Errorf("slipway did not stream the new layer %s from the cache (streamed %v)", binary, streamed)
	}
	if !strings.Contains(d.stderr.String(), "streamed from the remote cache "+cache.url) {
		t.Errorf("the loop's output does not name the streaming path:\n%s", tailLines(d.stderr.String(), 30))
	}
	t.Logf("edit cycle: %d ms %v; bazel downloaded %d bytes, slipway streamed %d bytes", c.TotalMillis, c.PhaseMillis, bazelBytes, slipwayBytes)
}
