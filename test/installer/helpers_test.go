//go:build e2esim

// This file contains what the installer tests share: CRDs from the pinned KEDA and Karpenter Go
// modules, unique names, and namespaces with Pod Security labels. It also has the values of a
// release like the simulated cluster's, and a replacement for the controllers that a bare
// control plane lacks.
package installer_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensionsclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/aks-edw/aks-edw/internal/installer"
	"github.com/aks-edw/aks-edw/internal/preflight"
	"github.com/aks-edw/aks-edw/internal/status"
	"github.com/aks-edw/aks-edw/internal/versions"
)

// chartDir is the repository's chart, relative to this package.
const chartDir = "../../charts/aks-edw"

// CRD files, relative to their module roots.
var (
	kedaCRDs = []string{
		"config/crd/bases/keda.sh_scaledobjects.yaml",
		"config/crd/bases/keda.sh_triggerauthentications.yaml",
	}
	karpenterCRDs = []string{
		"kwok/charts/crds/karpenter.sh_nodepools.yaml",
		"kwok/charts/crds/karpenter.sh_nodeclaims.yaml",
		"kwok/apis/crds/karpenter.kwok.sh_kwoknodeclasses.yaml",
	}
	kwokNodeClassResource = schema.GroupVersionResource{Group: "karpenter.kwok.sh", Version: "v1alpha1", Resource: "kwoknodeclasses"}
)

// moduleDir returns the module cache folder of module@version, downloading it through the Go
// module proxy when it is not cached.
func moduleDir(t *testing.T, module, version string) string {
	t.Helper()
	output, err := exec.Command("go", "mod", "download", "-json", module+"@"+version).Output()
	require.NoError(t, err, "go mod download %s@%s", module, version)
	var info struct{ Dir string }
	require.NoError(t, json.Unmarshal(output, &info))
	require.NotEmpty(t, info.Dir, "go mod download %s@%s returned no folder", module, version)
	return info.Dir
}

// installKEDACRDs installs the ScaledObject and TriggerAuthentication CRDs of the pinned KEDA.
func installKEDACRDs(t *testing.T, plane *controlPlane) {
	t.Helper()
	installCRDs(t, plane, moduleDir(t, versions.KEDAModule, versions.KEDA), kedaCRDs)
}

// installKarpenterCRDs installs the NodePool, NodeClaim and KWOKNodeClass CRDs of the pinned
// Karpenter and creates the KWOKNodeClass "default" that the simulated cluster's values use.
func installKarpenterCRDs(t *testing.T, plane *controlPlane) {
	t.Helper()
	installCRDs(t, plane, moduleDir(t, "sigs.k8s.io/karpenter", versions.Karpenter), karpenterCRDs)

	client, err := dynamic.NewForConfig(plane.config)
	require.NoError(t, err)
	nodeClass := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "karpenter.kwok.sh/v1alpha1",
		"kind":       "KWOKNodeClass",
		"metadata":   map[string]any{"name": "default"},
	}}
	_, err = client.Resource(kwokNodeClassResource).Create(context.Background(), nodeClass, metav1.CreateOptions{})
	if !apierrors.IsAlreadyExists(err) {
		require.NoError(t, err)
	}
}

func installCRDs(t *testing.T, plane *controlPlane, root string, files []string) {
	t.Helper()
	client, err := apiextensionsclient.NewForConfig(plane.config)
	require.NoError(t, err)
	crds := client.ApiextensionsV1().CustomResourceDefinitions()

	for _, file := range files {
		data, err := os.ReadFile(filepath.Join(root, file))
		require.NoError(t, err)
		crd := &apiextensionsv1.CustomResourceDefinition{}
		require.NoError(t, yaml.Unmarshal(data, crd), file)

		_, err = crds.Create(context.Background(), crd, metav1.CreateOptions{})
		if !apierrors.IsAlreadyExists(err) {
			require.NoError(t, err, file)
		}
		err = wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
			current, err := crds.Get(ctx, crd.Name, metav1.GetOptions{})
			if err != nil {
				return false, nil
			}
			for _, condition := range current.Status.Conditions {
				if condition.Type == apiextensionsv1.Established && condition.Status == apiextensionsv1.ConditionTrue {
					return true, nil
				}
			}
			return false, nil
		})
		require.NoError(t, err, "CRD %s not Established", crd.Name)
	}
}

// uniqueName returns prefix with a random suffix, valid as a namespace or release name.
func uniqueName(prefix string) string {
	suffix := make([]byte, 3)
	_, _ = rand.Read(suffix)
	return prefix + "-" + hex.EncodeToString(suffix)
}

// createNamespace creates a namespace with the given Pod Security enforce level ("" for no
// label) and deletes it when the test ends.
func createNamespace(t *testing.T, plane *controlPlane, name, enforce string) {
	t.Helper()
	client := kubeClient(t, plane)
	namespace := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{}}}
	if enforce != "" {
		namespace.Labels[preflight.PodSecurityEnforceLabel] = enforce
	}
	_, err := client.CoreV1().Namespaces().Create(context.Background(), namespace, metav1.CreateOptions{})
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = client.CoreV1().Namespaces().Delete(context.Background(), name, metav1.DeleteOptions{})
	})
}

