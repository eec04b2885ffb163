package sim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/aks-edw/aks-edw/internal/sim/build"
	"github.com/aks-edw/aks-edw/internal/sim/certs"
	"github.com/aks-edw/aks-edw/internal/sim/karpenter"
	"github.com/aks-edw/aks-edw/internal/sim/keda"
	"github.com/aks-edw/aks-edw/internal/sim/kwokctl"
	"github.com/aks-edw/aks-edw/internal/sim/manifest"
	"github.com/aks-edw/aks-edw/internal/sim/proc"
)

// Summary describes a running simulated cluster. Up writes it to cluster.json in the state
// directory; it holds no secret.
type Summary struct {
	Name          string `json:"name"`
	Kubeconfig    string `json:"kubeconfig"`
	APIServer     string `json:"apiServer"`
	KEDANamespace string `json:"kedaNamespace"`
	// NodeClass is the KWOKNodeClass a NodePool's nodeClassRef names in the simulation.
	NodeClass            string            `json:"nodeClass"`
	Azurite              *AzuriteEndpoints `json:"azurite,omitempty"`
	ConnectionStringFile string            `json:"connectionStringFile,omitempty"`
	PodRunner            bool              `json:"podRunner"`
	Ports                map[string]int    `json:"ports"`
	LogDir               string            `json:"logDir"`
	PodLogDir            string            `json:"podLogDir"`
	Started              time.Time         `json:"started"`
	StartupSeconds       float64           `json:"startupSeconds"`
}

// AzuriteEndpoints are the service URLs of the Azurite that Up started.
type AzuriteEndpoints struct {
	Blob  string `json:"blob"`
	Queue string `json:"queue"`
	Table string `json:"table"`
	PID   int    `json:"pid"`
}

// ErrAlreadyRunning is returned by Up when processes of an earlier Up still run.
var ErrAlreadyRunning = errors.New("simulated cluster already running")

// Up starts the cluster and returns once every component is ready. On failure it stops what it
// started and keeps the logs.
func (c *Cluster) Up(ctx context.Context) (*Summary, error) {
	if c.binaries == nil {
		return nil, errors.New("no built components given; build them with `edwctl sim build` and pass them with WithBinaries")
	}
	if alive, err := c.aliveProcesses(); err != nil {
		return nil, err
	} else if len(alive) > 0 {
		return nil, fmt.Errorf("%w: %d processes alive (%v) in %s; run `edwctl sim down` first", ErrAlreadyRunning, len(alive), alive, c.stateDir)
	}
	if c.hasState() {
		c.logger.Info("removing stale state of a stopped cluster", "dir", c.stateDir)
		if err := c.Down(ctx); err != nil {
			return nil, fmt.Errorf("clean stale state: %w", err)
		}
	}
	for _, dir := range []string{c.stateDir, c.runDir(), c.LogDir(), c.PodLogDir()} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("create state directory: %w", err)
		}
	}

	start := time.Now()
	summary := &Summary{
		Name:          c.name,
		Kubeconfig:    c.KubeconfigPath(),
		KEDANamespace: c.kedaNamespace,
		NodeClass:     karpenter.NodeClassName,
		Ports:         map[string]int{},
		LogDir:        c.LogDir(),
		PodLogDir:     c.PodLogDir(),
		Started:       start.UTC(),
	}
	if err := c.up(ctx, summary); err != nil {
		c.logger.Error("sim up failed; stopping started components", "error", err)
		if downErr := c.Down(context.WithoutCancel(ctx)); downErr != nil {
			return nil, fmt.Errorf("%w; stopping the started components also failed: %v", err, downErr)
		}
		return nil, fmt.Errorf("%w (started components stopped; logs in %s)", err, c.LogDir())
	}
	summary.StartupSeconds = time.Since(start).Seconds()
	data, err := json.MarshalIndent(summary, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode cluster summary: %w", err)
	}
	if err := os.WriteFile(c.summaryPath(), data, 0o644); err != nil {
		return nil, fmt.Errorf("write cluster summary: %w", err)
	}
	fmt.Fprintf(c.progress, "simulated cluster up in %s\n", time.Since(start).Round(100*time.Millisecond))
	return summary, nil
}

func (c *Cluster) up(ctx context.Context, summary *Summary) error {
	var config *rest.Config
	if err := c.step("control plane (kwokctl: etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok)", func() error {
		var err error
		config, err = c.startControlPlane(ctx, summary)
		return err
	}); err != nil {
		return err
	}

	applier, err := manifest.NewApplier(config)
	if err != nil {
		return err
	}
	if err := c.step("CRDs (KEDA, Karpenter NodePool/NodeClaim, KWOKNodeClass)", func() error {
		return c.installCRDs(ctx, applier)
	}); err != nil {
		return err
	}
	if err := c.step("KEDA operator and metrics adapter", func() error {
		return c.startKEDA(ctx, config, applier, summary)
	}); err != nil {
		return err
	}
	if err := c.step("Karpenter kwok provider", func() error {
		return c.startKarpenter(ctx, applier, summary)
	}); err != nil {
		return err
	}

	if len(c.helper) == 0 {
		fmt.Fprintln(c.progress, "skip     Azurite and pod runner: no helper command given")
		return nil
	}
	if c.azurite {
		if err := c.step("Azurite", func() error { return c.startAzurite(ctx, summary) }); err != nil {
			return err
		}
	}
	if c.consumerBinary == "" {
		fmt.Fprintln(c.progress, "skip     pod runner: no consumer binary given")
		return nil
	}
	return c.step("pod runner", func() error {
		summary.PodRunner = true
		return c.startPodRunner(ctx)
	})
}

