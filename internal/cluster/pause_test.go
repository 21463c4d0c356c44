package cluster

import (
	"context"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// The sandbox image: the pause program built with the go command, assembled with
// the project's image code, pushed once (a second push finds it there).
func TestPauseImage(t *testing.T) {
	ctx := context.Background()
	if os.Getenv("GOCACHE") == "" && os.Getenv("HOME") == "" { // Bazel's test sandbox
		t.Setenv("GOCACHE", t.TempDir())
	}
	cfg := Config{Name: "pause-test", CacheDir: t.TempDir()}.withDefaults()
	l := cfg.layout()
	if err := os.MkdirAll(l.tools, 0o755); err != nil {
		t.Fatal(err)
	}
	b := &builder{cfg: cfg, l: l, p: newProgress(io.Discard)}
	bin, err := b.ensurePause(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer s.Close()
	ref, err := pauseRef(strings.TrimPrefix(s.URL, "http://"), bin)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []bool{true, false} {
		pushed, err := pushPause(ctx, ref, bin, t.TempDir())
		if err != nil || pushed != want {
			t.Fatalf("push %d: pushed=%v, err=%v; want pushed=%v", i+1, pushed, err, want)
		}
	}
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(r)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(cf.Config.Entrypoint, " "); got != "/pause" || cf.OS != "linux" {
		t.Errorf("entrypoint %q on %s, want /pause on linux", got, cf.OS)
	}
}
