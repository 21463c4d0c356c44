//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/slipway-dev/slipway/internal/connect"
	"github.com/slipway-dev/slipway/internal/deploy"
)

const connecttestBuild = `load("@rules_go//go:def.bzl", "go_binary")
load("@slipway//rules:defs.bzl", "dev", "image", "manifests")

go_binary(
    name = "app",
    srcs = ["main.go"],
)

image(
    name = "image",
    binary = ":app",
)

manifests(
    name = "deploy",
    srcs = ["deploy.yaml"],
    images = {"app": ":image"},
    namespace = "connecttest-{user}",
)

dev(
    name = "dev",
    targets = [":deploy"],
)
`

// connectWorkspace is a package with an image (its registry is not known at build
// time: pushing asks the cluster), a manifests target and a dev rule.
func connectWorkspace(t *testing.T) *workspace {
	w := newWorkspace(t, "connecttest")
	w.write("connecttest/BUILD.bazel", connecttestBuild)
	w.write("connecttest/main.go", goMain("connecttest-v1"))
	w.write("connecttest/deploy.yaml", docs(configMap("connecttest", "v1"), deployment("app", 1)))
	return w
}

// prodKubeconfig writes a kubeconfig whose current context, "prod", carries a
// bearer token and points at a listener that counts the TCP connections it
// accepts (and closes them).
func prodKubeconfig(t *testing.T) (path, server string, connections func() int32) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	var n atomic.Int32
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			n.Add(1)
			c.Close()
		}
	}()
	server = "https://" + l.Addr().String()
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["prod"] = &clientcmdapi.Cluster{Server: server, InsecureSkipTLSVerify: true}
	cfg.AuthInfos["prod"] = &clientcmdapi.AuthInfo{Token: "prod-bearer-token"}
	cfg.Contexts["prod"] = &clientcmdapi.Context{Cluster: "prod", AuthInfo: "prod"}
	cfg.CurrentContext = "prod"
	path = filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path, server, n.Load
}

// envWith is the environment with the given variables replaced (an empty value
// removes the variable).
func envWith(vars map[string]string) []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if _, ok := vars[name]; !ok {
			env = append(env, kv)
		}
	}
	for name, value := range vars {
		if value != "" {
			env = append(env, name+"="+value)
		}
	}
	return env
}

// With the current context "prod" (not allowed) and no --context, every entry point
// refuses, naming the context, and no connection reaches it: not even the
// GET /version that used to come first.
func TestNoRequestReachesAForbiddenCurrentContext(t *testing.T) {
	w := connectWorkspace(t)
	kubeconfig, server, connections := prodKubeconfig(t)
	env := envWith(map[string]string{"KUBECONFIG": kubeconfig, "SLIPWAY_REGISTRY": ""})
	w.mustBazel("build", "//connecttest:all")
	for _, c := range []struct {
		name string
		args []string
	}{
		{"dev", []string{"//connecttest:dev"}},
		{"dev.ci", []string{"//connecttest:dev.ci"}},
		{"dev.affected --deploy", []string{"//connecttest:dev.affected", "--", "--base=HEAD", "--deploy"}},
		{".apply", []string{"//connecttest:deploy.apply"}},
		{".diff", []string{"//connecttest:deploy.diff"}},
		{".delete", []string{"//connecttest:deploy.delete"}},
		{".show", []string{"//connecttest:deploy.show"}},
		{".push", []string{"//connecttest:image.push"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := connections()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			cmd := w.bazelCommand(ctx, append([]string{"run", "--ui_event_filters=-info,-stdout,-stderr", "--noshow_progress"}, c.args...)...)
			cmd.Env = env
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("it succeeded against the forbidden current context:\n%s", tailLines(string(out), 20))
			}
			for _, part := range []string{`kubeconfig context "prod"`, "server " + server, "the current context of " + kubeconfig, "--local"} {
				if !strings.Contains(string(out), "refusing to") || !strings.Contains(string(out), part) {
					t.Errorf("the refusal does not say %q:\n%s", part, tailLines(string(out), 10))
				}
			}
			if strings.Contains(string(out), "using the local cluster") {
				t.Errorf("it fell back to the local cluster:\n%s", tailLines(string(out), 10))
			}
			if n := connections() - before; n != 0 {
				t.Errorf("%d connection(s) reached the forbidden context", n)
			}
		})
	}
}

