package preflight

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const (
	// PodSecurityEnforceLabel is the namespace label that sets the Pod Security level the API
	// server enforces on pods.
	PodSecurityEnforceLabel = "pod-security.kubernetes.io/enforce"
	// PodSecurityRestricted is the strictest Pod Security level. The chart's pods meet it (non-root,
	// read-only root filesystem, no privilege escalation, all capabilities dropped, RuntimeDefault
	// seccomp).
	PodSecurityRestricted = "restricted"
)

// checkPodSecurity reads the namespace's Pod Security enforce label. A level below restricted is
// a warning, not a failure: the chart's pods are admitted either way, but the namespace then
// also admits pods that are not hardened.
func checkPodSecurity(ctx context.Context, c *clients, config Config) Result {
	namespace, err := c.kube.CoreV1().Namespaces().Get(ctx, config.Namespace, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		if config.CreateNamespace {
			return Result{
				Check:   "pod-security",
				Status:  Pass,
				Message: fmt.Sprintf("namespace %s does not exist yet and will be created with %s=%s", config.Namespace, PodSecurityEnforceLabel, PodSecurityRestricted),
			}
		}
		return Result{
			Check:   "pod-security",
			Status:  Fail,
			Message: fmt.Sprintf("namespace %s not found", config.Namespace),
			Fix: fmt.Sprintf("pass --create-namespace, or run kubectl create namespace %s && kubectl label namespace %s %s=%s",
				config.Namespace, config.Namespace, PodSecurityEnforceLabel, PodSecurityRestricted),
		}
	}
	if err != nil {
		return Result{
			Check:   "pod-security",
			Status:  Warn,
			Message: fmt.Sprintf("could not read namespace %s: %v", config.Namespace, err),
			Fix:     "grant get on namespaces, or check its labels yourself: kubectl get namespace " + config.Namespace + " --show-labels",
		}
	}

	level, labelled := namespace.Labels[PodSecurityEnforceLabel]
	fix := fmt.Sprintf("the chart's pods meet %s, so enforce it: kubectl label namespace %s %s=%s --overwrite",
		PodSecurityRestricted, config.Namespace, PodSecurityEnforceLabel, PodSecurityRestricted)
	switch {
	case !labelled:
		return Result{
			Check:   "pod-security",
			Status:  Warn,
			Message: fmt.Sprintf("namespace %s has no %s label, so the cluster default applies (privileged unless the API server's admission configuration says otherwise)", config.Namespace, PodSecurityEnforceLabel),
			Fix:     fix,
		}
	case level == PodSecurityRestricted:
		return Result{
			Check:   "pod-security",
			Status:  Pass,
			Message: fmt.Sprintf("namespace %s enforces Pod Security %s", config.Namespace, level),
		}
	case level == "baseline" || level == "privileged":
		return Result{
			Check:   "pod-security",
			Status:  Warn,
			Message: fmt.Sprintf("namespace %s enforces Pod Security %s, below %s", config.Namespace, level, PodSecurityRestricted),
			Fix:     fix,
		}
	default:
		return Result{
			Check:   "pod-security",
			Status:  Warn,
			Message: fmt.Sprintf("namespace %s has invalid %s=%q (valid: privileged, baseline, restricted)", config.Namespace, PodSecurityEnforceLabel, level),
			Fix:     fix,
		}
	}
}
