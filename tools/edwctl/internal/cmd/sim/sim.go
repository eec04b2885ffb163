// Package sim holds the simulated cluster commands: sim build, up, down and status, and the
// hidden helpers that `sim up` starts as detached processes (sim azurite, sim pod-runner).
package sim

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/aks-edw/aks-edw/internal/azurite"
	"github.com/aks-edw/aks-edw/internal/sim"
	"github.com/aks-edw/aks-edw/internal/sim/build"
)

// NewCommands returns the sim command and its subcommands.
func NewCommands() []*cobra.Command {
	cmd := &cobra.Command{
		Use:   "sim",
		Short: "Build and run a simulated cluster (kwok, KEDA, Karpenter, Azurite) on this machine",
		Long: `The simulated cluster runs a real Kubernetes control plane (kube-apiserver,
kube-controller-manager, kube-scheduler, etcd), kwok for nodes and pods, the real KEDA operator
and metrics adapter, the real Karpenter kwok provider and Azurite, all as host processes on
127.0.0.1. Consumer pods are backed by consumer processes on the host.

The components are built from the Go module proxy on first use and cached in $EDW_CACHE_DIR
(default ~/.cache/aks-edw). The first build took about 20 minutes on a 2-core machine;
later runs reuse the cache.`,
	}
	cmd.AddCommand(newBuildCommand(), newUpCommand(), newDownCommand(), newStatusCommand(),
		newAzuriteCommand(), newPodRunnerCommand())
	return []*cobra.Command{cmd}
}

// stateFlags are the flags every command that touches a running cluster shares.
type stateFlags struct {
	stateDir string
	name     string
}

func (f *stateFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.stateDir, "state-dir", "", "directory for the cluster's kubeconfig, pids and logs (default <repository>/.work/sim)")
	cmd.Flags().StringVar(&f.name, "name", sim.DefaultName, "kwokctl cluster name")
}

// resolve returns the state directory, defaulting to .work/sim in the repository root.
func (f *stateFlags) resolve() (string, error) {
	if f.stateDir != "" {
		return filepath.Abs(f.stateDir)
	}
	root, err := azurite.RepoRoot()
	if err != nil {
		return "", fmt.Errorf("no --state-dir given and not inside the aks-edw repository: %w", err)
	}
	return filepath.Join(root, ".work", "sim"), nil
}

// cacheFlags select the build cache.
type cacheFlags struct {
	cacheDir    string
	prebuildDir string
}

func (f *cacheFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.cacheDir, "cache-dir", "", "build cache root (default $EDW_CACHE_DIR, else ~/.cache/aks-edw)")
	cmd.Flags().StringVar(&f.prebuildDir, "prebuild-dir", "", "directory of binaries built earlier with the same recipe, adopted when their versions match (default <cache-dir>/bin/sim-prebuild)")
}

func (f *cacheFlags) builder(cmd *cobra.Command) *build.Builder {
	return build.New(
		build.WithCacheDir(f.cacheDir),
		build.WithPrebuildDir(f.prebuildDir),
		build.WithProgress(cmd.ErrOrStderr()),
		build.WithLogger(logger(cmd)),
	)
}

func logger(cmd *cobra.Command) *slog.Logger {
	return slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelInfo}))
}

func newBuildCommand() *cobra.Command {
	var cache cacheFlags
	cmd := &cobra.Command{
		Use:   "build",
		Short: "Build the simulated cluster's components into the cache (skips cached ones)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b := cache.builder(cmd)
			bins, err := b.Ensure(cmd.Context())
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "components cached under %s\n", filepath.Join(b.CacheDir(), "bin"))
			fmt.Fprintf(cmd.OutOrStdout(), "  kube-apiserver  %s\n  keda-operator   %s\n  karpenter-kwok  %s\n",
				bins.KubeAPIServer, bins.KEDAOperator, bins.KarpenterKwok)
			return nil
		},
	}
	cache.register(cmd)
	return cmd
}

func newUpCommand() *cobra.Command {
	var (
		state          stateFlags
		cache          cacheFlags
		consumerBinary string
		noAzurite      bool
		readyTimeout   time.Duration
	)
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Start the simulated cluster and leave it running (builds missing components first)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			stateDir, err := state.resolve()
			if err != nil {
				return err
			}
			bins, err := cache.builder(cmd).Ensure(ctx)
			if err != nil {
				return err
			}
			self, err := os.Executable()
			if err != nil {
				return fmt.Errorf("find the edwctl executable for the helper processes: %w", err)
			}

			if consumerBinary == "" {
				consumerBinary, err = buildConsumer(cmd, stateDir)
				if err != nil {
					return err
				}
			}
			opts := []sim.Option{
				sim.WithName(state.name),
				sim.WithBinaries(bins),
				sim.WithHelperCommand(self, "sim"),
				sim.WithConsumerBinary(consumerBinary),
				sim.WithAzurite(!noAzurite),
				sim.WithProgress(cmd.ErrOrStderr()),
				sim.WithLogger(logger(cmd)),
			}
			if readyTimeout > 0 {
				opts = append(opts, sim.WithReadyTimeout(readyTimeout))
			}
			summary, err := sim.New(stateDir, opts...).Up(ctx)
			if err != nil {
				return err
			}
			printSummary(cmd, summary, consumerBinary)
			return nil
		},
	}
	state.register(cmd)
	cache.register(cmd)
	cmd.Flags().StringVar(&consumerBinary, "consumer-binary", "", "consumer executable the pod runner starts per Running consumer pod (default: go build ./src/consumer into <state-dir>/bin)")
	cmd.Flags().BoolVar(&noAzurite, "no-azurite", false, "do not start Azurite")
	cmd.Flags().DurationVar(&readyTimeout, "ready-timeout", 0, "how long each component may take to become ready (default 3m)")
	return cmd
}

