package publish

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
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
	for _, l := range layers {
		if d, err := l.Digest(); err == nil {
			reg[d.String()] = repo.RepositoryStr()
		}
	}
	c.saveLocked()
}

func (c *MountCache) saveLocked() {
	b, err := json.Marshal(c.blobs)
	if err != nil {
		return
	}
	if err := os.MkdirAll(filepath.Dir(c.path), 0o755); err != nil {
		return
	}
	tmp := c.path + ".tmp"
	if os.WriteFile(tmp, b, 0o644) == nil {
		_ = os.Rename(tmp, c.path)
	}
}

// wrapImage returns img with each layer we know another repository holds marked
// as mountable from there (remote.Write then asks the registry to mount it).
func (c *MountCache) wrapImage(img v1.Image, repo name.Repository) v1.Image {
	if c == nil {
		return img
	}
	return &mountableImage{Image: img, cache: c, repo: repo}
}

// wrapIndex does the same for each image of idx, leaving the index's own bytes
// (and so its digest) untouched.
func (c *MountCache) wrapIndex(idx v1.ImageIndex, repo name.Repository) v1.ImageIndex {
	if c == nil {
		return idx
	}
	return &mountableIndex{imageIndex: idx, cache: c, repo: repo}
}

// imageIndex lets mountableIndex embed v1.ImageIndex under a field name that does
// not hide the interface's own ImageIndex method.
type imageIndex = v1.ImageIndex

type mountableIndex struct {
	imageIndex
	cache *MountCache
	repo  name.Repository
}

func (m *mountableIndex) Image(h v1.Hash) (v1.Image, error) {
	img, err := m.imageIndex.Image(h)
	if err != nil {
		return nil, err
	}
	return m.cache.wrapImage(img, m.repo), nil
}

type mountableImage struct {
	v1.Image
	cache *MountCache
	repo  name.Repository
}

func (m *mountableImage) Layers() ([]v1.Layer, error) {
	ls, err := m.Image.Layers()
	if err != nil {
		return nil, err
	}
	out := make([]v1.Layer, len(ls))
	for i, l := range ls {
		out[i] = l
		if d, err := l.Digest(); err == nil {
			if from, ok := m.cache.source(m.repo, d); ok {
				out[i] = &remote.MountableLayer{Layer: l, Reference: from.Digest(d.String())}
			}
		}
	}
	return out, nil
}
