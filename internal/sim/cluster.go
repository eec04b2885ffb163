// Package sim runs a simulated Kubernetes cluster on this host from real upstream parts: a
// control plane started by kwokctl (etcd, kube-apiserver, kube-controller-manager,
// kube-scheduler, kwok), the KEDA operator and metrics adapter, Karpenter's kwok provider,
// Azurite, and a pod runner that backs consumer pods with real consumer processes.
//
// Up leaves every process running, detached, with its pid recorded in the state directory, so
// later commands and tests use the cluster through its kubeconfig; Down stops them by pid.
// Every listener is on 127.0.0.1. What is simulated: kubelets and containers (kwok marks pods
// Running), node boot, networking between pods, and Azure identity.
package sim

import (
	"io"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/aks-edw/aks-edw/internal/sim/build"
)

const (
	// DefaultName is the kwokctl cluster name.
	DefaultName = "aks-edw"
	// DefaultKEDANamespace is KEDA's cluster object namespace.
	DefaultKEDANamespace = "keda"
)

// Cluster is the simulated cluster whose state lives in one directory.
type Cluster struct {
	stateDir       string
	name           string
	binaries       *build.Binaries
	helper         []string
	consumerBinary string
	kedaNamespace  string
	azurite        bool
	readyTimeout   time.Duration
	progress       io.Writer
	logger         *slog.Logger
}

// Option configures a Cluster.
type Option func(*Cluster)

// WithName sets the kwokctl cluster name (default DefaultName).
func WithName(name string) Option { return func(c *Cluster) { c.name = name } }

// WithBinaries sets the built components; Up requires them (see package build).
func WithBinaries(b *build.Binaries) Option { return func(c *Cluster) { c.binaries = b } }

// WithHelperCommand sets the command prefix that runs edwctl's sim subcommands, for example
// ["/path/to/edwctl", "sim"]. Up runs "<prefix> azurite" and "<prefix> pod-runner" as detached
// host processes. Without it neither Azurite nor the pod runner starts.
func WithHelperCommand(argv ...string) Option { return func(c *Cluster) { c.helper = argv } }

// WithConsumerBinary sets the host binary that the pod runner starts for each Running consumer
// pod. Without it the pod runner does not start.
func WithConsumerBinary(path string) Option { return func(c *Cluster) { c.consumerBinary = path } }

// WithKEDANamespace sets KEDA's cluster object namespace (default DefaultKEDANamespace).
func WithKEDANamespace(ns string) Option { return func(c *Cluster) { c.kedaNamespace = ns } }

// WithAzurite sets whether Up starts Azurite (default true; it needs the helper command).
func WithAzurite(on bool) Option { return func(c *Cluster) { c.azurite = on } }

// WithReadyTimeout bounds the wait for each component to become ready (default 3m). Each one
// took under 6s on a 2-core machine, and the default leaves room for one busy compiling.
func WithReadyTimeout(d time.Duration) Option { return func(c *Cluster) { c.readyTimeout = d } }

// WithProgress sets where step-by-step progress lines go (default: discard).
func WithProgress(w io.Writer) Option { return func(c *Cluster) { c.progress = w } }

// WithLogger sets the structured logger (default: discard).
func WithLogger(l *slog.Logger) Option { return func(c *Cluster) { c.logger = l } }

// New returns the cluster whose state lives in stateDir.
func New(stateDir string, opts ...Option) *Cluster {
	c := &Cluster{
		stateDir:      stateDir,
		name:          DefaultName,
		kedaNamespace: DefaultKEDANamespace,
		azurite:       true,
		readyTimeout:  3 * time.Minute,
		progress:      io.Discard,
		logger:        slog.New(slog.DiscardHandler),
	}
	for _, opt := range opts {
		opt(c)
	}
	return c
}

// Paths inside the state directory.

// StateDir returns the directory that holds the cluster's state.
func (c *Cluster) StateDir() string { return c.stateDir }

// KubeconfigPath returns the kubeconfig of the running cluster.
func (c *Cluster) KubeconfigPath() string { return filepath.Join(c.stateDir, "kubeconfig") }

// ConnectionStringPath returns the file (mode 0600) that holds Azurite's connection string.
func (c *Cluster) ConnectionStringPath() string {
	return filepath.Join(c.stateDir, "storage-connection-string")
}

// LogDir returns the directory of the host processes' logs; Down copies the control plane's
// logs into its control-plane subdirectory.
func (c *Cluster) LogDir() string { return filepath.Join(c.stateDir, "logs") }

// PodLogDir returns the directory of the consumer processes' logs, one file per pod.
func (c *Cluster) PodLogDir() string { return filepath.Join(c.stateDir, "pods") }

func (c *Cluster) runDir() string          { return filepath.Join(c.stateDir, "run") }
func (c *Cluster) kwokWorkDir() string     { return filepath.Join(c.stateDir, "kwok") }
func (c *Cluster) certDir() string         { return filepath.Join(c.stateDir, "certs") }
func (c *Cluster) summaryPath() string     { return filepath.Join(c.stateDir, "cluster.json") }
func (c *Cluster) azuriteInfoPath() string { return filepath.Join(c.stateDir, "azurite.json") }
func (c *Cluster) controlPlaneLogDir() string {
	return filepath.Join(c.LogDir(), "control-plane")
}
