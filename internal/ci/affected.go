package ci

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"github.com/slipway-dev/slipway/internal/bazel"
	"github.com/slipway-dev/slipway/internal/deployable"
	"github.com/slipway-dev/slipway/internal/manifest"
	"github.com/slipway-dev/slipway/internal/version"
)

// Outputs are what one deployable builds to: its images' digests and its objects'
// rendered content hashes. Reproducible builds make them a faithful fingerprint.
type Outputs struct {
	Images  map[string]string `json:"images"`  // image label -> digest
	Objects map[string]string `json:"objects"` // group/kind/namespace/name -> content hash
}

// Snapshot is what a commit builds, by deployable.
type Snapshot map[string]Outputs

// SnapshotOf reads the outputs of built deployables from their inventories.
func SnapshotOf(built []*deployable.Built) Snapshot {
	s := Snapshot{}
	for _, b := range built {
		o := Outputs{Images: map[string]string{}, Objects: map[string]string{}}
		for _, img := range b.Target.Inventory.Images {
			o.Images[img.Label] = img.Digest
		}
		for _, obj := range b.Target.Inventory.Objects {
			o.Objects[objectKey(obj)] = obj.Hash
		}
		s[b.Label] = o
	}
	return s
}

func objectKey(o manifest.ObjectRef) string {
	return strings.Join([]string{o.Group, o.Kind, o.Namespace, o.Name}, "/")
}

// Change is a deployable whose outputs differ.
type Change struct {
	Target string `json:"target"`
	// Status is "added", "changed" or "removed".
	Status  string         `json:"status"`
	Images  []ImageChange  `json:"images,omitempty"`
	Objects []ObjectChange `json:"objects,omitempty"`
}

// ImageChange is an image whose digest differs ("" when it is new or gone).
type ImageChange struct {
	Label  string `json:"label"`
	Before string `json:"before,omitempty"`
	After  string `json:"after,omitempty"`
}

// ObjectChange is an object that is new, gone or rendered differently.
type ObjectChange struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
	Change    string `json:"change"` // added, changed, removed
}

// Compare lists the deployables whose outputs differ between base and head.
func Compare(base, head Snapshot) []Change {
	var out []Change
	for _, target := range unionKeys(base, head) {
		b, inBase := base[target]
		h, inHead := head[target]
		c := Change{Target: target, Status: "changed"}
		switch {
		case !inBase:
			c.Status = "added"
		case !inHead:
			c.Status = "removed"
		}
		for _, label := range unionKeys(b.Images, h.Images) {
			if b.Images[label] != h.Images[label] {
				c.Images = append(c.Images, ImageChange{Label: label, Before: b.Images[label], After: h.Images[label]})
			}
		}
		for _, key := range unionKeys(b.Objects, h.Objects) {
			before, had := b.Objects[key]
			after, has := h.Objects[key]
			if before == after && had == has {
				continue
			}
			parts := strings.SplitN(key, "/", 4)
			oc := ObjectChange{Kind: parts[1], Namespace: parts[2], Name: parts[3], Change: "changed"}
			switch {
			case !had:
				oc.Change = "added"
			case !has:
				oc.Change = "removed"
			}
			c.Objects = append(c.Objects, oc)
		}
		if c.Status != "changed" || len(c.Images) > 0 || len(c.Objects) > 0 {
			out = append(out, c)
		}
	}
	return out
}

