package liveupdate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// fakePods answers Running with pods, and Exec with answers by pod name
// (an error when the answer starts with "error:").
type fakePods struct {
	pods    []Pod
	answers map[string]string
	mu      sync.Mutex
	got     map[string]string // pod -> stdin received
	cmds    [][]string
}

func (f *fakePods) Running(ctx context.Context, ns string, sel map[string]string, container string) ([]Pod, error) {
	return f.pods, nil
}

func (f *fakePods) Exec(ctx context.Context, ns, pod, container string, cmd []string, stdin io.Reader) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cmds = append(f.cmds, cmd)
	if stdin != nil {
		b, _ := io.ReadAll(stdin)
		f.got[pod] = string(b)
	}
	a := f.answers[pod]
	if len(a) > 6 && a[:6] == "error:" {
		return nil, errors.New(a[6:])
	}
	return []byte(a), nil
}

func TestPush(t *testing.T) {
	const sum = "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03" // of "hello\n"
	ok := fmt.Sprintf(`{"ok":true,"sha256":%q,"restarts":1}`, sum)
	two := []Pod{{Name: "b", UID: "u-b", RestartCount: 2}, {Name: "a", UID: "u-a"}}
	tests := []struct {
		name    string
		pods    []Pod
		answers map[string]string
		want    []Synced
		wantErr error
	}{
		{name: "every running pod", pods: two, answers: map[string]string{"a": ok, "b": ok},
			want: []Synced{{Pod: "a", UID: "u-a", Container: "app", Restarts: 1}, {Pod: "b", UID: "u-b", Container: "app", RestartCount: 2, Restarts: 1}}},
		{name: "no running pod", wantErr: ErrNoPods},
		{name: "one pod's agent is missing", pods: two, answers: map[string]string{"a": ok, "b": "error:exec: no such file"}, wantErr: ErrSync},
		{name: "the agent refused", pods: two[:1], answers: map[string]string{"b": `{"ok":false,"error":"not a live-update path"}`}, wantErr: ErrSync},
		{name: "the agent wrote other bytes", pods: two[:1], answers: map[string]string{"b": `{"ok":true,"sha256":"00"}`}, wantErr: ErrSync},
		{name: "the agent answered nonsense", pods: two[:1], answers: map[string]string{"b": `sh: not found`}, wantErr: ErrSync},
	}
	file := filepath.Join(t.TempDir(), "bin")
	if err := os.WriteFile(file, []byte("hello\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	s := Sync{Kind: "Deployment", Namespace: "ns", Name: "catalog", Container: "app", Image: Image{BinaryPath: "/app/catalog"}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pods := &fakePods{pods: tt.pods, answers: tt.answers, got: map[string]string{}}
			got, err := Push(context.Background(), pods, s, file, sum)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Push: %v, want %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Push (-want +got):\n%s", diff)
			}
			for pod, in := range pods.got {
				if in != "hello\n" {
					t.Errorf("pod %s received %q", pod, in)
				}
			}
			for _, cmd := range pods.cmds {
				if diff := cmp.Diff([]string{AgentPath, "receive", "--state=" + StateDir, "/app/catalog"}, cmd); diff != "" {
					t.Errorf("command (-want +got):\n%s", diff)
				}
			}
		})
	}
}
