package devui

import (
	"sort"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/slipway-dev/slipway/internal/kube"
)

// AppliedObject is one object of a deployable as last applied.
type AppliedObject struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
	Action    string `json:"action"`
	// YAML is the object as applied (the server's dry-run result, without
	// managed fields and status); Diff the unified diff of that last apply.
	YAML string `json:"yaml"`
	Diff string `json:"diff"`
}

// Detail is everything the store keeps of one deployable.
type Detail struct {
	Resource
	Cycles  []CycleSummary  `json:"cycles"`
	Objects []AppliedObject `json:"objects"`
}

// Detail returns a deployable's detail; false when there is no such deployable.
func (s *Store) Detail(target string) (Detail, bool) {
	s.mu.Lock()
	r := s.resources[target]
	if r == nil {
		s.mu.Unlock()
		return Detail{}, false
	}
	d := Detail{Resource: r.Resource, Cycles: append([]CycleSummary{}, r.cycles...)}
	changes := make([]*kube.Change, 0, len(r.objects))
	for _, c := range r.objects {
		changes = append(changes, c)
	}
	s.mu.Unlock()
	// Rendering happens outside the lock: changes are never modified once reported.
	sort.Slice(changes, func(i, j int) bool { return changes[i].Ref.String() < changes[j].Ref.String() })
	d.Objects = []AppliedObject{}
	for _, c := range changes {
		o := AppliedObject{Kind: c.Ref.Kind, Namespace: c.Ref.Namespace, Name: c.Ref.Name, Action: string(c.Action)}
		o.YAML = appliedYAML(c)
		if diff, err := kube.UnifiedDiff(*c); err == nil {
			o.Diff = diff
		} else {
			o.Diff = "cannot render the diff: " + err.Error()
		}
		d.Objects = append(d.Objects, o)
	}
	return d, true
}

// appliedYAML renders the object as applied, without what changes on every write.
func appliedYAML(c *kube.Change) string {
	u := c.Desired.DeepCopy()
	for _, f := range []string{"resourceVersion", "generation", "uid", "creationTimestamp", "managedFields"} {
		unstructured.RemoveNestedField(u.Object, "metadata", f)
	}
	unstructured.RemoveNestedField(u.Object, "status")
	if c.Ref.Kind == "Secret" {
		for _, f := range []string{"data", "stringData"} {
			if m, ok, _ := unstructured.NestedMap(u.Object, f); ok {
				for k := range m {
					m[k] = "*** (masked)"
				}
				_ = unstructured.SetNestedMap(u.Object, m, f)
			}
		}
	}
	b, err := yaml.Marshal(u.Object)
	if err != nil {
		return "cannot render the object: " + err.Error()
	}
	return string(b)
}
