package kube

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	k8stesting "k8s.io/client-go/testing"
)

var configMaps = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}

func labelledConfigMap(name string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion("v1")
	u.SetKind("ConfigMap")
	u.SetNamespace("dev")
	u.SetName(name)
	u.SetLabels(map[string]string{InventoryLabel: "inv"})
	return u
}

func TestTrackerReportsTrackedDeletionsOnly(t *testing.T) {
	client := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
		map[schema.GroupVersionResource]string{configMaps: "ConfigMapList"},
		labelledConfigMap("a"), labelledConfigMap("b"))
	watching := make(chan struct{})
	client.PrependWatchReactor("configmaps", func(action k8stesting.Action) (bool, watch.Interface, error) {
		w, err := client.Tracker().Watch(configMaps, "dev")
		close(watching) // the watch is registered: deletions from now on reach it
		return true, w, err
	})
	out := make(chan Vanished, 10)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	tr := newTracker(ctx, client, func(Ref) (schema.GroupVersionResource, bool, error) { return configMaps, true, nil }, out, make(chan error, 10))
	a := Ref{Version: "v1", Kind: "ConfigMap", Namespace: "dev", Name: "a"}
	tr.Track("//svc:deploy", []Ref{a})

	select {
	case <-watching:
	case <-time.After(10 * time.Second):
		t.Fatal("the tracker never started its watch")
	}
	// Deleting b (untracked), then a (tracked): only a is reported.
	res := client.Resource(configMaps).Namespace("dev")
	for _, name := range []string{"b", "a"} {
		if err := res.Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case v := <-out:
		if diff := cmp.Diff(Vanished{Owner: "//svc:deploy", Ref: a}, v); diff != "" {
			t.Errorf("vanished (-want +got):\n%s", diff)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the tracked object's deletion was not reported")
	}
	select {
	case v := <-out:
		t.Errorf("reported %+v too", v)
	default:
	}
}