// step runs fn with a progress line before and after.
func (c *Cluster) step(name string, fn func() error) error {
	start := time.Now()
	fmt.Fprintf(c.progress, "start    %s\n", name)
	if err := fn(); err != nil {
		return err
	}
	elapsed := time.Since(start).Round(100 * time.Millisecond)
	fmt.Fprintf(c.progress, "ready    %s (%s)\n", name, elapsed)
	c.logger.Info("component ready", "component", name, "elapsed", elapsed)
	return nil
}

// kwokctlCluster returns the kwokctl handle of this cluster; output receives kwokctl's output.
// Without binaries (Status and Down may run without a build) it can still read pids and logs.
func (c *Cluster) kwokctlCluster(output io.Writer) *kwokctl.Cluster {
	b := c.binaries
	if b == nil {
		b = &build.Binaries{}
	}
	return kwokctl.New(c.name, c.kwokWorkDir(), kwokctl.Binaries{
		Kwokctl:               b.Kwokctl,
		Kwok:                  b.Kwok,
		Etcd:                  b.Etcd,
		KubeAPIServer:         b.KubeAPIServer,
		KubeControllerManager: b.KubeControllerManager,
		KubeScheduler:         b.KubeScheduler,
		Kubectl:               b.Kubectl,
	}, kwokctl.WithOutput(output), kwokctl.WithReadyTimeout(c.readyTimeout))
}

func (c *Cluster) startControlPlane(ctx context.Context, summary *Summary) (*rest.Config, error) {
	logFile, err := os.OpenFile(filepath.Join(c.LogDir(), "kwokctl.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open kwokctl log: %w", err)
	}
	defer logFile.Close()
	cluster := c.kwokctlCluster(logFile)
	if err := cluster.Create(ctx); err != nil {
		return nil, err
	}

	kubeconfig, err := os.ReadFile(cluster.KubeconfigPath())
	if err != nil {
		return nil, fmt.Errorf("read kwokctl kubeconfig: %w", err)
	}
	if err := os.WriteFile(c.KubeconfigPath(), kubeconfig, 0o600); err != nil {
		return nil, fmt.Errorf("write kubeconfig: %w", err)
	}
	config, err := clientcmd.BuildConfigFromFlags("", c.KubeconfigPath())
	if err != nil {
		return nil, fmt.Errorf("load kubeconfig %s: %w", c.KubeconfigPath(), err)
	}
	if err := requireLoopback(config.Host); err != nil {
		return nil, err
	}
	summary.APIServer = config.Host

	// NOTE: kwokctl v0.8 logs a failed readiness wait but still exits 0, so readiness is
	// checked here, and a failure shows the API server's log.
	if err := c.waitAPIServer(ctx, config, cluster); err != nil {
		return nil, err
	}
	return config, nil
}

func (c *Cluster) installCRDs(ctx context.Context, applier *manifest.Applier) error {
	var names []string
	for _, dir := range []string{c.binaries.KEDACRDDir, c.binaries.KarpenterCRDDir} {
		applied, err := applier.ApplyFiles(ctx, dir)
		if err != nil {
			return err
		}
		names = append(names, manifest.CRDNames(applied)...)
	}
	return applier.WaitEstablished(ctx, names, c.readyTimeout)
}