func kubeClient(t *testing.T, plane *controlPlane) kubernetes.Interface {
	t.Helper()
	client, err := kubernetes.NewForConfig(plane.config)
	require.NoError(t, err)
	return client
}

func dynamicClient(t *testing.T, plane *controlPlane) dynamic.Interface {
	t.Helper()
	client, err := dynamic.NewForConfig(plane.config)
	require.NoError(t, err)
	return client
}

// progressWriter sends the installer's progress lines to the test log.
type progressWriter struct{ t *testing.T }

func (w progressWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// simOptions returns installer options for a release like the simulated cluster's: connection
// string auth against Azurite's well-known development account, and the NodePool on the
// KWOKNodeClass "default".
func simOptions(t *testing.T, plane *controlPlane, namespace, release string, extra ...installer.Option) []installer.Option {
	return append([]installer.Option{
		installer.WithKubeconfig(plane.kubeconfig),
		installer.WithChart(chartDir),
		installer.WithNamespace(namespace),
		installer.WithReleaseName(release),
		installer.WithProgress(progressWriter{t}),
		installer.WithSet(
			"auth.mode=connectionString",
			"storage.queueName=orders",
			"storage.tableName=orderrows",
			"nodePool.nodeClassRef.group=karpenter.kwok.sh",
			"nodePool.nodeClassRef.kind=KWOKNodeClass",
			"nodePool.nodeClassRef.name=default",
		),
		installer.WithSetString("auth.connectionString.value=UseDevelopmentStorage=true"),
	}, extra...)
}

// markReady replaces the Deployment controller and the KEDA operator, which a bare control plane
// does not run. Every 300ms it marks each Deployment in namespace rolled out and Available, and
// each ScaledObject Ready. It stops when ctx ends.
func markReady(ctx context.Context, t *testing.T, plane *controlPlane, namespace string) {
	t.Helper()
	client := kubeClient(t, plane)
	dyn := dynamicClient(t, plane)
	go func() {
		for ctx.Err() == nil {
			markDeploymentsAvailable(ctx, client, namespace)
			markScaledObjectsReady(ctx, dyn, namespace)
			select {
			case <-ctx.Done():
			case <-time.After(300 * time.Millisecond):
			}
		}
	}()
}

func markDeploymentsAvailable(ctx context.Context, client kubernetes.Interface, namespace string) {
	deployments, err := client.AppsV1().Deployments(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return
	}
	for i := range deployments.Items {
		deployment := &deployments.Items[i]
		if deployment.Status.ObservedGeneration >= deployment.Generation {
			continue
		}
		replicas := int32(1)
		if deployment.Spec.Replicas != nil {
			replicas = *deployment.Spec.Replicas
		}
		deployment.Status = appsv1.DeploymentStatus{
			ObservedGeneration: deployment.Generation,
			Replicas:           replicas,
			UpdatedReplicas:    replicas,
			ReadyReplicas:      replicas,
			AvailableReplicas:  replicas,
			Conditions: []appsv1.DeploymentCondition{{
				Type:               appsv1.DeploymentAvailable,
				Status:             corev1.ConditionTrue,
				Reason:             "MinimumReplicasAvailable",
				Message:            "marked by the installer test",
				LastUpdateTime:     metav1.Now(),
				LastTransitionTime: metav1.Now(),
			}},
		}
		_, _ = client.AppsV1().Deployments(namespace).UpdateStatus(ctx, deployment, metav1.UpdateOptions{})
	}
}

func markScaledObjectsReady(ctx context.Context, dyn dynamic.Interface, namespace string) {
	resource := dyn.Resource(status.ScaledObjectResource).Namespace(namespace)
	list, err := resource.List(ctx, metav1.ListOptions{})
	if err != nil {
		return
	}
	for i := range list.Items {
		object := &list.Items[i]
		if status.FindCondition(object, "Ready").IsTrue() {
			continue
		}
		conditions := []any{
			map[string]any{"type": "Ready", "status": "True", "reason": "ScaledObjectReady", "message": "marked by the installer test"},
			map[string]any{"type": "Active", "status": "False", "reason": "ScalerNotActive", "message": "marked by the installer test"},
		}
		if err := unstructured.SetNestedSlice(object.Object, conditions, "status", "conditions"); err != nil {
			continue
		}
		_ = unstructured.SetNestedField(object.Object, "keda-hpa-"+object.GetName(), "status", "hpaName")
		_, _ = resource.UpdateStatus(ctx, object, metav1.UpdateOptions{})
	}
}

// resultFor returns the first result of check in report, failing the test when there is none.
func resultFor(t *testing.T, report preflight.Report, check string) preflight.Result {
	t.Helper()
	for _, result := range report.Results {
		if result.Check == check {
			return result
		}
	}
	require.Failf(t, "check missing", "no %q result in the report:\n%s", check, reportText(report))
	return preflight.Result{}
}

func reportText(report preflight.Report) string {
	var b strings.Builder
	_, _ = report.WriteTo(&b)
	return b.String()
}

func logReport(t *testing.T, report preflight.Report) {
	t.Helper()
	t.Logf("preflight report:\n%s", reportText(report))
}

// failuresText joins the failure lines of report.
func failuresText(report preflight.Report) string {
	var lines []string
	for _, failure := range report.Failures() {
		lines = append(lines, failure.String())
	}
	return strings.Join(lines, "\n")
}
