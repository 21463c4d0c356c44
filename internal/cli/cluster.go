package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/slipway-dev/slipway/internal/cluster"
)

// clusterCommon are the flags that pick an instance, shared by every cluster command.
type clusterCommon struct {
	name     string
	stateDir string
	cacheDir string
}

// config is the instance's configuration: DefaultConfig (which reads
// SLIPWAY_CACHE_DIR, SLIPWAY_STATE_DIR and KUBEBUILDER_ASSETS) with the flags applied.
func (c *clusterCommon) config() cluster.Config {
	cfg := cluster.DefaultConfig()
	if c.name != "" {
		cfg.Name = c.name
	}
	if c.cacheDir != "" {
		cfg.CacheDir = c.cacheDir
		if os.Getenv("SLIPWAY_STATE_DIR") == "" {
			cfg.StateDir = filepath.Join(c.cacheDir, "cluster")
		}
	}
	if c.stateDir != "" {
		cfg.StateDir = c.stateDir
	}
	return cfg
}

// bindFlags adds the instance flags to cmd and its subcommands.
func (c *clusterCommon) bindFlags(cmd *cobra.Command) {
	f := cmd.PersistentFlags()
	f.StringVar(&c.name, "name", cluster.DefaultName, "instance name")
	f.StringVar(&c.stateDir, "state-dir", "", "folder of the instances' state (default $SLIPWAY_STATE_DIR or <cache-dir>/cluster)")
	f.StringVar(&c.cacheDir, "cache-dir", "", "folder of the built binaries (default $SLIPWAY_CACHE_DIR or ~/.cache/slipway)")
}

func newClusterCmd() *cobra.Command {
	common := &clusterCommon{}
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "Run a local Kubernetes control plane and registry on 127.0.0.1",
		Long: `A local cluster for the dev loop: etcd, kube-apiserver, kube-controller-manager,
kube-scheduler, kwok (one fake node, so pods go Running without a container
runtime) and an OCI registry, all on 127.0.0.1. The Kubernetes binaries are built
from source on first use and cached; each instance (--name) keeps its state under
the state folder.`,
	}
	common.bindFlags(cmd)
	cmd.AddCommand(newClusterUpCmd(common), newClusterDownCmd(common), newClusterStatusCmd(common), newClusterEnvCmd(common))
	return cmd
}

type clusterUpOptions struct {
	common            *clusterCommon
	kubernetesVersion string
	kwokVersion       string
	registry          string
	fakeNodes         int
	podCIDR           string
	serviceCIDR       string
	ports             cluster.Ports
	ctx               context.Context
	out, log          io.Writer
}

func newClusterUpCmd(common *clusterCommon) *cobra.Command {
	o := &clusterUpOptions{common: common}
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Start the local cluster (building its binaries on first use); does nothing if it is running",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.ctx, o.out, o.log = cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr()
			return o.run()
		},
	}
	o.bindFlags(cmd)
	return cmd
}

func (o *clusterUpOptions) bindFlags(cmd *cobra.Command) {
	d := cluster.DefaultConfig()
	f := cmd.Flags()
	f.StringVar(&o.kubernetesVersion, "kubernetes-version", d.KubernetesVersion, "k8s.io/kubernetes release to build")
	f.StringVar(&o.kwokVersion, "kwok-version", d.KwokVersion, "sigs.k8s.io/kwok release to build")
	f.StringVar(&o.registry, "registry", d.Registry, "registry implementation: auto, distribution (Debian's docker-registry) or crane")
	f.IntVar(&o.ports.Etcd, "etcd-port", d.Ports.Etcd, "etcd client port")
	f.IntVar(&o.ports.EtcdPeer, "etcd-peer-port", d.Ports.EtcdPeer, "etcd peer port")
	f.IntVar(&o.ports.APIServer, "apiserver-port", d.Ports.APIServer, "kube-apiserver port")
	f.IntVar(&o.ports.Registry, "registry-port", d.Ports.Registry, "registry port")
	f.IntVar(&o.ports.ControllerManager, "controller-manager-port", d.Ports.ControllerManager, "kube-controller-manager health port")
	f.IntVar(&o.ports.Scheduler, "scheduler-port", d.Ports.Scheduler, "kube-scheduler health port")
	f.IntVar(&o.ports.Kwok, "kwok-port", d.Ports.Kwok, "kwok health port")
	f.IntVar(&o.ports.Kubelet, "kubelet-port", d.Ports.Kubelet, "kubelet port")
	f.IntVar(&o.ports.KubeletHealthz, "kubelet-healthz-port", d.Ports.KubeletHealthz, "kubelet health port")
	f.IntVar(&o.ports.KubeProxy, "kube-proxy-port", d.Ports.KubeProxy, "kube-proxy health port")
	f.IntVar(&o.ports.KubeProxyMetrics, "kube-proxy-metrics-port", d.Ports.KubeProxyMetrics, "kube-proxy metrics port")
	f.IntVar(&o.ports.CoreDNS, "coredns-port", d.Ports.CoreDNS, "CoreDNS readiness port")
	f.IntVar(&o.fakeNodes, "fake-nodes", 0, "run N fake (kwok) nodes instead of the real node: pods never run (for scale benchmarks)")
	f.StringVar(&o.podCIDR, "pod-cidr", "", "the real node's pod range (default: a /24 of 10.240.0.0/16 picked by instance name)")
	f.StringVar(&o.serviceCIDR, "service-cidr", "", "the Service range (default: a /24 of 10.241.0.0/16 picked by instance name)")
}