// An allowed context that does not answer is an error naming it; the local
// cluster does not silently take its place.
func TestAnAllowedContextThatDoesNotAnswerIsNotReplaced(t *testing.T) {
	cl := sharedCluster(t)
	w := connectWorkspace(t)
	kubeconfig, server, connections := prodKubeconfig(t)
	ns := fmt.Sprintf("connecttest-dead-%d", time.Now().UnixNano()%1_000_000)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := w.bazelCommand(ctx, "run", "--ui_event_filters=-info,-stdout,-stderr", "--noshow_progress", "//connecttest:dev.ci", "--",
		"--allow-context=prod", "--namespace="+ns)
	cmd.Env = envWith(map[string]string{"KUBECONFIG": kubeconfig, "SLIPWAY_REGISTRY": "",
		"SLIPWAY_STATE_DIR": sharedConfig().StateDir, connect.InstanceEnv: sharedConfig().Name})
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("ci against a dead allowed context succeeded:\n%s", tailLines(string(out), 20))
	}
	for _, part := range []string{`kubeconfig context "prod" (server ` + server, "does not answer", "--local"} {
		if !strings.Contains(string(out), part) {
			t.Errorf("the error does not say %q:\n%s", part, tailLines(string(out), 10))
		}
	}
	if n := connections(); n != 1 {
		t.Errorf("%d connections to the allowed context, want the one probe", n)
	}
	if _, err := clientset(t, cl).CoreV1().Namespaces().Get(context.Background(), ns, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("namespace %s exists on the local cluster (%v): it deployed there instead", ns, err)
	}
}

// runLauncher runs a run target's launcher (built before) directly, with env.
func runLauncher(t *testing.T, w *workspace, target string, env []string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	pkg, name, _ := strings.Cut(strings.TrimPrefix(target, "//"), ":")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, w.bin(pkg+"/"+name+".sh"), args...)
	cmd.Env = env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	return out.String(), errb.String(), err
}

// With no kubeconfig at all (HOME and KUBECONFIG pointing at empty places), the
// run targets find the local cluster the way dev and ci do, and --context
// slipway-local names it even though no kubeconfig lists it.
func TestRunTargetsFindTheLocalCluster(t *testing.T) {
	cl := sharedCluster(t)
	cs := clientset(t, cl)
	w := connectWorkspace(t)
	w.mustBazel("build", "//connecttest:deploy.apply", "//connecttest:deploy.diff", "//connecttest:deploy.delete")
	empty := t.TempDir()
	env := envWith(map[string]string{"HOME": empty, "KUBECONFIG": filepath.Join(empty, "no-kubeconfig"), "XDG_CACHE_HOME": "",
		"SLIPWAY_REGISTRY": "", "SLIPWAY_CACHE_DIR": "",
		"SLIPWAY_STATE_DIR": sharedConfig().StateDir, connect.InstanceEnv: sharedConfig().Name})
	ns := fmt.Sprintf("connecttest-local-%d", time.Now().UnixNano()%1_000_000)
	defer cs.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{})

	out, stderr, err := runLauncher(t, w, "//connecttest:deploy.apply", env, "--namespace="+ns, "--json", "--timeout=60s")
	if err != nil {
		t.Fatalf("apply with no kubeconfig: %v\n%s", err, tailLines(stderr, 20))
	}
	var r deploy.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("apply printed %q: %v", out, err)
	}
	if got := actions(&r); got["ConfigMap/connecttest"] != "created" || got["Deployment/app"] != "created" {
		t.Errorf("apply: %v, want the ConfigMap and Deployment created", got)
	}
	if _, err := cs.CoreV1().ConfigMaps(ns).Get(context.Background(), "connecttest", metav1.GetOptions{}); err != nil {
		t.Errorf("the ConfigMap is not on the shared cluster: %v", err)
	}
	if !strings.Contains(stderr, fmt.Sprintf("using the local cluster %q", e2eID())) || strings.Contains(stderr, "starting the local cluster") || strings.Contains(stderr, "starting it") {
		t.Errorf("apply should say it uses the running local cluster, and not that it starts one:\n%s", tailLines(stderr, 10))
	}

	_, stderr, err = runLauncher(t, w, "//connecttest:deploy.diff", env, "--namespace="+ns, "--context=slipway-local")
	if err != nil {
		t.Errorf("diff --context slipway-local with no kubeconfig: %v\n%s", err, tailLines(stderr, 10))
	}
	if !strings.Contains(stderr, "does not list context slipway-local") {
		t.Errorf("diff does not say why it uses the local cluster:\n%s", tailLines(stderr, 10))
	}

	if _, stderr, err := runLauncher(t, w, "//connecttest:deploy.delete", env, "--namespace="+ns); err != nil {
		t.Errorf("delete with no kubeconfig: %v\n%s", err, tailLines(stderr, 10))
	}
	if _, err := cs.CoreV1().ConfigMaps(ns).Get(context.Background(), "connecttest", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("after delete the ConfigMap is still there (%v)", err)
	}
}