// buildConsumer builds ./src/consumer into the state directory, or returns "" with a warning
// when the repository has no consumer yet.
func buildConsumer(cmd *cobra.Command, stateDir string) (string, error) {
	root, err := azurite.RepoRoot()
	if err != nil {
		fmt.Fprintln(cmd.ErrOrStderr(), "warning: not inside the repository; pod runner off (pass --consumer-binary)")
		return "", nil
	}
	out := filepath.Join(stateDir, "bin", "consumer")
	fmt.Fprintf(cmd.ErrOrStderr(), "build    consumer (go build %s)\n", sim.ConsumerPackage)
	built, err := sim.BuildConsumer(cmd.Context(), root, out)
	if err != nil {
		return "", err
	}
	if !built {
		fmt.Fprintf(cmd.ErrOrStderr(), "warning: %s has no Go files yet; pod runner off\n", sim.ConsumerPackage)
		return "", nil
	}
	return out, nil
}

func printSummary(cmd *cobra.Command, s *sim.Summary, consumerBinary string) {
	w := cmd.OutOrStdout()
	fmt.Fprintf(w, "Simulated cluster %q is up (%.1fs).\n", s.Name, s.StartupSeconds)
	fmt.Fprintf(w, "  kubeconfig         %s\n", s.Kubeconfig)
	fmt.Fprintf(w, "  API server         %s\n", s.APIServer)
	fmt.Fprintf(w, "  KEDA               namespace %s, external metrics APIService Available\n", s.KEDANamespace)
	fmt.Fprintf(w, "  Karpenter          KWOKNodeClass %q (use it as a NodePool's nodeClassRef)\n", s.NodeClass)
	if s.Azurite != nil {
		fmt.Fprintf(w, "  Azurite queue      %s\n", s.Azurite.Queue)
		fmt.Fprintf(w, "  Azurite table      %s\n", s.Azurite.Table)
		fmt.Fprintf(w, "  connection string  %s (mode 0600)\n", s.ConnectionStringFile)
	}
	if s.PodRunner {
		fmt.Fprintf(w, "  pod runner         consumer pods run %s; logs in %s\n", consumerBinary, s.PodLogDir)
	} else {
		fmt.Fprintf(w, "  pod runner         off\n")
	}
	fmt.Fprintf(w, "  logs               %s\n", s.LogDir)
	fmt.Fprintf(w, "\n  export KUBECONFIG=%s\n  edwctl sim status\n  edwctl sim down\n", s.Kubeconfig)
}

func newDownCommand() *cobra.Command {
	var (
		state stateFlags
		cache cacheFlags
	)
	cmd := &cobra.Command{
		Use:   "down",
		Short: "Stop every process of the simulated cluster and delete it (logs are kept)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			stateDir, err := state.resolve()
			if err != nil {
				return err
			}
			opts := []sim.Option{sim.WithName(state.name), sim.WithProgress(cmd.ErrOrStderr()), sim.WithLogger(logger(cmd))}
			// Down works without the cache: without kwokctl it stops the recorded pids itself.
			if bins, err := cache.builder(cmd).Locate(); err == nil {
				opts = append(opts, sim.WithBinaries(bins))
			}
			return sim.New(stateDir, opts...).Down(cmd.Context())
		},
	}
	state.register(cmd)
	cache.register(cmd)
	return cmd
}

func newStatusCommand() *cobra.Command {
	var state stateFlags
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show each process of the simulated cluster, whether it runs, and whether the API answers",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			stateDir, err := state.resolve()
			if err != nil {
				return err
			}
			status, err := sim.New(stateDir, sim.WithName(state.name)).Status(cmd.Context())
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if len(status.Components) == 0 {
				fmt.Fprintf(w, "simulated cluster is not running (state directory %s)\n", stateDir)
				return errNotRunning
			}
			fmt.Fprintf(w, "%-24s %-8s %-6s %s\n", "COMPONENT", "PID", "ALIVE", "LOG")
			for _, c := range status.Components {
				fmt.Fprintf(w, "%-24s %-8d %-6t %s\n", c.Name, c.PID, c.Alive, c.Log)
			}
			fmt.Fprintln(w)
			if status.APIReachable {
				fmt.Fprintf(w, "API server           reachable (kubeconfig %s)\n", status.Kubeconfig)
				fmt.Fprintf(w, "external metrics API available=%t %s\n", status.ExternalMetrics, status.ExternalMetricsMessage)
			} else {
				fmt.Fprintf(w, "API server           not reachable: %s\n", status.APIError)
			}
			if s := status.Summary; s != nil && s.Azurite != nil {
				fmt.Fprintf(w, "Azurite queue        %s\n", s.Azurite.Queue)
			}
			if !status.Running() {
				return errNotRunning
			}
			return nil
		},
	}
	state.register(cmd)
	return cmd
}

var errNotRunning = errors.New("simulated cluster is not fully running")
