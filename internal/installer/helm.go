package installer

import (
	"context"
	"fmt"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chartutil"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
)

// helmDriver stores release records as Secrets in the release namespace, like the helm CLI.
const helmDriver = "secret"

// offlineAPIVersions are the custom APIs announced to the chart when it is rendered without the
// cluster, so that templates gated on them render and preflight can see every object.
var offlineAPIVersions = chartutil.VersionSet{
	"keda.sh/v1alpha1",
	"keda.sh/v1alpha1/ScaledObject",
	"keda.sh/v1alpha1/TriggerAuthentication",
	"karpenter.sh/v1",
	"karpenter.sh/v1/NodePool",
	"karpenter.azure.com/v1beta1",
	"karpenter.azure.com/v1beta1/AKSNodeClass",
	"karpenter.kwok.sh/v1alpha1",
	"karpenter.kwok.sh/v1alpha1/KWOKNodeClass",
}

// helmConfig returns a Helm action configuration bound to the release namespace.
func (i *Installer) helmConfig() (*action.Configuration, error) {
	// Loading the kubeconfig first turns a missing one into a clear error. Helm's getter would
	// fall back to http://localhost:8080 instead.
	if _, err := i.opts.kube.RESTConfig(); err != nil {
		return nil, err
	}
	config := new(action.Configuration)
	getter := i.opts.kube.RESTClientGetter(i.namespace)
	if err := config.Init(getter, i.namespace, helmDriver, i.helmLog); err != nil {
		return nil, fmt.Errorf("initialize Helm for namespace %s: %w", i.namespace, err)
	}
	return config, nil
}

// helmLog sends the Helm SDK's printf-style debug log to slog at debug level. Helm logs object
// names and counts here, not values.
func (i *Installer) helmLog(format string, args ...any) {
	i.logger().Debug(fmt.Sprintf(format, args...), "source", "helm")
}

// renderOffline renders the chart without applying or validating anything against the cluster,
// announcing the custom APIs the chart uses. The Kubernetes version comes from the cluster when
// it responds, else it is Helm's default.
func (i *Installer) renderOffline(ctx context.Context, restConfig *rest.Config) (string, error) {
	config := &action.Configuration{Log: i.helmLog}
	install := action.NewInstall(config)
	install.ClientOnly = true
	install.DryRun = true
	install.DryRunOption = "client"
	install.Replace = true
	install.ReleaseName = i.opts.releaseName
	install.Namespace = i.namespace
	install.APIVersions = offlineAPIVersions
	install.DisableHooks = true
	if version := serverVersion(restConfig); version != nil {
		install.KubeVersion = version
	}

	release, err := install.RunWithContext(ctx, i.chart, i.valuesCopy())
	if err != nil {
		return "", fmt.Errorf("render chart %s: %w", i.chart.Name(), err)
	}
	return release.Manifest, nil
}

// serverVersion returns the cluster's Kubernetes version, or nil when it does not respond within
// 5 seconds. Preflight reports an unreachable cluster on its own.
func serverVersion(restConfig *rest.Config) *chartutil.KubeVersion {
	config := rest.CopyConfig(restConfig)
	config.Timeout = 5 * time.Second
	client, err := discovery.NewDiscoveryClientForConfig(config)
	if err != nil {
		return nil
	}
	info, err := client.ServerVersion()
	if err != nil {
		return nil
	}
	version, err := chartutil.ParseKubeVersion(info.GitVersion)
	if err != nil {
		return nil
	}
	return version
}

// progressf writes one progress line with the time of day.
func (i *Installer) progressf(format string, args ...any) {
	fmt.Fprintf(i.opts.progress, "%s %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}