func (o *clusterUpOptions) config() cluster.Config {
	cfg := o.common.config()
	cfg.KubernetesVersion = o.kubernetesVersion
	cfg.KwokVersion = o.kwokVersion
	cfg.Registry = o.registry
	cfg.Ports = o.ports
	cfg.FakeNodes = o.fakeNodes
	cfg.PodCIDR, cfg.ServiceCIDR = o.podCIDR, o.serviceCIDR
	cfg.Log = o.log
	return cfg
}

func (o *clusterUpOptions) run() error {
	start := time.Now()
	c, err := cluster.Up(o.ctx, o.config())
	if err != nil {
		return err
	}
	fmt.Fprintf(o.out, "cluster %q is up (%s)\n", c.Name, time.Since(start).Round(100*time.Millisecond))
	fmt.Fprintf(o.out, "  kubeconfig  %s (context %s)\n", c.Kubeconfig, c.Context)
	fmt.Fprintf(o.out, "  registry    %s (%s)\n", c.RegistryHost, c.RegistryImpl)
	fmt.Fprintf(o.out, "  kubectl     %s\n", filepath.Join(c.KubectlDir, "kubectl"))
	fmt.Fprintf(o.out, "  logs        %s\n", filepath.Join(c.RunDir, "logs"))
	fmt.Fprintf(o.out, "use it in this shell: eval \"$(slipway cluster env%s)\"\n", nameArg(c.Name))
	return nil
}

func nameArg(name string) string {
	if name == cluster.DefaultName {
		return ""
	}
	return " --name " + name
}

type clusterDownOptions struct {
	common  *clusterCommon
	purge   bool
	timeout time.Duration
	ctx     context.Context
	log     io.Writer
}

func newClusterDownCmd(common *clusterCommon) *cobra.Command {
	o := &clusterDownOptions{common: common}
	cmd := &cobra.Command{
		Use:   "down",
		Short: "Stop the processes `cluster up` started; --purge also deletes the instance's state",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.ctx, o.log = cmd.Context(), cmd.ErrOrStderr()
			return o.run()
		},
	}
	cmd.Flags().BoolVar(&o.purge, "purge", false, "also delete the instance's PKI, data and logs (cached binaries stay)")
	cmd.Flags().DurationVar(&o.timeout, "timeout", cluster.DefaultConfig().StopTimeout, "how long to wait after SIGTERM before SIGKILL")
	return cmd
}

func (o *clusterDownOptions) run() error {
	cfg := o.common.config()
	cfg.StopTimeout = o.timeout
	cfg.Log = o.log
	return cluster.Down(o.ctx, cfg, o.purge)
}

type clusterStatusOptions struct {
	common *clusterCommon
	output string
	ctx    context.Context
	out    io.Writer
}

// exitNotUp is the exit code of `cluster status` when the instance is not fully up.
const exitNotUp = 3

func newClusterStatusCmd(common *clusterCommon) *cobra.Command {
	o := &clusterStatusOptions{common: common}
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the instance's components; exits 3 unless all are running and healthy",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.ctx, o.out = cmd.Context(), cmd.OutOrStdout()
			return o.run()
		},
	}
	cmd.Flags().StringVarP(&o.output, "output", "o", "text", "output format: text or json")
	return cmd
}

func (o *clusterStatusOptions) run() error {
	if o.output != "text" && o.output != "json" {
		return fmt.Errorf("--output %q: want text or json", o.output)
	}
	rep, err := cluster.Status(o.ctx, o.common.config())
	if err != nil {
		return err
	}
	if o.output == "json" {
		enc := json.NewEncoder(o.out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else if err := writeStatusTable(o.out, rep); err != nil {
		return err
	}
	if !rep.Up {
		return &exitError{code: exitNotUp, err: fmt.Errorf("cluster %q is not up", rep.Name)}
	}
	return nil
}

func writeStatusTable(out io.Writer, rep *cluster.StatusReport) error {
	fmt.Fprintf(out, "instance %s (%s)\n", rep.Name, rep.RunDir)
	if c := rep.Cluster; c != nil {
		fmt.Fprintf(out, "kubeconfig %s, registry %s (%s), Kubernetes %s\n", c.Kubeconfig, c.RegistryHost, c.RegistryImpl, c.KubernetesVersion)
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "COMPONENT\tSTATE\tPID\tPORT\tHEALTHY\tRSS\tDETAIL")
	for _, cs := range rep.Components {
		pid, rss := "-", "-"
		if cs.PID != 0 {
			pid = fmt.Sprint(cs.PID)
		}
		if cs.RSSKiB != 0 {
			rss = fmt.Sprintf("%d MiB", cs.RSSKiB/1024)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%v\t%s\t%s\n", cs.Name, cs.State, pid, cs.Port, cs.Healthy, rss, firstLine(cs.Detail))
	}
	return tw.Flush()
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

type clusterEnvOptions struct {
	common *clusterCommon
	out    io.Writer
}

func newClusterEnvCmd(common *clusterCommon) *cobra.Command {
	o := &clusterEnvOptions{common: common}
	return &cobra.Command{
		Use:   "env",
		Short: `Print shell exports for the cluster (KUBECONFIG, SLIPWAY_REGISTRY, PATH): eval "$(slipway cluster env)"`,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.out = cmd.OutOrStdout()
			return o.run()
		},
	}
}

func (o *clusterEnvOptions) run() error {
	c, err := cluster.Load(o.common.config())
	if err != nil {
		return err
	}
	_, err = io.WriteString(o.out, c.ShellEnv())
	return err
}
