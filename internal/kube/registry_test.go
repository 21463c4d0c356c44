package kube

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func TestParseLocalRegistry(t *testing.T) {
	tests := []struct {
		name, in    string
		want        *LocalRegistry
		wantPull    string
		wantErrText string
	}{
		{
			name:     "host only",
			in:       "host: \"127.0.0.1:5000\"\nhelp: \"https://example.com\"\n",
			want:     &LocalRegistry{Host: "127.0.0.1:5000", Help: "https://example.com"},
			wantPull: "127.0.0.1:5000",
		},
		{
			name:     "runtime host differs (kind)",
			in:       "host: localhost:5001\nhostFromContainerRuntime: kind-registry:5000\n",
			want:     &LocalRegistry{Host: "localhost:5001", HostFromContainerRuntime: "kind-registry:5000"},
			wantPull: "kind-registry:5000",
		},
		{name: "no host", in: "help: x\n", wantErrText: "has no host"},
		{name: "unknown field", in: "host: a\nhots: b\n", wantErrText: "hots"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseLocalRegistry(tt.in)
			if tt.wantErrText != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErrText) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErrText)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseLocalRegistry (-want +got):\n%s", diff)
			}
			if got.PullHost() != tt.wantPull {
				t.Errorf("PullHost() = %q, want %q", got.PullHost(), tt.wantPull)
			}
		})
	}
}

func TestDiscoverRegistry(t *testing.T) {
	client := fake.NewSimpleClientset(&corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: "kube-public", Name: "local-registry-hosting"},
		Data:       map[string]string{"localRegistryHosting.v1": "host: 127.0.0.1:5000\n"},
	})
	got, err := DiscoverRegistry(context.Background(), client)
	if err != nil {
		t.Fatal(err)
	}
	if got.Host != "127.0.0.1:5000" {
		t.Errorf("Host = %q, want 127.0.0.1:5000", got.Host)
	}
	_, err = DiscoverRegistry(context.Background(), fake.NewSimpleClientset())
	if err == nil || !strings.Contains(err.Error(), "local-registry-hosting") {
		t.Errorf("without the ConfigMap: err = %v, want one naming the ConfigMap", err)
	}
}
