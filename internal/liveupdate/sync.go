package liveupdate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"

	"golang.org/x/sync/errgroup"
)

// Named errors of a sync; each makes the loop deploy the full image instead.
var (
	// ErrNoPods: no running pod of the workload to sync into.
	ErrNoPods = errors.New("no running pod to sync into")
	// ErrSync: the agent did not take the file (refused it, or is missing).
	ErrSync = errors.New("live sync failed")
)

// Pod is a running pod of a live-update workload.
type Pod struct {
	Name, UID string
	// RestartCount is the container's, as the kubelet counts.
	RestartCount int32
}

// Pods is what a sync needs of the cluster: the running pods of a workload, and
// a command run in one of their containers (the API server's exec).
type Pods interface {
	Running(ctx context.Context, namespace string, selector map[string]string, container string) ([]Pod, error)
	Exec(ctx context.Context, namespace, pod, container string, cmd []string, stdin io.Reader) ([]byte, error)
}

// Synced is one container that runs a synced binary.
type Synced struct {
	Pod          string `json:"pod"`
	UID          string `json:"uid"`
	Container    string `json:"container"`
	RestartCount int32  `json:"restartCount"`
	// Restarts counts the agent's restarts of the process.
	Restarts int `json:"restarts"`
}

// received is the part of the agent's answer the loop reads.
type received struct {
	OK       bool   `json:"ok"`
	Error    string `json:"error"`
	SHA256   string `json:"sha256"`
	Restarts int    `json:"restarts"`
}

// Push copies the binary file (whose sha256 is sum) into every running pod of
// the sync's workload, through the agent, which restarts the process there.
func Push(ctx context.Context, pods Pods, s Sync, file, sum string) ([]Synced, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	cmd := []string{AgentPath, "receive", "--state=" + StateDir, s.Image.BinaryPath}
	return each(ctx, pods, s, func(p Pod) (Synced, error) {
		out, err := pods.Exec(ctx, s.Namespace, p.Name, s.Container, cmd, bytes.NewReader(data))
		return check(s, p, out, err, sum)
	})
}

// Reset makes every running pod of the sync's workload run the image's own
// binary again (a no-op in a pod that received none).
func Reset(ctx context.Context, pods Pods, s Sync) ([]Synced, error) {
	cmd := []string{AgentPath, "reset", "--state=" + StateDir}
	return each(ctx, pods, s, func(p Pod) (Synced, error) {
		out, err := pods.Exec(ctx, s.Namespace, p.Name, s.Container, cmd, nil)
		return check(s, p, out, err, "")
	})
}

func each(ctx context.Context, pods Pods, s Sync, do func(Pod) (Synced, error)) ([]Synced, error) {
	running, err := pods.Running(ctx, s.Namespace, s.Selector, s.Container)
	if err != nil {
		return nil, err
	}
	if len(running) == 0 {
		return nil, fmt.Errorf("%s/%s: %w", s.Kind, s.Name, ErrNoPods)
	}
	out := make([]Synced, len(running))
	var g errgroup.Group
	g.SetLimit(4)
	for i, p := range running {
		g.Go(func() (err error) {
			out[i], err = do(p)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Pod < out[j].Pod })
	return out, nil
}

func check(s Sync, p Pod, out []byte, err error, sum string) (Synced, error) {
	where := fmt.Sprintf("pod %s container %s", p.Name, s.Container)
	if err != nil {
		return Synced{}, fmt.Errorf("%s: %w: %w", where, ErrSync, err)
	}
	var r received
	if err := json.Unmarshal(out, &r); err != nil {
		return Synced{}, fmt.Errorf("%s: %w: the agent answered %q", where, ErrSync, out)
	}
	switch {
	case !r.OK && r.Error != "":
		return Synced{}, fmt.Errorf("%s: %w: %s", where, ErrSync, r.Error)
	case sum != "" && r.SHA256 != sum:
		return Synced{}, fmt.Errorf("%s: %w: the agent wrote sha256 %s, want %s", where, ErrSync, r.SHA256, sum)
	}
	return Synced{Pod: p.Name, UID: p.UID, Container: s.Container, RestartCount: p.RestartCount, Restarts: r.Restarts}, nil
}
