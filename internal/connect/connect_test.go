package connect

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/slipway-dev/slipway/internal/cluster"
	"github.com/slipway-dev/slipway/internal/kube"
)

// countingListener accepts TCP connections, counts them and closes them: a
// cluster that must never be contacted.
func countingListener(t *testing.T) (server string, connections func() int32) {
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
	return "https://" + l.Addr().String(), n.Load
}

// apiServer answers /version like an API server.
func apiServer(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/version" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"major":"1","minor":"37","gitVersion":"v1.37.2"}`)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// writeKubeconfig writes a kubeconfig with a context per server (each with a
// bearer token, as a real cluster's would have) and the given current context.
func writeKubeconfig(t *testing.T, servers map[string]string, current string) string {
	t.Helper()
	cfg := clientcmdapi.NewConfig()
	for name, server := range servers {
		cfg.Clusters[name] = &clientcmdapi.Cluster{Server: server, InsecureSkipTLSVerify: true}
		cfg.AuthInfos[name] = &clientcmdapi.AuthInfo{Token: "secret-token-of-" + name}
		cfg.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: name}
	}
	cfg.CurrentContext = current
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// fakeInstance is a local cluster instance that is up, down, or never started.
type fakeInstance struct {
	cluster  *cluster.Cluster // as its last start left it; nil: never started
	up       bool
	starting *cluster.Cluster // what Start brings up
	finds    int
	starts   int
}

func (f *fakeInstance) Name() string { return "default" }

func (f *fakeInstance) Find(context.Context) (*cluster.Cluster, bool, error) {
	f.finds++
	return f.cluster, f.up, nil
}

func (f *fakeInstance) Start(_ context.Context, log io.Writer) (*cluster.Cluster, error) {
	f.starts++
	f.cluster, f.up = f.starting, true
	return f.cluster, nil
}

// localCluster is what the fake instance runs: its own kubeconfig, a server that
// answers.
func localCluster(t *testing.T) *cluster.Cluster {
	server := apiServer(t)
	return &cluster.Cluster{Name: "default", Context: cluster.ContextName, Server: server, RegistryHost: "127.0.0.1:5000",
		Kubeconfig: writeKubeconfig(t, map[string]string{cluster.ContextName: server}, cluster.ContextName)}
}

// outcome is what a Request led to.
type outcome struct {
	Context string
	Local   bool
	Err     string // the error, when there was one (compared by the parts in want)
	// Contacted: connections the prod server accepted.
	Contacted int32
	Starts    int
}

// openCase is a Request, the state of the local cluster, and what must follow.
type openCase struct {
	name     string
	req      Request
	instance string // "up", "down" (started before), "never"
	want     outcome
	errParts []string
	logParts []string
}

// openCases: prod (a counting listener) is the current context of kubeconfig;
// noContext has no current context; kindCurrent's current context answers.
func openCases(prod, kubeconfig, noContext, kindCurrent string) []openCase {
	return []openCase{
		{name: "a current context that is not allowed is refused before any request",
			req: Request{Kubeconfig: kubeconfig}, instance: "up",
			want:     outcome{Err: "refused"},
			errParts: []string{`refusing to write to kubeconfig context "prod"`, "server " + prod, "the current context of " + kubeconfig, "--allow-context=prod", "--context", "--local"}},
		{name: "reading from it is refused too",
			req: Request{Kubeconfig: kubeconfig, ReadOnly: true}, instance: "up",
			want:     outcome{Err: "refused"},
			errParts: []string{`refusing to connect to kubeconfig context "prod"`, "--context=prod to read from it", "--local"}},
		{name: "naming it does not allow writing",
			req: Request{Kubeconfig: kubeconfig, Context: "prod"}, instance: "up",
			want:     outcome{Err: "refused"},
			errParts: []string{`refusing to write to kubeconfig context "prod"`, "--allow-context=prod"}},
		{name: "an allowed context that does not answer is an error, not the local cluster",
			req: Request{Kubeconfig: kubeconfig, Allowed: []string{"prod"}}, instance: "up",
			want:     outcome{Err: "unreachable", Contacted: 1},
			errParts: []string{`kubeconfig context "prod" (server ` + prod, "does not answer", "--local"}},
		{name: "a context named for reading is read from",
			req: Request{Kubeconfig: kubeconfig, Context: "prod", ReadOnly: true}, instance: "up",
			want:     outcome{Err: "unreachable", Contacted: 1},
			errParts: []string{"does not answer"}},
		{name: "a local current context that answers is used",
			req: Request{Kubeconfig: kindCurrent}, instance: "up",
			want: outcome{Context: "kind-dev"}},
		{name: "--local uses the local cluster whatever the kubeconfig says",
			req: Request{Kubeconfig: kubeconfig, Local: true}, instance: "up",
			want:     outcome{Context: cluster.ContextName, Local: true},
			logParts: []string{`using the local cluster "default" (--local)`}},
		{name: "--local and another --context contradict",
			req: Request{Kubeconfig: kubeconfig, Local: true, Context: "prod"}, instance: "up",
			want:     outcome{Err: "contradiction"},
			errParts: []string{"--local and --context=prod"}},
		{name: "no current context: the running local cluster, no start message",
			req: Request{Kubeconfig: noContext}, instance: "up",
			want:     outcome{Context: cluster.ContextName, Local: true},
			logParts: []string{"using the local cluster", "has no current context"}},
		{name: "no kubeconfig at all: the local cluster",
			req: Request{Kubeconfig: ""}, instance: "up",
			want: outcome{Context: cluster.ContextName, Local: true}},
		{name: "a stopped local cluster is started again",
			req: Request{Kubeconfig: noContext}, instance: "down",
			want:     outcome{Context: cluster.ContextName, Local: true, Starts: 1},
			logParts: []string{`the local cluster "default" (kubeconfig ` + noContext + ` has no current context) is not running; starting it`}},
		{name: "a local cluster never started is started, with the first-start warning",
			req: Request{Kubeconfig: noContext}, instance: "never",
			want:     outcome{Context: cluster.ContextName, Local: true, Starts: 1},
			logParts: []string{"starting the local cluster", "~5 min"}},
		{name: "--context slipway-local works when the kubeconfig does not list it",
			req: Request{Kubeconfig: kubeconfig, Context: cluster.ContextName}, instance: "up",
			want:     outcome{Context: cluster.ContextName, Local: true},
			logParts: []string{"does not list context slipway-local"}},
		{name: "an unknown context names the ones there are",
			req: Request{Kubeconfig: kubeconfig, Context: "staging"}, instance: "up",
			want:     outcome{Err: "unknown"},
			errParts: []string{`has no context "staging" (it has kind-dev, prod)`, "--local"}},
	}
}

func TestOpen(t *testing.T) {
	prod, prodConnections := countingListener(t)
	kind := apiServer(t)
	kubeconfig := writeKubeconfig(t, map[string]string{"prod": prod, "kind-dev": kind}, "prod")
	noContext := writeKubeconfig(t, map[string]string{"kind-dev": kind}, "")
	kindCurrent := writeKubeconfig(t, map[string]string{"prod": prod, "kind-dev": kind}, "kind-dev")
	for _, tt := range openCases(prod, kubeconfig, noContext, kindCurrent) {
		t.Run(tt.name, func(t *testing.T) {
			before := prodConnections()
			inst := &fakeInstance{starting: localCluster(t)}
			if tt.instance != "never" {
				inst.cluster, inst.up = inst.starting, tt.instance == "up"
			}
			if tt.req.Kubeconfig == "" {
				t.Setenv("KUBECONFIG", filepath.Join(t.TempDir(), "none"))
			}
			var log bytes.Buffer
			tt.req.Instance, tt.req.Log = inst, &log
			s, err := Open(context.Background(), tt.req)
			got := outcome{Contacted: prodConnections() - before, Starts: inst.starts}
			if err != nil {
				got.Err = tt.want.Err // the parts below say whether it is the right one
				for _, part := range tt.errParts {
					if !strings.Contains(err.Error(), part) {
						t.Errorf("error %q does not say %q", err, part)
					}
				}
			} else {
				got.Context, got.Local = s.Context, s.Cluster != nil
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("outcome (-want +got):\n%s\nerror: %v\nlog: %s", diff, err, log.String())
			}
			for _, part := range tt.logParts {
				if !strings.Contains(log.String(), part) {
					t.Errorf("log %q does not say %q", log.String(), part)
				}
			}
			if tt.want.Local && tt.want.Starts == 0 && strings.Contains(log.String(), "starting") {
				t.Errorf("a running local cluster was announced as starting: %s", log.String())
			}
		})
	}
}

// The refusal is a typed error, and resolving sends nothing even to an allowed
// context: only Open does.
func TestResolveSendsNothing(t *testing.T) {
	prod, connections := countingListener(t)
	kubeconfig := writeKubeconfig(t, map[string]string{"prod": prod}, "prod")
	inst := &fakeInstance{}
	_, err := Resolve(Request{Kubeconfig: kubeconfig, Instance: inst})
	var forbidden *kube.ForbiddenContextError
	if !errors.As(err, &forbidden) || forbidden.Context != "prod" || forbidden.Server != prod || !forbidden.Current {
		t.Errorf("Resolve: %v, want a ForbiddenContextError for the current context prod at %s", err, prod)
	}
	d, err := Resolve(Request{Kubeconfig: kubeconfig, Allowed: []string{"prod"}, Instance: inst})
	if err != nil || d.Context != "prod" || d.Local {
		t.Fatalf("Resolve with prod allowed: %+v, %v", d, err)
	}
	if n := connections(); n != 0 || inst.finds != 0 {
		t.Errorf("Resolve made %d connections and %d local cluster lookups, want none", n, inst.finds)
	}
}

// The local cluster's own kubeconfig (slipway cluster env) names the instance:
// when it is down, Open starts it instead of reporting it unreachable.
func TestOpenStartsTheLocalClusterNamedByItsKubeconfig(t *testing.T) {
	local := localCluster(t)
	inst := &fakeInstance{cluster: local, starting: local}
	var log bytes.Buffer
	s, err := Open(context.Background(), Request{Kubeconfig: local.Kubeconfig, Instance: inst, Log: &log})
	if err != nil {
		t.Fatal(err)
	}
	if inst.starts != 1 || s.Cluster == nil {
		t.Errorf("starts %d, session %+v: want the instance started and used", inst.starts, s)
	}
}
