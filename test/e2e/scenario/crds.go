package scenario

import (
	"context"
	"strings"
	"testing"

	"github.com/gruntwork-io/terratest/modules/random"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/aks-edw/aks-edw/internal/installer"
	"github.com/aks-edw/aks-edw/internal/installer/kubeconfig"
	"github.com/aks-edw/aks-edw/internal/preflight"
)

// BareCluster is a cluster without KEDA's CustomResourceDefinitions, and without Karpenter's
// when NodePool is true in the values.
type BareCluster struct {
	Kubeconfig  string
	KubeContext string
	// ValuesFiles and Values are the chart values a real install on the target would use.
	ValuesFiles []string
	Values      map[string]any
	ChartPath   string
	// NodePool reports that the values turn the NodePool on, so Karpenter's NodePool CRD is
	// missing too.
	NodePool bool
}

// RequireMissingCRDsRejected installs the chart on a cluster that lacks the CRDs and requires
// that the install fails before anything is applied, naming each missing
// CustomResourceDefinition: first from the installer's preflight, then, with preflight off,
// from the chart's own check. The error must not be Kubernetes' raw "no matches for kind".
func RequireMissingCRDsRejected(t *testing.T, cluster BareCluster) {
	config, err := kubeconfig.Source{Path: cluster.Kubeconfig, Context: cluster.KubeContext}.RESTConfig()
	require.NoError(t, err)
	kube, err := kubernetes.NewForConfig(config)
	require.NoError(t, err)

	preflightNames := []string{"scaledobjects.keda.sh", "triggerauthentications.keda.sh"}
	chartNames := []string{"ScaledObject, TriggerAuthentication (keda.sh/v1alpha1)"}
	if cluster.NodePool {
		preflightNames = append(preflightNames, "nodepools.karpenter.sh")
		chartNames = append(chartNames, "NodePool (karpenter.sh/v1)")
	}

	cases := []struct {
		name      string
		preflight bool
		wantNames []string
		// wantPreflightError is true when the error must be preflight's report.
		wantPreflightError bool
	}{
		{"preflight names the CRDs", true, preflightNames, true},
		{"chart names the CRDs", false, chartNames, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			id := strings.ToLower(random.UniqueId())
			namespace, release := "e2e-bare-"+id, "aks-edw-bare-"+id
			t.Cleanup(func() { deleteNamespaceIfPresent(t, kube, namespace) })

			inst, err := installer.New(
				installer.WithKubeconfig(cluster.Kubeconfig),
				installer.WithKubeContext(cluster.KubeContext),
				installer.WithNamespace(namespace),
				installer.WithCreateNamespace(true),
				installer.WithReleaseName(release),
				installer.WithChart(cluster.ChartPath),
				installer.WithValuesFiles(cluster.ValuesFiles...),
				installer.WithValues(cluster.Values),
				installer.WithPreflight(tc.preflight),
				installer.WithProgress(testWriter{t}),
			)
			require.NoError(t, err)

			t.Logf("installing release %s into namespace %s on a cluster without the CRDs (preflight %t)", release, namespace, tc.preflight)
			_, err = inst.Install(ctx)
			require.Error(t, err)
			t.Logf("install failed as expected:\n%v", err)
			for _, name := range tc.wantNames {
				assert.Contains(t, err.Error(), name)
			}
			assert.NotContains(t, err.Error(), "no matches for kind")
			assert.Equal(t, tc.wantPreflightError, preflight.IsFailed(err), "error is preflight's report")

			if tc.preflight {
				_, err := kube.CoreV1().Namespaces().Get(ctx, namespace, metav1.GetOptions{})
				assert.True(t, apierrors.IsNotFound(err), "namespace %s must not be created when preflight fails: %v", namespace, err)
			}
			releases, err := kube.CoreV1().Secrets(namespace).List(ctx, metav1.ListOptions{LabelSelector: "owner=helm,name=" + release})
			require.NoError(t, err)
			assert.Empty(t, releases.Items, "Helm release records of %s", release)
		})
	}
}

func deleteNamespaceIfPresent(t *testing.T, kube kubernetes.Interface, namespace string) {
	err := kube.CoreV1().Namespaces().Delete(context.WithoutCancel(t.Context()), namespace, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		t.Errorf("cleanup: delete namespace %s: %v", namespace, err)
	}
}
