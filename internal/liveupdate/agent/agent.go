// Package agent is the live-update agent that runs inside a dev-mode container
// (cmd/slipway-agent). It wraps the image's own entrypoint: it starts it as a
// child, forwards signals to it and exits with its exit code; and it replaces
// files of the image (the binary, in practice) on request, then restarts the
// child, without the container restarting.
//
// Replaced files live in the agent's state folder (a pod emptyDir shared with
// the init container that installed the agent), under root/ + their container
// path: the image's own files are owned by root and the container usually runs
// as another user on a read-only root, so they cannot be rewritten in place.
// The child is started from the replacement when one exists, with its argv[0]
// unchanged. A replacement is written to a temporary file next to its final
// path and renamed over it: a running binary is never written to (no "text
// file busy"), and a half-written file is never run.
package agent

import (
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// SocketName is the supervisor's unix socket, in the state folder.
const SocketName = "agent.sock"

// Named errors.
var (
	// ErrNotAllowed: a path that is not one of the container paths the image's
	// layers define for live update.
	ErrNotAllowed = errors.New("not a live-update path of this image")
	// ErrBadPath: a path that is not absolute and clean.
	ErrBadPath = errors.New("not an absolute, clean container path")
	// ErrNoSupervisor: receive found no agent supervising the container's process.
	ErrNoSupervisor = errors.New("no slipway agent runs in this container")
)

// Paths maps container paths to where their replacements live.
type Paths struct {
	// State is the agent's state folder (shared with the init container).
	State string
	// Allow are the container paths that may be replaced.
	Allow []string
}

// Check returns an error unless p may be replaced.
func (ps Paths) Check(p string) error {
	if !path.IsAbs(p) || path.Clean(p) != p {
		return fmt.Errorf("%q: %w", p, ErrBadPath)
	}
	if !slices.Contains(ps.Allow, p) {
		return fmt.Errorf("%s: %w (allowed: %s)", p, ErrNotAllowed, strings.Join(ps.Allow, ", "))
	}
	return nil
}

// Replacement is where the replacement of container path p is written.
func (ps Paths) Replacement(p string) string {
	return filepath.Join(ps.State, "root", filepath.FromSlash(p))
}

// Socket is the supervisor's socket path.
func (ps Paths) Socket() string { return filepath.Join(ps.State, SocketName) }
