// Package status holds the status and watch commands, which print what internal/status reads:
// queue depth, ScaledObject conditions, HPA replicas, Deployment readiness, NodePool nodes and
// NodeClaims.
package status

import (
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/aks-edw/aks-edw/internal/config"
	"github.com/aks-edw/aks-edw/internal/installer/kubeconfig"
	"github.com/aks-edw/aks-edw/internal/status"
)

// NewCommands returns the status and watch commands.
func NewCommands() []*cobra.Command {
	return []*cobra.Command{newStatusCommand(), newWatchCommand()}
}

// connectionStringEnv is read for the storage connection string. There is no flag for it, so
// the secret never shows in the process list or shell history.
const connectionStringEnv = "AZURE_STORAGE_CONNECTION_STRING"

type flags struct {
	kubeconfig   string
	context      string
	namespace    string
	release      string
	accountName  string
	suffix       string
	queue        string
	poisonQueue  string
	noSecretRead bool
	logLevel     string
}

func (f *flags) bind(set *pflag.FlagSet) {
	set.StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
	set.StringVar(&f.context, "context", "", "kubeconfig context (default: the file's current context)")
	set.StringVarP(&f.namespace, "namespace", "n", status.DefaultNamespace, "release namespace")
	set.StringVar(&f.release, "release", status.DefaultReleaseName, "Helm release name")
	set.StringVar(&f.accountName, "account-name", os.Getenv("AZURE_STORAGE_ACCOUNT_NAME"),
		"storage account, read with your Azure login when no connection string is found (env AZURE_STORAGE_ACCOUNT_NAME; default: the consumer Deployment's)")
	set.StringVar(&f.suffix, "endpoint-suffix", os.Getenv("AZURE_STORAGE_ENDPOINT_SUFFIX"),
		"storage endpoint suffix (env AZURE_STORAGE_ENDPOINT_SUFFIX; default: the consumer Deployment's, else core.windows.net)")
	set.StringVar(&f.queue, "queue", "", "queue name (default: the consumer Deployment's AZURE_QUEUE_NAME)")
	set.StringVar(&f.poisonQueue, "poison-queue", "", "poison queue name (default: the consumer Deployment's, else <queue>-poison)")
	set.BoolVar(&f.noSecretRead, "no-secret-read", false,
		"do not read the connection string from the Secret the consumer Deployment references; use "+connectionStringEnv+" or the account name instead")
	set.StringVar(&f.logLevel, "log-level", "warn", "log level on stderr: debug, info, warn or error")
}

func (f *flags) collector() (*status.Collector, error) {
	level, err := config.ParseLevel(f.logLevel)
	if err != nil {
		return nil, config.Invalid("--log-level: %v", err)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	return status.NewCollector(
		status.WithKubeconfig(kubeconfig.Source{Path: f.kubeconfig, Context: f.context}),
		status.WithRelease(f.namespace, f.release),
		status.WithStorage(status.StorageSettings{
			ConnectionString: os.Getenv(connectionStringEnv),
			AccountName:      f.accountName,
			EndpointSuffix:   f.suffix,
		}),
		status.WithQueueNames(f.queue, f.poisonQueue),
		status.WithSecretLookup(!f.noSecretRead),
		status.WithLogger(logger),
	)
}

func newStatusCommand() *cobra.Command {
	var f flags
	command := &cobra.Command{
		Use:   "status",
		Short: "Show queue depth, ScaledObject, HPA, Deployment and NodePool state on one screen",
		Long: `Reads the release's state once: the queue's approximate message count (visible and
invisible messages) and the poison queue's, the ScaledObject's Ready, Active and Paused
conditions, the desired and current replicas of the HPA that KEDA manages, the Deployment's
ready replicas, and the nodes and NodeClaims of the release's NodePool.

The queue is read with, in order: ` + connectionStringEnv + `, the Secret that the consumer
Deployment takes its connection string from, or the storage account name with your Azure login
(DefaultAzureCredential).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			collector, err := f.collector()
			if err != nil {
				return err
			}
			if err := collector.CheckReachable(cmd.Context()); err != nil {
				return err
			}
			snapshot := collector.Snapshot(cmd.Context())
			return status.WriteText(cmd.OutOrStdout(), snapshot)
		},
	}
	f.bind(command.Flags())
	return command
}

func newWatchCommand() *cobra.Command {
	var f flags
	var interval time.Duration
	command := &cobra.Command{
		Use:   "watch",
		Short: "Print one timeline line per poll (depth, desired, replicas, ready, nodes, NodeClaims) until Ctrl-C",
		Long: `Reads the same state as status every --interval and prints one line per poll: time,
queue depth, the ScaledObject's Active condition, the HPA's desired replicas, the Deployment's
replicas and ready replicas, and the NodePool's nodes and NodeClaims. Read errors follow the
line after "!". Stops on Ctrl-C or SIGTERM.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if interval <= 0 {
				return config.Invalid("--interval %s is not positive: use a duration such as 5s", interval)
			}
			collector, err := f.collector()
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintln(out, status.TimelineHeader)
			var previous *status.Point
			return collector.Watch(cmd.Context(), interval, func(snapshot status.Snapshot) {
				point := status.PointOf(snapshot)
				fmt.Fprintln(out, point.Line(previous))
				previous = &point
			})
		},
	}
	f.bind(command.Flags())
	command.Flags().DurationVarP(&interval, "interval", "i", 5*time.Second, "time between polls (e.g. 2s, 10s)")
	return command
}
