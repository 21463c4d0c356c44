package dev

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/slipway-dev/slipway/internal/kube"
	"github.com/slipway-dev/slipway/internal/liveupdate"
)

func catalogPod(name, uid string, ready bool) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "dev", UID: types.UID(uid), Labels: map[string]string{"app": "catalog"}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{
			Name: "catalog", Ready: ready, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}},
		}}},
	}
}

// TestKubeSyncerWatchSendsReplacedPods: a ready pod the last sync did not
// reach makes the target stale, once; synced pods and pods not ready yet do not.
func TestKubeSyncerWatchSendsReplacedPods(t *testing.T) {
	cs := fake.NewSimpleClientset()
	stale := make(chan string, 4)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	k := &KubeSyncer{Clients: &kube.Clients{Typed: cs}, Stale: stale, Problems: make(chan error, 4), Ctx: ctx}
	s := liveupdate.Sync{Kind: "Deployment", Namespace: "dev", Name: "catalog", Selector: map[string]string{"app": "catalog"}, Container: "catalog"}
	k.Watch("//catalog:deploy", []liveupdate.Sync{s}, []liveupdate.Synced{{Pod: "catalog-1", UID: "uid-1"}})
	deadline := time.Now().Add(5 * time.Second)
	for !watching(cs) {
		if time.Now().After(deadline) {
			t.Fatal("no pod watch")
		}
		time.Sleep(10 * time.Millisecond)
	}
	pods := cs.CoreV1().Pods("dev")
	for _, p := range []*corev1.Pod{catalogPod("catalog-1", "uid-1", true), catalogPod("catalog-2", "uid-2", false)} {
		if _, err := pods.Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case got := <-stale:
		t.Fatalf("stale %s before the replacement was ready", got)
	case <-time.After(200 * time.Millisecond):
	}
	for range 2 { // ready, then updated again: told once
		if _, err := pods.UpdateStatus(ctx, catalogPod("catalog-2", "uid-2", true), metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case got := <-stale:
		if got != "//catalog:deploy" {
			t.Errorf("stale %q", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the ready replacement was not reported")
	}
	select {
	case got := <-stale:
		t.Errorf("stale %s twice for one pod", got)
	case <-time.After(200 * time.Millisecond):
	}
}

func watching(cs *fake.Clientset) bool {
	for _, a := range cs.Actions() {
		if a.GetVerb() == "watch" {
			return true
		}
	}
	return false
}
