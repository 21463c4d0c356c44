package devui

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// LoopInfo is what a running loop tells other commands about itself, in
// .slipway/loop.json in its workspace.
type LoopInfo struct {
	PID       int       `json:"pid"`
	Workspace string    `json:"workspace"`
	URL       string    `json:"url,omitempty"` // empty with --no-ui
	Started   time.Time `json:"started"`
}

// StateDir is the workspace's folder for slipway's per-user state; it ignores
// itself in git.
func StateDir(workspace string) (string, error) {
	dir := filepath.Join(workspace, ".slipway")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	ignore := filepath.Join(dir, ".gitignore")
	if _, err := os.Stat(ignore); errors.Is(err, os.ErrNotExist) {
		if err := os.WriteFile(ignore, []byte("# slipway's per-user state: never committed\n*\n"), 0o644); err != nil {
			return "", err
		}
	}
	return dir, nil
}

// Claim is a loop's hold on its workspace: one loop per workspace.
type Claim struct {
	lock *os.File
	info string
}

// ClaimWorkspace takes the workspace's loop lock, or says which loop holds it.
func ClaimWorkspace(workspace string) (*Claim, error) {
	dir, err := StateDir(workspace)
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(dir, "loop.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		other := "another slipway dev loop"
		if info, err := readInfo(filepath.Join(dir, "loop.json")); err == nil {
			other = fmt.Sprintf("another slipway dev loop (pid %d", info.PID)
			if info.URL != "" {
				other += ", UI at " + info.URL
			}
			other += ")"
		}
		return nil, fmt.Errorf("%s runs in workspace %s already: one loop per workspace; stop it first (Ctrl-C in its terminal), or use slipway get / slipway wait to talk to it", other, workspace)
	}
	return &Claim{lock: f, info: filepath.Join(dir, "loop.json")}, nil
}

// Publish writes the loop's info for other commands.
func (c *Claim) Publish(info LoopInfo) error {
	b, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return err
	}
	tmp := c.info + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, c.info)
}

// Release removes the loop's info and lets another loop start.
func (c *Claim) Release() {
	_ = os.Remove(c.info)
	_ = c.lock.Close()
}

func readInfo(path string) (LoopInfo, error) {
	var info LoopInfo
	b, err := os.ReadFile(path)
	if err != nil {
		return info, err
	}
	return info, json.Unmarshal(b, &info)
}

// FindLoop returns the info of the loop running in the workspace, or an error
// that says none runs (or that it serves no API).
func FindLoop(workspace string) (LoopInfo, error) {
	dir := filepath.Join(workspace, ".slipway")
	noLoop := fmt.Errorf("no slipway dev loop runs in workspace %s: start one (bazel run //:dev, or slipway dev) and try again", workspace)
	f, err := os.Open(filepath.Join(dir, "loop.lock"))
	if err != nil {
		return LoopInfo{}, noLoop
	}
	defer f.Close()
	if syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB) == nil {
		return LoopInfo{}, noLoop // nobody holds it
	}
	info, err := readInfo(filepath.Join(dir, "loop.json"))
	if err != nil {
		return LoopInfo{}, fmt.Errorf("the slipway dev loop in workspace %s is starting (no %s yet): try again", workspace, filepath.Join(dir, "loop.json"))
	}
	if info.URL == "" {
		return info, fmt.Errorf("the slipway dev loop in workspace %s (pid %d) runs with --no-ui: it serves no API", workspace, info.PID)
	}
	return info, nil
}
