package kube

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	corev1 "k8s.io/api/core/v1"
	//lint:ignore SA1019 remotecommand's fallback errors are still tested with this package (as kubectl does)
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/remotecommand"
	utilexec "k8s.io/client-go/util/exec"
)

// ErrExec is a command run in a container that failed: it exited non-zero, or
// could not start (no such file).
var ErrExec = errors.New("command in container failed")

// Exec runs cmd in a container of a pod through the API server's exec
// subresource (WebSocket, falling back to SPDY, as kubectl does), with stdin,
// and returns its standard output. The clients are the guarded ones: no
// context that is not allowed is reached.
func (c *Clients) Exec(ctx context.Context, namespace, pod, container string, cmd []string, stdin io.Reader) ([]byte, error) {
	req := c.Typed.CoreV1().RESTClient().Post().Resource("pods").Namespace(namespace).Name(pod).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{Container: container, Command: cmd, Stdin: stdin != nil, Stdout: true, Stderr: true}, scheme.ParameterCodec)
	ws, err := remotecommand.NewWebSocketExecutor(c.Config, "GET", req.URL().String())
	if err != nil {
		return nil, err
	}
	spdy, err := remotecommand.NewSPDYExecutor(c.Config, "POST", req.URL())
	if err != nil {
		return nil, err
	}
	ex, err := remotecommand.NewFallbackExecutor(ws, spdy, func(err error) bool {
		return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
	})
	if err != nil {
		return nil, err
	}
	var stdout, stderr bytes.Buffer
	err = ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdin: stdin, Stdout: &stdout, Stderr: &stderr})
	var exit utilexec.ExitError
	switch {
	case errors.As(err, &exit):
		return stdout.Bytes(), fmt.Errorf("pod %s/%s container %s: %s: %w (exit %d): %s", namespace, pod, container, strings.Join(cmd, " "), ErrExec, exit.ExitStatus(), strings.TrimSpace(stderr.String()))
	case err != nil && strings.Contains(err.Error(), "no such file"):
		return nil, fmt.Errorf("pod %s/%s container %s: %s: %w: %v", namespace, pod, container, cmd[0], ErrExec, err)
	case err != nil:
		return nil, fmt.Errorf("pod %s/%s container %s: exec: %w", namespace, pod, container, err)
	}
	return stdout.Bytes(), nil
}
