package deploy

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/user"
	"regexp"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/slipway-dev/slipway/internal/kube"
	"github.com/slipway-dev/slipway/internal/liveupdate"
	"github.com/slipway-dev/slipway/internal/manifest"
	"github.com/slipway-dev/slipway/internal/portforward"
)

// Registries says where images go: pushed to Push, named in manifests as Pull
// (they differ when nodes reach the registry under another name, KEP-1755).
type Registries struct {
	Push, Pull string
	// Override makes Push/Pull apply to images whose rule names a registry too.
	Override bool
}

// Settings resolve a target for one cluster and developer.
type Settings struct {
	// Namespace replaces the target's namespace when set.
	Namespace string
	// User replaces {user} in namespaces (default: $USER).
	User       string
	Registries Registries
	// Rewrite, when set, changes each object after its images are resolved and
	// before it is hashed (the dev loop's live-update rewrite).
	Rewrite func(obj *unstructured.Unstructured) error
}

// Image is an image to push, and the reference manifests use for it.
type Image struct {
	Label      string
	Layout     string
	Repository name.Repository
	Reference  string
	Digest     string
}

// Resolved is a target ready to apply: namespace and image references final,
// every object marked with its inventory and content hash.
type Resolved struct {
	Target    string
	Namespace string
	Objects   []*unstructured.Unstructured
	// Hashes are the content hashes of Objects, by kube.Ref key.
	Hashes    map[string]string
	Images    []Image
	Inventory *kube.Inventory
	// ForceConflicts: the target's force_conflicts attribute.
	ForceConflicts bool
	// Forwards are the local ports the dev loop forwards to the target's workloads.
	Forwards []portforward.Forward
	// Live are the containers the dev loop may sync binaries into (dev only).
	Live []liveupdate.Sync
}

// Resolve applies settings to a loaded target. It sends no request.
func Resolve(t *Target, s Settings) (*Resolved, error) {
	ns := s.Namespace
	if ns == "" {
		ns = t.Inventory.Namespace
	}
	if strings.Contains(ns, "{user}") {
		u := s.User
		if u == "" {
			u = CurrentUser()
		}
		ns = strings.ReplaceAll(ns, "{user}", dnsLabel(u))
	}
	if ns == "" {
		ns = "default"
	}
	r := &Resolved{
		Target:    t.Spec.Target,
		Namespace: ns,
		Hashes:    map[string]string{},
		Inventory: &kube.Inventory{ID: kube.InventoryID(t.Spec.Target, ns), Target: t.Spec.Target, Namespace: ns},

		ForceConflicts: t.Spec.ForceConflicts,
	}
	specs, err := portforward.ParseSpecs(t.Spec.PortForwards)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", t.Spec.Target, err)
	}
	for _, pf := range specs {
		r.Forwards = append(r.Forwards, portforward.Forward{Target: t.Spec.Target, Namespace: ns, Spec: pf})
	}

	// Image references as rendered -> as deployed.
	refs := map[string]string{}
	for _, img := range t.Inventory.Images {
		resolved, err := s.Image(t.Spec.Target, img.Label, img.Registry, img.Repository, img.Digest)
		if err != nil {
			return nil, err
		}
		resolved.Layout = t.Layouts[img.Label]
		refs[img.Reference] = resolved.Reference
		r.Images = append(r.Images, resolved)
	}

	for i, rendered := range t.Objects {
		obj := rendered.DeepCopy()
		// Objects the target's namespace applied to, and any others without one
		// (the server's scope mapping drops it again from cluster-scoped kinds).
		gvk := obj.GroupVersionKind()
		if t.Inventory.Objects[i].DefaultNamespace || (obj.GetNamespace() == "" && !manifest.IsClusterScoped(gvk.Group, gvk.Kind)) {
			obj.SetNamespace(ns)
		}
		for _, f := range manifest.ImageFields(obj.Object) {
			if ref, ok := refs[f.Image()]; ok {
				f.SetImage(ref)
			} else if strings.HasPrefix(f.Image(), manifest.UnknownRegistry+"/") {
				return nil, fmt.Errorf("%s: %s: %s has no image in the inventory (stale outputs? rebuild)", t.Spec.Target, kube.RefOf(obj), f.Path)
			}
		}
		if s.Rewrite != nil {
			if err := s.Rewrite(obj); err != nil {
				return nil, fmt.Errorf("%s: %w", t.Spec.Target, err)
			}
		}
		hash, err := contentHash(obj)
		if err != nil {
			return nil, err
		}
		kube.Mark(obj, r.Inventory, hash)
		ref := kube.RefOf(obj)
		r.Hashes[ref.Key()] = hash
		r.Objects = append(r.Objects, obj)
		r.Inventory.Objects = append(r.Inventory.Objects, ref)
	}
	return r, nil
}

// Image resolves where an image of target goes (the registry its rule names,
// else the settings'), and how manifests name it.
func (s Settings) Image(target, label, registry, repository, digest string) (Image, error) {
	host, pullHost := registry, registry
	if host == "" || s.Registries.Override {
		host, pullHost = s.Registries.Push, s.Registries.Pull
	}
	if host == "" {
		return Image{}, fmt.Errorf("%s: no registry for image %s: pass --registry, set the image's registry attribute, or use a cluster that publishes its local registry (KEP-1755)", target, label)
	}
	if pullHost == "" {
		pullHost = host
	}
	repo, err := name.NewRepository(host + "/" + repository)
	if err != nil {
		return Image{}, fmt.Errorf("%s: image %s: %w", target, label, err)
	}
	return Image{Label: label, Repository: repo, Reference: pullHost + "/" + repository + "@" + digest, Digest: digest}, nil
}

func contentHash(u *unstructured.Unstructured) (string, error) {
	b, err := json.Marshal(u.Object)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:]), nil
}

// CurrentUser is the user name {user} stands for.
func CurrentUser() string {
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return "unknown"
}

var notDNS = regexp.MustCompile(`[^a-z0-9-]+`)

// dnsLabel makes a user name usable in a namespace name.
func dnsLabel(s string) string {
	s = strings.Trim(notDNS.ReplaceAllString(strings.ToLower(s), "-"), "-")
	if len(s) > 40 {
		s = s[:40]
	}
	if s == "" {
		s = "unknown"
	}
	return s
}