func (c *Cluster) startKEDA(ctx context.Context, config *rest.Config, applier *manifest.Applier, summary *Summary) error {
	bundle, err := certs.Generate(keda.CertificateNames(c.kedaNamespace),
		[]net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}, 365*24*time.Hour)
	if err != nil {
		return err
	}
	if err := bundle.Write(c.certDir()); err != nil {
		return err
	}
	ports, err := freePorts(5)
	if err != nil {
		return err
	}
	kc := keda.Config{
		OperatorBinary: c.binaries.KEDAOperator,
		AdapterBinary:  c.binaries.KEDAAdapter,
		Kubeconfig:     c.KubeconfigPath(),
		Namespace:      c.kedaNamespace,
		CertDir:        c.certDir(),
		LogDir:         c.LogDir(),
		Ports: keda.Ports{
			OperatorGRPC:    ports[0],
			OperatorMetrics: ports[1],
			OperatorProbe:   ports[2],
			AdapterSecure:   ports[3],
			AdapterMetrics:  ports[4],
		},
	}
	summary.Ports["keda-operator-grpc"] = kc.Ports.OperatorGRPC
	summary.Ports["keda-operator-metrics"] = kc.Ports.OperatorMetrics
	summary.Ports["keda-operator-probe"] = kc.Ports.OperatorProbe
	summary.Ports["keda-adapter"] = kc.Ports.AdapterSecure
	summary.Ports["keda-adapter-metrics"] = kc.Ports.AdapterMetrics

	for _, obj := range keda.Objects(c.kedaNamespace, kc.Ports.AdapterSecure, bundle.CA) {
		if err := applier.Apply(ctx, obj); err != nil {
			return err
		}
	}

	operator, err := proc.Start(kc.OperatorSpec(), c.runDir())
	if err != nil {
		return err
	}
	probe := fmt.Sprintf("http://127.0.0.1:%d/readyz", kc.Ports.OperatorProbe)
	if err := c.waitReady(ctx, operator, "KEDA operator "+probe, httpOK(probe)); err != nil {
		return err
	}

	adapter, err := proc.Start(kc.AdapterSpec(), c.runDir())
	if err != nil {
		return err
	}
	return c.waitReady(ctx, adapter, "APIService "+keda.APIServiceName+" Available", apiServiceAvailable(config, keda.APIServiceName))
}

func (c *Cluster) startKarpenter(ctx context.Context, applier *manifest.Applier, summary *Summary) error {
	if err := applier.Apply(ctx, karpenter.NodeClass()); err != nil {
		return err
	}

	instanceTypes, err := karpenter.InstanceTypesJSON(karpenter.DefaultSKUs)
	if err != nil {
		return fmt.Errorf("render instance types: %w", err)
	}
	instanceTypesPath := filepath.Join(c.stateDir, "karpenter-instance-types.json")
	if err := os.WriteFile(instanceTypesPath, instanceTypes, 0o644); err != nil {
		return fmt.Errorf("write instance types: %w", err)
	}

	ports, err := freePorts(2)
	if err != nil {
		return err
	}
	kc := karpenter.Config{
		Binary:            c.binaries.KarpenterKwok,
		Kubeconfig:        c.KubeconfigPath(),
		InstanceTypesFile: instanceTypesPath,
		LogDir:            c.LogDir(),
		MetricsPort:       ports[0],
		HealthProbePort:   ports[1],
	}
	summary.Ports["karpenter-metrics"] = kc.MetricsPort
	summary.Ports["karpenter-probe"] = kc.HealthProbePort

	rec, err := proc.Start(kc.Spec(), c.runDir())
	if err != nil {
		return err
	}
	probe := fmt.Sprintf("http://127.0.0.1:%d/readyz", kc.HealthProbePort)
	return c.waitReady(ctx, rec, "Karpenter "+probe, httpOK(probe))
}

// startAzurite runs the helper that owns Azurite. Helpers inherit the caller's working
// directory, so package azurite finds the repository's pinned Azurite as the caller would.
func (c *Cluster) startAzurite(ctx context.Context, summary *Summary) error {
	spec := proc.Spec{
		Name:   "azurite",
		Binary: c.helper[0],
		Args:   append(append([]string(nil), c.helper[1:]...), "azurite", "--state-dir", c.stateDir),
		Log:    filepath.Join(c.LogDir(), "azurite-host.log"),
	}
	rec, err := proc.Start(spec, c.runDir())
	if err != nil {
		return err
	}
	var endpoints AzuriteEndpoints
	err = c.waitReady(ctx, rec, "Azurite endpoints in "+c.azuriteInfoPath(), func(context.Context) (bool, error) {
		data, err := os.ReadFile(c.azuriteInfoPath())
		if err != nil {
			return false, nil
		}
		return true, json.Unmarshal(data, &endpoints)
	})
	if err != nil {
		return err
	}
	summary.Azurite = &endpoints
	summary.ConnectionStringFile = c.ConnectionStringPath()
	return nil
}

func (c *Cluster) startPodRunner(ctx context.Context) error {
	readyFile := filepath.Join(c.runDir(), "pod-runner.ready")
	_ = os.Remove(readyFile)
	spec := proc.Spec{
		Name:   "pod-runner",
		Binary: c.helper[0],
		Args: append(append([]string(nil), c.helper[1:]...), "pod-runner",
			"--kubeconfig", c.KubeconfigPath(),
			"--consumer-binary", c.consumerBinary,
			"--log-dir", c.PodLogDir(),
			"--ready-file", readyFile),
		Log: filepath.Join(c.LogDir(), "pod-runner.log"),
	}
	rec, err := proc.Start(spec, c.runDir())
	if err != nil {
		return err
	}
	return c.waitReady(ctx, rec, "pod runner", func(context.Context) (bool, error) {
		_, err := os.Stat(readyFile)
		return err == nil, nil
	})
}

// freePorts returns n distinct loopback ports that were free a moment ago.
func freePorts(n int) ([]int, error) {
	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			l.Close()
		}
	}()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free loopback port: %w", err)
		}
		listeners = append(listeners, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
