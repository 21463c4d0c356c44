package cluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// probes are the components' health endpoints.
type probes struct {
	ports    Ports
	plain    *http.Client // etcd, registry, kwok: plain HTTP on loopback
	insecure *http.Client // controller-manager, scheduler: self-signed serving certificates
	api      *http.Client // apiserver: our CA and admin certificate; nil without a PKI

	containerdSocket string
}

func newProbes(pkiDir string, ports Ports) *probes {
	return newProbesAt(pkiDir, ports, filepath.Join(filepath.Dir(pkiDir), "containerd", "containerd.sock"))
}

func newProbesAt(pkiDir string, ports Ports, containerdSocket string) *probes {
	tr := func(tc *tls.Config) *http.Client {
		return &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{Proxy: nil, TLSClientConfig: tc}}
	}
	p := &probes{
		containerdSocket: containerdSocket,
		ports:            ports,
		plain:            tr(nil),
		insecure:         tr(&tls.Config{InsecureSkipVerify: true}), // only /healthz of our own processes
	}
	caPEM, err1 := os.ReadFile(filepath.Join(pkiDir, caCert))
	cert, err2 := tls.LoadX509KeyPair(filepath.Join(pkiDir, adminCert), filepath.Join(pkiDir, adminKey))
	if err1 == nil && err2 == nil {
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(caPEM)
		p.api = tr(&tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}})
	}
	return p
}

// get succeeds when url answers 200, returning the body.
func get(ctx context.Context, c *http.Client, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		return body, fmt.Errorf("GET %s: %s: %s", url, resp.Status, truncate(string(body), 300))
	}
	return body, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

func (p *probes) etcd(ctx context.Context) error {
	body, err := get(ctx, p.plain, fmt.Sprintf("http://127.0.0.1:%d/health", p.ports.Etcd))
	if err != nil {
		return err
	}
	var h struct{ Health string }
	if err := json.Unmarshal(body, &h); err != nil || h.Health != "true" {
		return fmt.Errorf("etcd /health: %s", truncate(string(body), 200))
	}
	return nil
}

func (p *probes) registry(ctx context.Context) error {
	_, err := get(ctx, p.plain, fmt.Sprintf("http://127.0.0.1:%d/v2/", p.ports.Registry))
	return err
}

func (p *probes) apiserver(ctx context.Context) error {
	if p.api == nil {
		return fmt.Errorf("no PKI to reach the apiserver with")
	}
	_, err := get(ctx, p.api, fmt.Sprintf("https://127.0.0.1:%d/readyz", p.ports.APIServer))
	return err
}

func (p *probes) controllerManager(ctx context.Context) error {
	_, err := get(ctx, p.insecure, fmt.Sprintf("https://127.0.0.1:%d/healthz", p.ports.ControllerManager))
	return err
}

func (p *probes) scheduler(ctx context.Context) error {
	_, err := get(ctx, p.insecure, fmt.Sprintf("https://127.0.0.1:%d/healthz", p.ports.Scheduler))
	return err
}

func (p *probes) kwok(ctx context.Context) error {
	_, err := get(ctx, p.plain, fmt.Sprintf("http://127.0.0.1:%d/healthz", p.ports.Kwok))
	return err
}

// health returns the health check of a component.
func (p *probes) health(component string) func(context.Context) error {
	return map[string]func(context.Context) error{
		Etcd: p.etcd, Registry: p.registry, APIServer: p.apiserver,
		ControllerManager: p.controllerManager, Scheduler: p.scheduler, Kwok: p.kwok,
		Containerd: p.containerd, Kubelet: p.kubelet, KubeProxy: p.kubeProxy, CoreDNS: p.coreDNS,
	}[component]
}
