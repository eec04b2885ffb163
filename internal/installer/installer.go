// Package installer installs, upgrades and uninstalls the aks-edw chart through the Helm SDK.
//
// An Installer is built with functional options: kubeconfig and context, namespace, release name,
// chart path, values (files, --set, --set-string, a map, and the infrastructure deployment's
// outputs below them all), dry-run, wait, atomic and timeout. Install and Upgrade run the
// preflight checks first and stop before applying anything when one fails. Then they apply the
// chart and wait until the consumer Deployment is available and the ScaledObject is Ready. With
// atomic on (the default), a failed Install uninstalls the release and a failed Upgrade rolls
// back to the previous revision. Uninstall waits until every object of the release is gone,
// including the cluster-scoped NodePool.
package installer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"helm.sh/helm/v3/pkg/chart"
	"k8s.io/client-go/rest"

	"github.com/aks-edw/aks-edw/internal/azcli"
	"github.com/aks-edw/aks-edw/internal/installer/kubeconfig"
	"github.com/aks-edw/aks-edw/internal/preflight"
)

// ErrReleaseNotFound is returned by Upgrade and Uninstall when the release does not exist.
var ErrReleaseNotFound = errors.New("release not found")

// Installer applies the chart to one release in one cluster. Build it with New.
type Installer struct {
	opts      options
	chart     *chart.Chart
	values    map[string]any
	namespace string
	outputs   *Outputs
}

// Result describes what Install or Upgrade did.
type Result struct {
	ReleaseName string
	Namespace   string
	// Revision is the release revision that was applied, or 0 for a dry run.
	Revision int
	// Manifest is the rendered manifest, with the values of every Secret replaced by REDACTED.
	Manifest string
	// Notes is the chart's rendered NOTES.txt.
	Notes string
	// Preflight is the preflight report, empty when preflight was turned off.
	Preflight preflight.Report
}

// New checks the options and reads the deployment outputs, which may set the namespace. It
// contacts no cluster; the chart and the values are loaded on first use, so Uninstall works
// without the chart.
func New(opts ...Option) (*Installer, error) {
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	if o.releaseName == "" {
		return nil, errors.New("release name is empty: pass --release with a name such as " + DefaultReleaseName)
	}
	if o.timeout <= 0 {
		return nil, fmt.Errorf("timeout %s is not positive: pass --timeout with a duration such as 5m", o.timeout)
	}

	if o.values.Outputs == nil && o.outputsFile != "" {
		outputs, err := ReadOutputs(o.outputsFile)
		if err != nil {
			return nil, err
		}
		o.values.Outputs = outputs
	}

	namespace := o.namespace
	if namespace == "" && o.values.Outputs != nil {
		namespace = o.values.Outputs.ServiceAccountNamespace
	}
	if namespace == "" {
		namespace = DefaultNamespace
	}
	return &Installer{opts: o, namespace: namespace, outputs: o.values.Outputs}, nil
}

// load loads the chart and merges the values once.
func (i *Installer) load() error {
	if i.chart != nil {
		return nil
	}
	loaded, err := loadChart(i.opts.chartPath)
	if err != nil {
		return err
	}
	sources := i.opts.values
	sources.DefaultRepository = lookupString(loaded.Values, "image", "repository")
	values, err := sources.Merge()
	if err != nil {
		return err
	}
	i.chart, i.values = loaded, values
	return nil
}

// ReleaseName returns the Helm release name.
func (i *Installer) ReleaseName() string { return i.opts.releaseName }

// Namespace returns the release namespace.
func (i *Installer) Namespace() string { return i.namespace }

// Values loads the chart and returns the merged values passed to it, without the chart's own
// defaults. The result is a copy.
func (i *Installer) Values() (map[string]any, error) {
	if err := i.load(); err != nil {
		return nil, err
	}
	return i.valuesCopy(), nil
}

func (i *Installer) valuesCopy() map[string]any { return mergeValues(map[string]any{}, i.values) }

// Outputs returns the deployment outputs in use, or nil.
func (i *Installer) Outputs() *Outputs { return i.outputs }

// Kubeconfig returns the kubeconfig source the Installer talks to.
func (i *Installer) Kubeconfig() kubeconfig.Source { return i.opts.kube }

func (i *Installer) restConfig() (*rest.Config, error) {
	return i.opts.kube.RESTConfig()
}

func (i *Installer) logger() *slog.Logger {
	return i.opts.logger.With("release", i.opts.releaseName, "namespace", i.namespace)
}

// Preflight renders the chart offline, derives what it needs from the rendered objects, and runs
// the preflight checks against the cluster. Check failures are in the report, not the error.
func (i *Installer) Preflight(ctx context.Context) (preflight.Report, error) {
	if err := i.load(); err != nil {
		return preflight.Report{}, err
	}
	restConfig, err := i.restConfig()
	if err != nil {
		return preflight.Report{}, err
	}
	manifest, err := i.renderOffline(ctx, restConfig)
	if err != nil {
		return preflight.Report{}, err
	}
	objects, err := preflight.ParseManifest(manifest)
	if err != nil {
		return preflight.Report{}, err
	}

	config := preflight.ConfigFromManifest(i.namespace, objects)
	config.CreateNamespace = i.opts.createNamespace
	if outputs := i.outputs; outputs != nil {
		config.ResourceGroup = outputs.ResourceGroupName
		config.ClusterName = outputs.ClusterName
		config.OIDCIssuerURL = outputs.OIDCIssuerURL
		if identity := config.WorkloadIdentity; identity != nil {
			identity.ExpectedSubject = outputs.ServiceAccountSubject()
			identity.ExpectedClientID = outputs.WorkloadIdentityClientID
			config.FederatedCredentials = i.federatedCredentialSource()
		}
	}
	return preflight.Run(ctx, restConfig, config)
}

// federatedCredentialSource returns the WithFederatedCredentialSource source, else the Azure
// CLI.
func (i *Installer) federatedCredentialSource() preflight.FederatedCredentialSource {
	if i.opts.federatedSet {
		return i.opts.federated
	}
	return preflight.AzureCLICredentials{CLI: azcli.New(azcli.WithLogger(i.logger()))}
}

// runPreflight runs Preflight when it is on, prints its lines as progress, and returns the
// report's error when a check failed.
func (i *Installer) runPreflight(ctx context.Context) (preflight.Report, error) {
	if !i.opts.preflight {
		return preflight.Report{}, nil
	}
	i.progressf("preflight: checking the cluster for release %s in namespace %s", i.opts.releaseName, i.namespace)
	report, err := i.Preflight(ctx)
	if err != nil {
		return report, fmt.Errorf("preflight: %w", err)
	}
	for _, result := range report.Results {
		i.progressf("preflight: %s", result)
	}
	for _, result := range report.Results {
		if result.Status == preflight.Fail || result.Status == preflight.Warn {
			i.logger().Info("preflight check did not pass", "check", result.Check, "status", result.Status.String(), "message", result.Message)
		}
	}
	return report, report.Err()
}

// explainApplyError adds the fix to errors whose raw text does not say what to do.
func explainApplyError(err error) error {
	if err == nil {
		return nil
	}
	text := err.Error()
	switch {
	case strings.Contains(text, "no matches for kind"):
		return fmt.Errorf("%w (a CustomResourceDefinition the chart needs is missing: run edwctl preflight to name it and the fix)", err)
	case strings.Contains(text, "cannot re-use a name that is still in use"):
		return fmt.Errorf("%w (the release exists: use edwctl upgrade, or edwctl uninstall first)", err)
	}
	return err
}
