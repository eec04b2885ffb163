// Package demo holds the demo command: the simulated cluster with Azurite, the chart, a burst
// of messages and a live view of the scaling, then a summary and the teardown.
package demo

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/aks-edw/aks-edw/internal/azurite"
	"github.com/aks-edw/aks-edw/internal/demo"
)

// NewCommands returns the demo command.
func NewCommands() []*cobra.Command {
	cfg := demo.DefaultConfig()
	var verbose bool
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Show queue-driven scaling of pods and nodes on a simulated cluster, then tear it down",
		Long: `Starts a simulated cluster on this machine (a real Kubernetes control plane, kwok nodes
and pods, the real KEDA operator and metrics adapter, Karpenter's kwok provider, Azurite as the
queue and one consumer process on this host per Running consumer pod). Then it installs the
chart and sends a burst of messages. A timeline line is printed whenever the numbers change,
while KEDA scales the consumer out, Karpenter adds nodes for the Pending pods, the consumers
drain the queue, and everything scales back in. A summary follows, then the cluster is taken
down, also on Ctrl-C.

The first run builds the cluster's components from the Go module proxy into $EDW_CACHE_DIR
(default ~/.cache/aks-edw): 15 minutes on a 2-core machine with the modules already downloaded,
plus the download time. Later runs reuse the cache and take under two minutes.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			root, err := azurite.RepoRoot()
			if err != nil {
				return fmt.Errorf("the demo runs from the aks-edw repository: %w", err)
			}
			self, err := os.Executable()
			if err != nil {
				return fmt.Errorf("find the edwctl executable for the helper processes: %w", err)
			}
			cfg.RepoRoot = root
			cfg.HelperCommand = []string{self, "sim"}
			if cfg.StateDir != "" {
				if cfg.StateDir, err = filepath.Abs(cfg.StateDir); err != nil {
					return fmt.Errorf("resolve --state-dir: %w", err)
				}
			}

			level := slog.LevelWarn
			if verbose {
				level = slog.LevelInfo
			}
			logger := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: level}))
			_, err = demo.Run(cmd.Context(), cfg, demo.WithOutput(cmd.OutOrStdout()), demo.WithLogger(logger))
			return err
		},
	}
	flags := cmd.Flags()
	flags.IntVar(&cfg.Messages, "messages", cfg.Messages, "messages in the burst")
	flags.IntVar(&cfg.QueueLength, "queue-length", cfg.QueueLength, "the ScaledObject's queueLength: target messages per replica")
	flags.IntVar(&cfg.MaxReplicas, "max-replicas", cfg.MaxReplicas, "the ScaledObject's maxReplicaCount")
	flags.DurationVar(&cfg.Interval, "interval", cfg.Interval, "time between two polls of the live view")
	flags.DurationVar(&cfg.Timeout, "timeout", cfg.Timeout, "how long the scale-out and scale-in may take after the burst starts")
	flags.BoolVar(&cfg.Keep, "keep", false, "leave the simulated cluster running at the end (stop it with edwctl sim down)")
	flags.StringVar(&cfg.StateDir, "state-dir", "", "directory for the cluster's kubeconfig, pids and logs (default <repository>/.work/demo)")
	flags.StringVar(&cfg.CacheDir, "cache-dir", "", "build cache root (default $EDW_CACHE_DIR, else ~/.cache/aks-edw)")
	flags.BoolVarP(&verbose, "verbose", "v", false, "log the components' info messages to stderr")
	return []*cobra.Command{cmd}
}
