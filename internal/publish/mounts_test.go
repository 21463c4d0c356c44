package publish

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
)

// Several processes push at once, each with the cache it loaded at its start: each
// save keeps what the others saved, and the file is whole JSON at every moment.
func TestMountCacheConcurrentSavers(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "registry-blobs.json")
	const savers = 8
	caches := make([]*MountCache, savers)
	images := make([]Artifact, savers)
	for i := range caches {
		caches[i] = LoadMountCache(path) // all loaded before anyone saves
		images[i] = Artifact{Image: image(t, randomLayer(t, 10), randomLayer(t, 10))}
	}

	stop := make(chan struct{})
	torn := make(chan string, 1)
	var readers sync.WaitGroup
	readers.Add(1)
	go func() { // a reader, like a process starting meanwhile
		defer readers.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			b, err := os.ReadFile(path)
			if err == nil && !json.Valid(b) {
				select {
				case torn <- string(b):
				default:
				}
			}
		}
	}()
	var wg sync.WaitGroup
	for i := range caches {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for round := range 20 {
				repo, err := name.NewRepository(fmt.Sprintf("reg.example/saver%d/round%d", i, round))
				if err != nil {
					t.Error(err)
					return
				}
				caches[i].Record(repo, images[i])
			}
		}()
	}
	wg.Wait()
	close(stop)
	readers.Wait()
	select {
	case b := <-torn:
		t.Errorf("a reader saw a torn cache file: %q", b)
	default:
	}

	final := LoadMountCache(path)
	for i, img := range images {
		layers, _ := img.Image.Layers()
		for _, l := range layers {
			d, _ := l.Digest()
			if got := final.blobs["reg.example"][d.String()]; got != fmt.Sprintf("saver%d/round19", i) {
				t.Errorf("saver %d's layer %s: cache says %q, want saver%d/round19", i, d, got, i)
			}
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != "registry-blobs.json" && e.Name() != "registry-blobs.json.lock" {
			t.Errorf("left behind: %s", e.Name())
		}
	}
}