func unionKeys[V any](a, b map[string]V) []string {
	set := map[string]bool{}
	for k := range a {
		set[k] = true
	}
	for k := range b {
		set[k] = true
	}
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Affected compares two commits' deployables.
type Affected struct {
	// Bazel returns a client for a workspace directory.
	Bazel    func(workspace string) bazel.Client
	Patterns []string
	Flags    []string
	// CacheDir holds the worktrees (each with its own, long-lived Bazel output
	// base) and the snapshots of commits already built.
	CacheDir string
	// NoCache rebuilds commits even when their snapshot is cached.
	NoCache bool
	Log     io.Writer
}

// Run compares base with head; an empty head means the workspace as it is
// (uncommitted changes included).
func (a *Affected) Run(ctx context.Context, workspace, base, head string) ([]Change, error) {
	repo, err := openRepo(workspace)
	if err != nil {
		return nil, err
	}
	baseSnap, err := a.snapshotAt(ctx, repo, base, "base")
	if err != nil {
		return nil, fmt.Errorf("base %s: %w", base, err)
	}
	var headSnap Snapshot
	if head == "" {
		fmt.Fprintf(a.Log, "building the workspace as it is (%s)\n", workspace)
		built, err := deployable.Build(ctx, a.Bazel(workspace), a.Patterns, a.Flags)
		if err != nil {
			return nil, fmt.Errorf("head (the workspace): %w", err)
		}
		headSnap = SnapshotOf(built)
	} else if headSnap, err = a.snapshotAt(ctx, repo, head, "head"); err != nil {
		return nil, fmt.Errorf("head %s: %w", head, err)
	}
	return Compare(baseSnap, headSnap), nil
}

// snapshotAt builds a commit in a worktree of its own (slot), or reads the snapshot
// cached for it: a commit's outputs never change for the same flags and patterns.
func (a *Affected) snapshotAt(ctx context.Context, repo *repo, rev, slot string) (Snapshot, error) {
	sha, err := repo.git(ctx, "rev-parse", "--verify", rev+"^{commit}")
	if err != nil {
		return nil, err
	}
	key := sha256.Sum256([]byte(strings.Join([]string{sha, repo.workspace, strings.Join(a.Patterns, " "), strings.Join(a.Flags, " "), version.Version}, "\x00")))
	cached := filepath.Join(a.CacheDir, "snapshots", hex.EncodeToString(key[:16])+".json")
	if !a.NoCache {
		if b, err := os.ReadFile(cached); err == nil {
			var s Snapshot
			if json.Unmarshal(b, &s) == nil {
				fmt.Fprintf(a.Log, "%s %s: outputs known from an earlier run\n", slot, short(sha))
				return s, nil
			}
		}
	}
	dir := filepath.Join(a.CacheDir, "worktrees", repo.id(), slot)
	fmt.Fprintf(a.Log, "%s %s: building in the worktree %s\n", slot, short(sha), dir)
	ws, err := repo.checkout(ctx, sha, dir)
	if err != nil {
		return nil, err
	}
	built, err := deployable.Build(ctx, a.Bazel(ws), a.Patterns, a.Flags)
	if err != nil {
		return nil, err
	}
	s := SnapshotOf(built)
	if b, err := json.Marshal(s); err == nil && os.MkdirAll(filepath.Dir(cached), 0o755) == nil {
		_ = os.WriteFile(cached, b, 0o644)
	}
	return s, nil
}

func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}

// repo is the git repository holding a Bazel workspace.
type repo struct {
	root      string
	workspace string // the workspace's path within the repository
}

func openRepo(workspace string) (*repo, error) {
	abs, err := filepath.Abs(workspace)
	if err != nil {
		return nil, err
	}
	r := &repo{root: abs}
	top, err := r.git(context.Background(), "rev-parse", "--show-toplevel")
	if err != nil {
		return nil, fmt.Errorf("%s is not in a git repository: %w", workspace, err)
	}
	r.root = top
	real, _ := filepath.EvalSymlinks(abs)
	if r.workspace, err = filepath.Rel(top, real); err != nil {
		return nil, err
	}
	return r, nil
}

// id names the repository in the cache.
func (r *repo) id() string {
	sum := sha256.Sum256([]byte(r.root))
	return hex.EncodeToString(sum[:6])
}

func (r *repo) git(ctx context.Context, args ...string) (string, error) {
	return gitIn(ctx, r.root, args...)
}

func gitIn(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", append([]string{"-C", dir}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("git %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(stdout.String()), nil
}

// checkout puts sha in the worktree at dir (creating it, or reusing it so that its
// Bazel output base stays warm) and returns the workspace directory inside it.
func (r *repo) checkout(ctx context.Context, sha, dir string) (string, error) {
	if _, err := os.Stat(filepath.Join(dir, ".git")); err == nil {
		if _, err := gitIn(ctx, dir, "checkout", "--quiet", "--detach", "--force", sha); err == nil {
			if _, err := gitIn(ctx, dir, "clean", "-ffdxq"); err != nil {
				return "", err
			}
			return filepath.Join(dir, r.workspace), nil
		}
	}
	// Missing or broken: make it again.
	if err := os.RemoveAll(dir); err != nil {
		return "", err
	}
	if _, err := r.git(ctx, "worktree", "prune"); err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return "", err
	}
	if _, err := r.git(ctx, "worktree", "add", "--quiet", "--detach", "--force", dir, sha); err != nil {
		return "", err
	}
	return filepath.Join(dir, r.workspace), nil
}
