// Package install holds the chart lifecycle commands: preflight, install, upgrade, uninstall.
// They parse flags and call internal/installer, which does the work.
package install

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/aks-edw/aks-edw/internal/config"
	"github.com/aks-edw/aks-edw/internal/installer"
)

// NewCommands returns the preflight, install, upgrade and uninstall commands.
func NewCommands() []*cobra.Command {
	return []*cobra.Command{
		newPreflightCommand(),
		newInstallCommand(),
		newUpgradeCommand(),
		newUninstallCommand(),
	}
}

// clusterFlags select the cluster and the release; every command has them.
type clusterFlags struct {
	kubeconfig string
	context    string
	namespace  string
	release    string
	logLevel   string
}

func (f *clusterFlags) bind(flags *pflag.FlagSet) {
	flags.StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
	flags.StringVar(&f.context, "context", "", "kubeconfig context (default: the file's current context)")
	flags.StringVarP(&f.namespace, "namespace", "n", "", fmt.Sprintf("release namespace (default: the deployment outputs' serviceAccountNamespace, else %s)", installer.DefaultNamespace))
	flags.StringVar(&f.release, "release", installer.DefaultReleaseName, "Helm release name")
	flags.StringVar(&f.logLevel, "log-level", "warn", "log level on stderr: debug (includes the Helm SDK's log), info, warn or error")
}

func (f *clusterFlags) options() ([]installer.Option, error) {
	logger, err := newLogger(f.logLevel)
	if err != nil {
		return nil, err
	}
	return []installer.Option{
		installer.WithKubeconfig(f.kubeconfig),
		installer.WithKubeContext(f.context),
		installer.WithNamespace(f.namespace),
		installer.WithReleaseName(f.release),
		installer.WithLogger(logger),
		installer.WithProgress(os.Stderr),
	}, nil
}

// chartFlags choose the chart and its values; preflight, install and upgrade have them.
type chartFlags struct {
	chart         string
	valueFiles    []string
	set           []string
	setString     []string
	outputs       string
	createNS      bool
	skipPreflight bool
}

func (f *chartFlags) bind(flags *pflag.FlagSet) {
	flags.StringVar(&f.chart, "chart", "", fmt.Sprintf("chart directory or archive (default: %s in the repository)", installer.DefaultChartDir))
	flags.StringArrayVarP(&f.valueFiles, "values", "f", nil, "values file (repeatable; later files win)")
	flags.StringArrayVar(&f.set, "set", nil, "set a value: key.path=value (repeatable; wins over values files and outputs)")
	flags.StringArrayVar(&f.setString, "set-string", nil, "set a value kept as a string: key.path=value (repeatable)")
	flags.StringVar(&f.outputs, "outputs", installer.DefaultOutputsFile,
		"infrastructure deployment outputs (JSON written by edwctl deploy) mapped to storage, workload identity, ServiceAccount and image values; used only if the file exists when left at the default; \"\" to ignore")
	flags.BoolVar(&f.createNS, "create-namespace", false, "create the namespace if missing, labelled pod-security.kubernetes.io/enforce=restricted")
}

// options returns the chart options. changed reports whether --outputs was given explicitly:
// a missing file is then an error, while a missing default file means no outputs.
func (f *chartFlags) options(outputsChanged bool) ([]installer.Option, error) {
	outputs := f.outputs
	if !outputsChanged {
		outputs = installer.FindOutputsFile()
		if outputs != "" {
			fmt.Fprintf(os.Stderr, "using deployment outputs from %s (pass --outputs \"\" to ignore them)\n", outputs)
		}
	} else if outputs != "" {
		if _, err := os.Stat(outputs); err != nil {
			return nil, config.Invalid("--outputs %s: %v: pass the file that edwctl deploy wrote, or --outputs \"\"", outputs, errors.Unwrap(err))
		}
	}
	return []installer.Option{
		installer.WithChart(f.chart),
		installer.WithValuesFiles(f.valueFiles...),
		installer.WithSet(f.set...),
		installer.WithSetString(f.setString...),
		installer.WithOutputsFile(outputs),
		installer.WithCreateNamespace(f.createNS),
		installer.WithPreflight(!f.skipPreflight),
	}, nil
}

// applyFlags control how install and upgrade apply and wait.
type applyFlags struct {
	dryRun  bool
	wait    bool
	atomic  bool
	timeout time.Duration
}

func (f *applyFlags) bind(flags *pflag.FlagSet, verb string) {
	flags.BoolVar(&f.dryRun, "dry-run", false, "render the manifests against the cluster and print them; apply nothing (Secret values are printed as REDACTED)")
	flags.BoolVar(&f.wait, "wait", true, "wait until the Deployment is available and the ScaledObject is Ready")
	flags.BoolVar(&f.atomic, "atomic", true, fmt.Sprintf("on failure, including a wait timeout, %s", map[string]string{
		"install": "uninstall the release",
		"upgrade": "roll back to the previous revision",
	}[verb]))
	flags.DurationVar(&f.timeout, "timeout", installer.DefaultTimeout, "time limit for the whole command, including the wait (e.g. 90s, 5m)")
}

func (f *applyFlags) options() ([]installer.Option, error) {
	if f.timeout <= 0 {
		return nil, config.Invalid("--timeout %s is not positive: use a duration such as 5m", f.timeout)
	}
	return []installer.Option{
		installer.WithDryRun(f.dryRun),
		installer.WithWait(f.wait),
		installer.WithAtomic(f.atomic),
		installer.WithTimeout(f.timeout),
	}, nil
}

func newLogger(level string) (*slog.Logger, error) {
	parsed, err := config.ParseLevel(level)
	if err != nil {
		return nil, config.Invalid("--log-level: %v", err)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: parsed})), nil
}

// printManifest writes a dry run's manifest to w.
func printManifest(w io.Writer, result *installer.Result) {
	if result == nil || result.Manifest == "" {
		return
	}
	fmt.Fprintln(w, strings.TrimSpace(result.Manifest))
}
