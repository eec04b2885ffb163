package install

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/aks-edw/aks-edw/internal/config"
	"github.com/aks-edw/aks-edw/internal/installer"
)

func newPreflightCommand() *cobra.Command {
	var cluster clusterFlags
	var chart chartFlags
	command := &cobra.Command{
		Use:   "preflight",
		Short: "Check that the cluster can take the chart, one line per check with the fix",
		Long: `Renders the chart with the given values and checks the cluster for what it needs: the API
server answers; every kind the chart renders is served (KEDA's ScaledObject and
TriggerAuthentication, Karpenter's NodePool and the node class its nodeClassRef names); the
namespace's Pod Security level; and, with workload identity, the ServiceAccount subject of the
federated credential, the workload identity webhook and the KEDA operator's injected token.
Every check runs; the exit status is 1 when any failed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts, err := collectOptions(cmd, &cluster, &chart, nil)
			if err != nil {
				return err
			}
			inst, err := installer.New(opts...)
			if err != nil {
				return err
			}
			report, err := inst.Preflight(cmd.Context())
			if err != nil {
				return err
			}
			if _, err := report.WriteTo(cmd.OutOrStdout()); err != nil {
				return err
			}
			if failures := report.Failures(); len(failures) > 0 {
				return fmt.Errorf("preflight failed: %d check(s) failed for release %s in namespace %s", len(failures), inst.ReleaseName(), inst.Namespace())
			}
			return nil
		},
	}
	cluster.bind(command.Flags())
	chart.bind(command.Flags())
	return command
}

func newInstallCommand() *cobra.Command {
	var cluster clusterFlags
	var chart chartFlags
	var apply applyFlags
	command := &cobra.Command{
		Use:   "install",
		Short: "Run preflight, install the chart and wait until the consumer is ready",
		Long: `Runs preflight and stops before applying anything when a check fails. Then installs the
chart through the Helm SDK and waits until the consumer Deployment is available (with 0 replicas
when KEDA has scaled it in) and the ScaledObject has condition Ready=True, printing progress.
With --atomic (the default) a failure uninstalls the release. Values, from lowest to highest
precedence: the chart's values.yaml, the deployment outputs, -f files, --set, --set-string.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts, err := collectOptions(cmd, &cluster, &chart, &apply)
			if err != nil {
				return err
			}
			inst, err := installer.New(opts...)
			if err != nil {
				return err
			}
			result, err := inst.Install(cmd.Context())
			if err != nil {
				return err
			}
			if apply.dryRun {
				printManifest(cmd.OutOrStdout(), result)
				return nil
			}
			fmt.Fprintf(cmd.OutOrStdout(), "release %s installed in namespace %s (revision %d)\n", result.ReleaseName, result.Namespace, result.Revision)
			return nil
		},
	}
	cluster.bind(command.Flags())
	chart.bind(command.Flags())
	apply.bind(command.Flags(), "install")
	command.Flags().BoolVar(&chart.skipPreflight, "skip-preflight", false, "do not run the preflight checks first")
	return command
}

func newUpgradeCommand() *cobra.Command {
	var cluster clusterFlags
	var chart chartFlags
	var apply applyFlags
	var reuseValues bool
	command := &cobra.Command{
		Use:   "upgrade",
		Short: "Run preflight, upgrade the release and wait until the consumer is ready",
		Long: `Runs preflight, upgrades the existing release through the Helm SDK and waits like install.
With --atomic (the default) a failure rolls back to the revision deployed before. Values start
from the chart's values.yaml, as with helm upgrade, unless --reuse-values is given.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts, err := collectOptions(cmd, &cluster, &chart, &apply)
			if err != nil {
				return err
			}
			opts = append(opts, installer.WithReuseValues(reuseValues))
			inst, err := installer.New(opts...)
			if err != nil {
				return err
			}
			result, err := inst.Upgrade(cmd.Context())
			if err != nil {
				return err
			}
			if apply.dryRun {
				printManifest(cmd.OutOrStdout(), result)
				return nil
			}
			fmt.Fprintf(cmd.OutOrStdout(), "release %s upgraded in namespace %s (revision %d)\n", result.ReleaseName, result.Namespace, result.Revision)
			return nil
		},
	}
	cluster.bind(command.Flags())
	chart.bind(command.Flags())
	apply.bind(command.Flags(), "upgrade")
	command.Flags().BoolVar(&chart.skipPreflight, "skip-preflight", false, "do not run the preflight checks first")
	command.Flags().BoolVar(&reuseValues, "reuse-values", false, "start from the release's last values instead of the chart's defaults")
	return command
}

func newUninstallCommand() *cobra.Command {
	var cluster clusterFlags
	var wait bool
	var timeout = installer.DefaultTimeout
	var ignoreNotFound bool
	command := &cobra.Command{
		Use:   "uninstall",
		Short: "Delete the release and wait until its objects, including the NodePool, are gone",
		Long: `Deletes every object of the release through the Helm SDK, including the cluster-scoped
NodePool, and waits until they are gone. Karpenter deletes a NodePool only after draining and
removing its nodes, so that wait can take minutes on a real cluster.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if timeout <= 0 {
				return config.Invalid("--timeout %s is not positive: use a duration such as 5m", timeout)
			}
			opts, err := cluster.options()
			if err != nil {
				return err
			}
			opts = append(opts, installer.WithWait(wait), installer.WithTimeout(timeout))
			inst, err := installer.New(opts...)
			if err != nil {
				return err
			}
			err = inst.Uninstall(cmd.Context())
			if ignoreNotFound && errors.Is(err, installer.ErrReleaseNotFound) {
				fmt.Fprintf(os.Stderr, "release %s not found in namespace %s; nothing to uninstall\n", inst.ReleaseName(), inst.Namespace())
				return nil
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "release %s uninstalled from namespace %s\n", inst.ReleaseName(), inst.Namespace())
			return nil
		},
	}
	cluster.bind(command.Flags())
	command.Flags().BoolVar(&wait, "wait", true, "wait until every object of the release is deleted")
	command.Flags().DurationVar(&timeout, "timeout", installer.DefaultTimeout, "time limit for the delete and the wait (e.g. 90s, 5m)")
	command.Flags().BoolVar(&ignoreNotFound, "ignore-not-found", false, "succeed when the release does not exist")
	return command
}

// collectOptions gathers the installer options from the flag groups; apply may be nil.
func collectOptions(cmd *cobra.Command, cluster *clusterFlags, chart *chartFlags, apply *applyFlags) ([]installer.Option, error) {
	opts, err := cluster.options()
	if err != nil {
		return nil, err
	}
	chartOpts, err := chart.options(cmd.Flags().Changed("outputs"))
	if err != nil {
		return nil, err
	}
	opts = append(opts, chartOpts...)
	if apply != nil {
		applyOpts, err := apply.options()
		if err != nil {
			return nil, err
		}
		opts = append(opts, applyOpts...)
	}
	return opts, nil
}
