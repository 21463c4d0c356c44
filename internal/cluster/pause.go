package cluster

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/slipway-dev/slipway/internal/oci"
)

// pauseRef is the sandbox image's reference in the instance's registry: tagged by
// the pause binary's content, so a changed program is a new image.
func pauseRef(registryHost, pauseBin string) (string, error) {
	f, err := os.Open(pauseBin)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return fmt.Sprintf("%s/slipway/pause:%s", registryHost, hex.EncodeToString(h.Sum(nil))[:16]), nil
}

// pushPause assembles the sandbox image (the pause binary alone, as /pause) with
// the project's image code and pushes it, unless the registry has it already.
func pushPause(ctx context.Context, ref, pauseBin, workDir string) (pushed bool, err error) {
	tag, err := name.NewTag(ref, name.Insecure)
	if err != nil {
		return false, err
	}
	if _, err := remote.Head(tag, remote.WithContext(ctx)); err == nil {
		return false, nil
	}
	if err := os.MkdirAll(workDir, 0o755); err != nil {
		return false, err
	}
	blob, descPath := filepath.Join(workDir, "pause-layer.tar.gz"), filepath.Join(workDir, "pause-layer.json")
	d, err := oci.BuildLayer(oci.LayerSpec{Group: "pause",
		Files: []oci.FileSource{{Src: pauseBin, Dest: "/pause", Executable: true}}}, blob)
	if err != nil {
		return false, fmt.Errorf("pause image layer: %w", err)
	}
	if err := oci.WriteLayerDescriptor(descPath, d); err != nil {
		return false, err
	}
	built, err := oci.BuildImage(oci.ImageSpec{
		Layers: []oci.LayerInput{{Blob: blob, Descriptor: descPath}},
		Config: oci.Config{Entrypoint: []string{"/pause"}},
		OS:     "linux", Arch: runtime.GOARCH,
	})
	if err != nil {
		return false, fmt.Errorf("pause image: %w", err)
	}
	if err := remote.Write(tag, built.Image, remote.WithContext(ctx)); err != nil {
		return false, fmt.Errorf("pushing the pause image to %s: %w", ref, err)
	}
	return true, nil
}
