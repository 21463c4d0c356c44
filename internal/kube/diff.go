package kube

import (
	"fmt"
	"strings"

	"github.com/fluxcd/pkg/ssa"
	"github.com/pmezard/go-difflib/difflib"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// volatileMetadata changes on every write and says nothing about the object's content.
var volatileMetadata = []string{"resourceVersion", "generation", "uid", "creationTimestamp", "managedFields"}

// UnifiedDiff renders a change as a unified diff of the live and desired objects'
// YAML, with Secret values masked. New objects diff against nothing.
func UnifiedDiff(c Change) (string, error) {
	live, desired := clean(c.Live), clean(c.Desired)
	if live != nil && desired != nil && c.Ref.Kind == "Secret" {
		if err := ssa.SanitizeUnstructuredData(live, desired); err != nil {
			return "", err
		}
	} else if desired != nil && c.Ref.Kind == "Secret" {
		if err := ssa.SanitizeUnstructuredData(desired.DeepCopy(), desired); err != nil {
			return "", err
		}
	}
	a, err := toYAML(live)
	if err != nil {
		return "", err
	}
	b, err := toYAML(desired)
	if err != nil {
		return "", err
	}
	name := c.Ref.String()
	return difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A: difflib.SplitLines(a), B: difflib.SplitLines(b),
		FromFile: "live/" + name, ToFile: "desired/" + name, Context: 3,
	})
}

func clean(u *unstructured.Unstructured) *unstructured.Unstructured {
	if u == nil {
		return nil
	}
	c := u.DeepCopy()
	for _, f := range volatileMetadata {
		unstructured.RemoveNestedField(c.Object, "metadata", f)
	}
	unstructured.RemoveNestedField(c.Object, "status")
	return c
}

func toYAML(u *unstructured.Unstructured) (string, error) {
	if u == nil {
		return "", nil
	}
	b, err := yaml.Marshal(u.Object)
	if err != nil {
		return "", fmt.Errorf("%s: %w", RefOf(u), err)
	}
	return strings.TrimRight(string(b), "\n") + "\n", nil
}
