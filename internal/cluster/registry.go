package cluster

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"

	"sigs.k8s.io/yaml"
)

// systemRegistry is where Debian's docker-registry package installs the binary.
// Only its binary is used, never the packaged config or service.
const systemRegistry = "/usr/bin/docker-registry"

// registryHelpURL documents the local-registry-hosting ConfigMap (KEP-1755).
const registryHelpURL = "https://github.com/kubernetes/enhancements/tree/master/keps/sig-cluster-lifecycle/generic/1755-communicating-a-local-registry"

// ensureRegistry picks the registry implementation and returns its binary.
func (b *builder) ensureRegistry(ctx context.Context) (kind, bin string, err error) {
	switch b.cfg.Registry {
	case RegistryDistribution:
		bin, err = b.ensureDistribution(ctx)
		return RegistryDistribution, bin, err
	case RegistryCrane:
		bin, err = b.ensureCrane(ctx)
		return RegistryCrane, bin, err
	}
	if bin, err = b.ensureDistribution(ctx); err == nil {
		return RegistryDistribution, bin, nil
	}
	b.p.printf("registry: %v; using crane's registry instead", err)
	bin, err = b.ensureCrane(ctx)
	return RegistryCrane, bin, err
}

// ensureDistribution returns a copy of Debian's docker-registry in the cache,
// installing the package first when it is missing and we can (root, apt-get).
// The copy is what runs: the cache is visible both on the host and inside the
// Bazel chroot, /usr/bin of the host is not.
func (b *builder) ensureDistribution(ctx context.Context) (string, error) {
	dst := filepath.Join(b.l.tools, "docker-registry", "docker-registry")
	if isExecutable(dst) {
		return dst, nil
	}
	if !isExecutable(systemRegistry) {
		if err := b.aptInstall(ctx, "docker-registry", systemRegistry); err != nil {
			return "", err
		}
	}
	if err := copyExecutable(systemRegistry, dst); err != nil {
		return "", err
	}
	b.built = append(b.built, "docker-registry")
	return dst, nil
}

// aptInstall installs a Debian package that provides file.
func (b *builder) aptInstall(ctx context.Context, pkg, file string) error {
	apt, err := exec.LookPath("apt-get")
	if err != nil || os.Geteuid() != 0 {
		return fmt.Errorf("%s is not installed (install it with: apt-get install -y %s)", file, pkg)
	}
	logPath := filepath.Join(b.l.tools, "apt.log")
	b.p.printf("installing %s with apt-get (log: %s)", pkg, logPath)
	if err := os.MkdirAll(b.l.tools, 0o755); err != nil {
		return err
	}
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	run := func(args ...string) error {
		cmd := exec.CommandContext(ctx, apt, args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		cmd.Stdout, cmd.Stderr = logf, logf
		return cmd.Run()
	}
	if err := run("install", "-y", pkg); err != nil {
		// Stale package lists are the usual cause: refresh them once.
		if err := run("update"); err != nil {
			return fmt.Errorf("apt-get update failed; see %s", logPath)
		}
		if err := run("install", "-y", pkg); err != nil {
			return fmt.Errorf("apt-get install -y %s failed; see %s", pkg, logPath)
		}
	}
	if !isExecutable(file) {
		return fmt.Errorf("apt-get installed %s but %s is missing", pkg, file)
	}
	return nil
}

// ensureCrane returns crane (go-containerregistry), built into the cache.
func (b *builder) ensureCrane(ctx context.Context) (string, error) {
	dir := filepath.Join(b.l.tools, "crane-"+CraneVersion)
	bin := filepath.Join(dir, "crane")
	if isExecutable(bin) {
		return bin, nil
	}
	tmp, err := b.goInstall(ctx, "crane "+CraneVersion, "github.com/google/go-containerregistry/cmd/crane@"+CraneVersion)
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	if err := os.RemoveAll(dir); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, dir); err != nil {
		return "", err
	}
	b.built = append(b.built, "crane")
	return bin, nil
}

func copyExecutable(src, dst string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".copy-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, in); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o755); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), dst)
}

// registryConfig is docker-registry's configuration for an instance: storage in
// the instance's data folder, deletes allowed (for cleaning up), 127.0.0.1 only.
func registryConfig(storageDir string, port int) ([]byte, error) {
	return yaml.Marshal(map[string]any{
		"version": "0.1",
		"log": map[string]any{
			"level":     "warn",
			"accesslog": map[string]any{"disabled": true},
		},
		"storage": map[string]any{
			"filesystem": map[string]any{"rootdirectory": storageDir},
			"delete":     map[string]any{"enabled": true},
			"cache":      map[string]any{"blobdescriptor": "inmemory"},
		},
		// The secret only signs upload state; a fixed one avoids a warning on each
		// start and is harmless for a registry on 127.0.0.1.
		"http": map[string]any{"addr": fmt.Sprintf("127.0.0.1:%d", port), "secret": "slipway-local"},
	})
}

// localRegistryHosting is the localRegistryHosting.v1 value of the KEP-1755
// ConfigMap, through which tools (Tilt, Skaffold, ctlptl, slipway) find the registry.
func localRegistryHosting(host string) string {
	return fmt.Sprintf("host: %q\nhelp: %q\n", host, registryHelpURL)
}
