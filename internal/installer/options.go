package installer

import (
	"io"
	"log/slog"
	"time"

	"github.com/aks-edw/aks-edw/internal/installer/kubeconfig"
	"github.com/aks-edw/aks-edw/internal/preflight"
)

const (
	// DefaultReleaseName is the Helm release name when none is given.
	DefaultReleaseName = "aks-edw"
	// DefaultNamespace is the release namespace when neither an option nor the deployment
	// outputs name one.
	DefaultNamespace = "aks-edw"
	// DefaultTimeout bounds an install, upgrade or uninstall including its wait.
	DefaultTimeout = 5 * time.Minute
)

// Option configures an Installer.
type Option func(*options)

type options struct {
	kube            kubeconfig.Source
	namespace       string
	createNamespace bool
	releaseName     string
	chartPath       string
	values          ValueSources
	outputsFile     string
	dryRun          bool
	wait            bool
	atomic          bool
	timeout         time.Duration
	preflight       bool
	reuseValues     bool
	logger          *slog.Logger
	progress        io.Writer
	// federated replaces the Azure CLI as the source of federated credentials when
	// federatedSet is true; a nil source then turns the Azure check off.
	federated    preflight.FederatedCredentialSource
	federatedSet bool
}

func defaultOptions() options {
	return options{
		releaseName: DefaultReleaseName,
		wait:        true,
		atomic:      true,
		timeout:     DefaultTimeout,
		preflight:   true,
		logger:      slog.New(slog.DiscardHandler),
		progress:    io.Discard,
	}
}

// WithKubeconfig sets the kubeconfig file; empty means $KUBECONFIG or ~/.kube/config.
func WithKubeconfig(path string) Option {
	return func(o *options) { o.kube.Path = path }
}

// WithKubeContext sets the kubeconfig context; empty means the file's current context.
func WithKubeContext(name string) Option {
	return func(o *options) { o.kube.Context = name }
}

// WithNamespace sets the release namespace. Without it, the deployment outputs' ServiceAccount
// namespace is used, else DefaultNamespace.
func WithNamespace(namespace string) Option {
	return func(o *options) { o.namespace = namespace }
}

// WithCreateNamespace makes Install create a missing namespace, labelled to enforce the Pod
// Security restricted level.
func WithCreateNamespace(create bool) Option {
	return func(o *options) { o.createNamespace = create }
}

// WithReleaseName sets the Helm release name (default DefaultReleaseName).
func WithReleaseName(name string) Option {
	return func(o *options) { o.releaseName = name }
}

// WithChart sets the chart directory or archive. Without it, charts/aks-edw is looked up from
// the working directory upwards.
func WithChart(path string) Option {
	return func(o *options) { o.chartPath = path }
}

// WithValuesFiles adds values files, like helm -f; later files win.
func WithValuesFiles(paths ...string) Option {
	return func(o *options) { o.values.Files = append(o.values.Files, paths...) }
}

// WithValues merges values given as a nested map. They win over values files and lose to
// WithSet and WithSetString.
func WithValues(values map[string]any) Option {
	return func(o *options) {
		if o.values.Values == nil {
			o.values.Values = map[string]any{}
		}
		o.values.Values = mergeValues(o.values.Values, values)
	}
}

// WithSet adds helm --set expressions (key.path=value).
func WithSet(expressions ...string) Option {
	return func(o *options) { o.values.Set = append(o.values.Set, expressions...) }
}

// WithSetString adds helm --set-string expressions, whose values stay strings.
func WithSetString(expressions ...string) Option {
	return func(o *options) { o.values.SetString = append(o.values.SetString, expressions...) }
}

// WithOutputsFile reads the infrastructure deployment's outputs from path and maps them to chart
// values below every explicit value. An empty path reads no outputs.
func WithOutputsFile(path string) Option {
	return func(o *options) { o.outputsFile = path }
}

// WithOutputs uses outputs already parsed, as edwctl deploy has them in memory.
func WithOutputs(outputs *Outputs) Option {
	return func(o *options) { o.values.Outputs = outputs }
}

// WithDryRun renders the manifests against the cluster's capabilities and applies nothing.
func WithDryRun(dryRun bool) Option {
	return func(o *options) { o.dryRun = dryRun }
}

// WithWait makes Install and Upgrade wait until the Deployment is available and the
// ScaledObject is Ready, and Uninstall wait until every object is gone (default true).
func WithWait(wait bool) Option {
	return func(o *options) { o.wait = wait }
}

// WithAtomic makes a failed Install uninstall the release and a failed Upgrade roll back to the
// previous revision (default true). A failure includes the wait timing out.
func WithAtomic(atomic bool) Option {
	return func(o *options) { o.atomic = atomic }
}

// WithTimeout bounds the whole operation including the wait (default DefaultTimeout).
func WithTimeout(timeout time.Duration) Option {
	return func(o *options) { o.timeout = timeout }
}

// WithPreflight turns the preflight checks before Install and Upgrade on or off (default on).
func WithPreflight(run bool) Option {
	return func(o *options) { o.preflight = run }
}

// WithReuseValues makes Upgrade start from the release's last values instead of the chart's
// defaults, like helm upgrade --reuse-values.
func WithReuseValues(reuse bool) Option {
	return func(o *options) { o.reuseValues = reuse }
}

// WithFederatedCredentialSource sets where preflight reads the identity's federated
// credentials. By default, when deployment outputs name the resource group, preflight reads
// them with the Azure CLI; nil turns that check off.
func WithFederatedCredentialSource(source preflight.FederatedCredentialSource) Option {
	return func(o *options) { o.federated, o.federatedSet = source, true }
}

// WithLogger sets the structured logger; the Helm SDK's debug log goes to it at debug level.
func WithLogger(logger *slog.Logger) Option {
	return func(o *options) {
		if logger != nil {
			o.logger = logger
		}
	}
}

// WithProgress sets where progress lines go, one per step or state change (default none).
func WithProgress(w io.Writer) Option {
	return func(o *options) {
		if w != nil {
			o.progress = w
		}
	}
}
