package sim

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/aks-edw/aks-edw/internal/sim"
	"github.com/aks-edw/aks-edw/internal/sim/podrunner"
)

// consumerHTTPAddr replaces the consumer's EDW_HTTP_ADDR: every consumer process shares the
// host's network, so each listens on a port the kernel picks, on loopback only.
const consumerHTTPAddr = "127.0.0.1:0"

func newAzuriteCommand() *cobra.Command {
	var state stateFlags
	cmd := &cobra.Command{
		Use:    "azurite",
		Short:  "Run Azurite for the simulated cluster until SIGTERM (started by sim up)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			stateDir, err := state.resolve()
			if err != nil {
				return err
			}
			return sim.ServeAzurite(cmd.Context(), stateDir, logger(cmd))
		},
	}
	state.register(cmd)
	return cmd
}

func newPodRunnerCommand() *cobra.Command {
	var (
		kubeconfig     string
		consumerBinary string
		logDir         string
		readyFile      string
		selector       string
		container      string
	)
	cmd := &cobra.Command{
		Use:    "pod-runner",
		Short:  "Back each Running consumer pod with a consumer process on this host until SIGTERM (started by sim up)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if kubeconfig == "" || consumerBinary == "" {
				return fmt.Errorf("--kubeconfig and --consumer-binary are required")
			}
			config, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
			if err != nil {
				return fmt.Errorf("load kubeconfig %s: %w", kubeconfig, err)
			}
			client, err := kubernetes.NewForConfig(config)
			if err != nil {
				return fmt.Errorf("create Kubernetes client: %w", err)
			}
			opts := []podrunner.Option{
				podrunner.WithSelector(selector),
				podrunner.WithContainer(container),
				podrunner.WithEnvOverride("EDW_HTTP_ADDR", consumerHTTPAddr),
				podrunner.WithLogDir(logDir),
				podrunner.WithLogger(logger(cmd)),
			}
			if readyFile != "" {
				opts = append(opts, podrunner.WithOnSynced(func() error {
					return os.WriteFile(readyFile, nil, 0o644)
				}))
			}
			runner, err := podrunner.New(client, consumerBinary, opts...)
			if err != nil {
				return err
			}
			return runner.Run(cmd.Context())
		},
	}
	cmd.Flags().StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig of the simulated cluster")
	cmd.Flags().StringVar(&consumerBinary, "consumer-binary", "", "executable to start per Running pod")
	cmd.Flags().StringVar(&logDir, "log-dir", ".", "directory for per-pod logs")
	cmd.Flags().StringVar(&readyFile, "ready-file", "", "file to create once the pod cache has synced")
	cmd.Flags().StringVar(&selector, "selector", podrunner.DefaultSelector, "label selector of the pods to back")
	cmd.Flags().StringVar(&container, "container", podrunner.DefaultContainer, "container whose env and args the process gets")
	return cmd
}
