package publish

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"syscall"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// MountCache remembers, per registry, a repository that holds each blob we pushed,
// so that pushing the same blob to another repository is a cross-repository mount
// (no bytes sent) instead of an upload. A stale entry costs nothing: the registry
// then asks for a normal upload. The nil MountCache remembers nothing.
type MountCache struct {
	path string
	mu   sync.Mutex
	// registry -> blob digest -> repository (without the registry)
	blobs map[string]map[string]string
}

// LoadMountCache reads the cache at path; a missing or unreadable file is an empty cache.
func LoadMountCache(path string) *MountCache {
	c := &MountCache{path: path, blobs: map[string]map[string]string{}}
	if b, err := os.ReadFile(path); err == nil {
		_ = json.Unmarshal(b, &c.blobs)
	}
	return c
}

// DefaultMountCachePath is where the CLI keeps its mount cache.
func DefaultMountCachePath() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	return filepath.Join(dir, "slipway", "registry-blobs.json")
}

// source is the repository other than repo known to hold digest, if any.
func (c *MountCache) source(repo name.Repository, digest v1.Hash) (name.Repository, bool) {
	if c == nil {
		return name.Repository{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	other, ok := c.blobs[repo.RegistryStr()][digest.String()]
	if !ok || other == repo.RepositoryStr() {
		return name.Repository{}, false
	}
	return repo.Registry.Repo(other), true
}

// Record notes that repo now holds a's blobs, and saves the cache.
func (c *MountCache) Record(repo name.Repository, a Artifact) {
	if c == nil {
		return
	}
	var layers []v1.Layer
	collect := func(img v1.Image) {
		if ls, err := img.Layers(); err == nil {
			layers = append(layers, ls...)
		}
	}
	if a.Image != nil {
		collect(a.Image)
	} else if m, err := a.Index.IndexManifest(); err == nil {
		for _, d := range m.Manifests {
			if img, err := a.Index.Image(d.Digest); err == nil {
				collect(img)
			}
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	reg := c.blobs[repo.RegistryStr()]
	if reg == nil {
		reg = map[string]string{}
		c.blobs[repo.RegistryStr()] = reg
	}
	var recorded []string
	for _, l := range layers {
		if d, err := l.Digest(); err == nil {
			reg[d.String()] = repo.RepositoryStr()
			recorded = append(recorded, d.String())
		}
	}
	c.saveLocked(repo.RegistryStr(), recorded)
}

// saveLocked saves the blobs just recorded for registry into the file, keeping
// what other processes saved since this cache was loaded (and taking it in).
// Processes take turns through a lock file, and each writes a temporary file of
// its own that it renames over the cache, so readers see a whole old or a whole
// new file. A cache that cannot be saved only costs later mounts.
func (c *MountCache) saveLocked(registry string, recorded []string) {
	dir := filepath.Dir(c.path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return
	}
	unlock, err := lockPath(c.path + ".lock")
	if err != nil {
		return
	}
	defer unlock()
	merged := map[string]map[string]string{}
	if b, err := os.ReadFile(c.path); err == nil {
		_ = json.Unmarshal(b, &merged)
	}
	if merged[registry] == nil {
		merged[registry] = map[string]string{}
	}
	for _, d := range recorded {
		merged[registry][d] = c.blobs[registry][d]
	}
	c.blobs = merged
	b, err := json.Marshal(merged)
	if err != nil {
		return
	}
	_ = writeFileAtomic(c.path, b)
}

// writeFileAtomic writes data to a temporary file of its own next to path, then
// renames it over path.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	_, werr := tmp.Write(data)
	cerr := tmp.Close()
	if werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Chmod(tmp.Name(), 0o644)
	}
	if werr == nil {
		werr = os.Rename(tmp.Name(), path)
	}
	if werr != nil {
		_ = os.Remove(tmp.Name())
	}
	return werr
}

// lockPath takes an exclusive advisory lock on path (created if need be), waiting
// for other processes that hold it.
func lockPath(path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
