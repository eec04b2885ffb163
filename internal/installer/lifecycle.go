package installer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage/driver"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/aks-edw/aks-edw/internal/preflight"
)

// cleanupTimeout bounds the uninstall or rollback after a failure, which runs even when the
// caller's context was cancelled (for example by SIGTERM during the wait).
const cleanupTimeout = 2 * time.Minute

// Install runs preflight, installs the release and, with wait on, waits until the Deployment is
// available and the ScaledObject is Ready. With dry-run on it renders against the cluster and
// applies nothing; the manifest is in the result.
func (i *Installer) Install(ctx context.Context) (*Result, error) {
	ctx, cancel := context.WithTimeout(ctx, i.opts.timeout)
	defer cancel()
	log := i.logger()
	result := &Result{ReleaseName: i.opts.releaseName, Namespace: i.namespace}
	if err := i.load(); err != nil {
		return result, err
	}

	report, err := i.runPreflight(ctx)
	result.Preflight = report
	if err != nil {
		return result, err
	}

	if i.opts.createNamespace && !i.opts.dryRun {
		if err := i.ensureNamespace(ctx); err != nil {
			return result, err
		}
	}

	config, err := i.helmConfig()
	if err != nil {
		return result, err
	}
	install := action.NewInstall(config)
	install.ReleaseName = i.opts.releaseName
	install.Namespace = i.namespace
	install.Timeout = i.opts.timeout
	install.DryRun = i.opts.dryRun
	if i.opts.dryRun {
		install.DryRunOption = "server"
	}

	if i.opts.dryRun {
		i.progressf("install: rendering release %s against the cluster (dry run, nothing is applied)", i.opts.releaseName)
	} else {
		i.progressf("install: applying release %s to namespace %s", i.opts.releaseName, i.namespace)
	}
	log.Info("installing release", "chart", i.chart.Name(), "chartVersion", i.chart.Metadata.Version, "dryRun", i.opts.dryRun)
	rel, err := install.RunWithContext(ctx, i.chart, i.valuesCopy())
	if err != nil {
		err = explainApplyError(err)
		// NOTE: a release returned with status failed was stored and partly applied. A nil
		// release means Helm stopped before touching the cluster (for example, because the
		// name is in use), so nothing may be uninstalled then.
		if i.opts.atomic && !i.opts.dryRun && rel != nil && rel.Info != nil && rel.Info.Status == release.StatusFailed {
			return result, i.uninstallAfterFailure(fmt.Errorf("install release %s: %w", i.opts.releaseName, err))
		}
		return result, fmt.Errorf("install release %s: %w", i.opts.releaseName, err)
	}
	fillResult(result, rel)

	if i.opts.dryRun {
		result.Revision = 0
		return result, nil
	}
	i.progressf("install: release %s revision %d applied", rel.Name, rel.Version)

	if i.opts.wait {
		if err := i.waitReady(ctx, rel.Manifest); err != nil {
			if i.opts.atomic {
				return result, i.uninstallAfterFailure(err)
			}
			return result, err
		}
	}
	log.Info("release installed", "revision", rel.Version)
	return result, nil
}

// Upgrade runs preflight, upgrades the release and waits like Install. With atomic on, a failed
// upgrade rolls back to the revision that was deployed before it.
func (i *Installer) Upgrade(ctx context.Context) (*Result, error) {
	ctx, cancel := context.WithTimeout(ctx, i.opts.timeout)
	defer cancel()
	log := i.logger()
	result := &Result{ReleaseName: i.opts.releaseName, Namespace: i.namespace}
	if err := i.load(); err != nil {
		return result, err
	}

	config, err := i.helmConfig()
	if err != nil {
		return result, err
	}
	previous, err := lastDeployedRevision(config, i.opts.releaseName)
	if err != nil {
		return result, i.explainMissingRelease(err)
	}

	report, err := i.runPreflight(ctx)
	result.Preflight = report
	if err != nil {
		return result, err
	}

	upgrade := action.NewUpgrade(config)
	upgrade.Namespace = i.namespace
	upgrade.Timeout = i.opts.timeout
	upgrade.ReuseValues = i.opts.reuseValues
	upgrade.MaxHistory = 10
	upgrade.DryRun = i.opts.dryRun
	if i.opts.dryRun {
		upgrade.DryRunOption = "server"
		i.progressf("upgrade: rendering release %s against the cluster (dry run, nothing is applied)", i.opts.releaseName)
	} else {
		i.progressf("upgrade: applying release %s over revision %d", i.opts.releaseName, previous)
	}
	log.Info("upgrading release", "chart", i.chart.Name(), "chartVersion", i.chart.Metadata.Version, "fromRevision", previous, "dryRun", i.opts.dryRun)

	rel, err := upgrade.RunWithContext(ctx, i.opts.releaseName, i.chart, i.valuesCopy())
	if err != nil {
		err = fmt.Errorf("upgrade release %s: %w", i.opts.releaseName, explainApplyError(err))
		if i.opts.atomic && !i.opts.dryRun && rel != nil && rel.Info != nil && rel.Info.Status == release.StatusFailed {
			return result, i.rollbackAfterFailure(err, config, previous)
		}
		return result, err
	}
	fillResult(result, rel)

	if i.opts.dryRun {
		result.Revision = 0
		return result, nil
	}
	i.progressf("upgrade: release %s revision %d applied", rel.Name, rel.Version)

	if i.opts.wait {
		if err := i.waitReady(ctx, rel.Manifest); err != nil {
			if i.opts.atomic {
				return result, i.rollbackAfterFailure(err, config, previous)
			}
			return result, err
		}
	}
	log.Info("release upgraded", "revision", rel.Version)
	return result, nil
}

// Uninstall deletes the release and, with wait on, waits until every object it had is gone,
// including the cluster-scoped NodePool, which Karpenter deletes only after draining its nodes.
// It returns an error wrapping ErrReleaseNotFound when there is no such release.
func (i *Installer) Uninstall(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, i.opts.timeout)
	defer cancel()

	config, err := i.helmConfig()
	if err != nil {
		return err
	}
	rel, err := action.NewGet(config).Run(i.opts.releaseName)
	if err != nil {
		return i.explainMissingRelease(err)
	}

	i.progressf("uninstall: deleting release %s revision %d from namespace %s", rel.Name, rel.Version, i.namespace)
	i.logger().Info("uninstalling release", "revision", rel.Version)
	uninstall := action.NewUninstall(config)
	uninstall.Timeout = i.opts.timeout
	uninstall.DeletionPropagation = "background"
	if _, err := uninstall.Run(i.opts.releaseName); err != nil {
		return fmt.Errorf("uninstall release %s: %w", i.opts.releaseName, err)
	}

	if i.opts.wait {
		if err := i.waitGone(ctx, rel.Manifest); err != nil {
			return err
		}
	}
	i.progressf("uninstall: release %s removed", i.opts.releaseName)
	return nil
}

func (i *Installer) explainMissingRelease(err error) error {
	if errors.Is(err, driver.ErrReleaseNotFound) {
		return fmt.Errorf("%w: no release %s in namespace %s (check --namespace and --release; edwctl install creates it)",
			ErrReleaseNotFound, i.opts.releaseName, i.namespace)
	}
	if errors.Is(err, driver.ErrNoDeployedReleases) {
		return fmt.Errorf("%w: release %s in namespace %s has no deployed revision, only failed ones (run edwctl uninstall, then edwctl install)",
			ErrReleaseNotFound, i.opts.releaseName, i.namespace)
	}
	return fmt.Errorf("read release %s in namespace %s: %w", i.opts.releaseName, i.namespace, err)
}

// lastDeployedRevision returns the release's newest revision that is deployed or superseded, the
// one a failed upgrade rolls back to.
func lastDeployedRevision(config *action.Configuration, name string) (int, error) {
	history, err := action.NewHistory(config).Run(name)
	if err != nil {
		return 0, err
	}
	revision := 0
	for _, rel := range history {
		if rel.Info == nil {
			continue
		}
		if rel.Info.Status != release.StatusDeployed && rel.Info.Status != release.StatusSuperseded {
			continue
		}
		revision = max(revision, rel.Version)
	}
	if revision == 0 {
		return 0, driver.ErrNoDeployedReleases
	}
	return revision, nil
}

func fillResult(result *Result, rel *release.Release) {
	result.Revision = rel.Version
	result.Manifest = RedactSecrets(rel.Manifest)
	if rel.Info != nil {
		result.Notes = rel.Info.Notes
	}
}

// uninstallAfterFailure removes a release whose install failed, and returns cause together with
// the outcome of the removal.
func (i *Installer) uninstallAfterFailure(cause error) error {
	i.progressf("install: failed, uninstalling release %s (atomic): %v", i.opts.releaseName, cause)
	i.logger().Info("uninstalling the release after a failed install")

	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	cleanup := *i
	cleanup.opts.wait = false
	if err := cleanup.Uninstall(ctx); err != nil && !errors.Is(err, ErrReleaseNotFound) {
		return fmt.Errorf("%w; uninstalling the failed release also failed: %v (run edwctl uninstall)", cause, err)
	}
	return fmt.Errorf("%w; the release was uninstalled (atomic)", cause)
}

// rollbackAfterFailure rolls the release back to revision and returns cause together with the
// outcome of the rollback.
func (i *Installer) rollbackAfterFailure(cause error, config *action.Configuration, revision int) error {
	i.progressf("upgrade: failed, rolling release %s back to revision %d (atomic): %v", i.opts.releaseName, revision, cause)
	i.logger().Info("rolling back the release after a failed upgrade", "toRevision", revision)

	rollback := action.NewRollback(config)
	rollback.Version = revision
	rollback.Timeout = cleanupTimeout
	rollback.MaxHistory = 10
	if err := rollback.Run(i.opts.releaseName); err != nil {
		return fmt.Errorf("%w; rolling back to revision %d also failed: %v (run helm rollback %s %d -n %s)",
			cause, revision, err, i.opts.releaseName, revision, i.namespace)
	}
	return fmt.Errorf("%w; the release was rolled back to revision %d (atomic)", cause, revision)
}

// ensureNamespace creates the release namespace when it is missing, labelled to enforce Pod
// Security restricted, which the chart's pods meet. An existing namespace is left as it is.
func (i *Installer) ensureNamespace(ctx context.Context) error {
	restConfig, err := i.restConfig()
	if err != nil {
		return err
	}
	client, err := kubernetes.NewForConfig(restConfig)
	if err != nil {
		return fmt.Errorf("create Kubernetes client: %w", err)
	}
	namespace := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name:   i.namespace,
		Labels: map[string]string{preflight.PodSecurityEnforceLabel: preflight.PodSecurityRestricted},
	}}
	_, err = client.CoreV1().Namespaces().Create(ctx, namespace, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("create namespace %s: %w", i.namespace, err)
	}
	i.progressf("install: created namespace %s with %s=%s", i.namespace, preflight.PodSecurityEnforceLabel, preflight.PodSecurityRestricted)
	return nil
}
