//go:build e2esim

// This file tests edwctl's installer, preflight and status libraries against a real
// kube-apiserver with the real KEDA and Karpenter CRDs. It covers preflight naming missing CRDs
// before anything is applied, and the Pod Security and workload identity checks against real
// API objects. It also covers dry-run applying nothing, install/upgrade/uninstall including the
// cluster-scoped NodePool, and the atomic uninstall and rollback after a failed wait. No
// controller runs, so the tests mark the Deployment available and the ScaledObject Ready
// themselves where a wait needs it.
package installer_test

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azqueue"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensionsclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/aks-edw/aks-edw/internal/azcli/azclitest"
	"github.com/aks-edw/aks-edw/internal/azurite"
	"github.com/aks-edw/aks-edw/internal/installer"
	"github.com/aks-edw/aks-edw/internal/preflight"
	"github.com/aks-edw/aks-edw/internal/status"
)

// shared is the control plane with every CRD installed, started by the first test that needs
// it and stopped by TestMain.
var shared struct {
	once  sync.Once
	plane *controlPlane
	err   error
	ready bool
}

func TestMain(m *testing.M) {
	// The workload identity test reads federated credentials through a fake az.
	azclitest.RunIfFake()
	code := m.Run()
	if shared.plane != nil {
		shared.plane.stop()
	}
	os.Exit(code)
}

func sharedControlPlane(t *testing.T) *controlPlane {
	t.Helper()
	shared.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		shared.plane, shared.err = startControlPlane(ctx)
		if shared.err != nil {
			return
		}
		installKEDACRDs(t, shared.plane)
		installKarpenterCRDs(t, shared.plane)
		shared.ready = true
	})
	require.NoError(t, shared.err)
	require.True(t, shared.ready, "installing the CRDs into the shared control plane failed in an earlier test")
	return shared.plane
}

func TestPreflightNamesMissingCRDs(t *testing.T) {
	ctx := context.Background()
	plane := newControlPlane(t)
	namespace := uniqueName("crds")
	createNamespace(t, plane, namespace, preflight.PodSecurityRestricted)
	inst, err := installer.New(simOptions(t, plane, namespace, uniqueName("aks-edw"))...)
	require.NoError(t, err)

	t.Log("Preflight on a cluster without KEDA and Karpenter names every missing CRD with its fix.")
	report, err := inst.Preflight(ctx)
	require.NoError(t, err)
	logReport(t, report)
	failures := failuresText(report)
	assert.Contains(t, failures, "scaledobjects.keda.sh")
	assert.Contains(t, failures, "triggerauthentications.keda.sh")
	assert.Contains(t, failures, "install KEDA")
	assert.Contains(t, failures, "nodepools.karpenter.sh")
	assert.Contains(t, failures, "kwoknodeclasses.karpenter.kwok.sh")
	assert.NotContains(t, reportText(report), "no matches for kind")

	t.Log("Install stops in preflight, before the namespace gets any object.")
	_, err = inst.Install(ctx)
	require.Error(t, err)
	assert.True(t, preflight.IsFailed(err))
	assert.Contains(t, err.Error(), "scaledobjects.keda.sh")
	assert.Contains(t, err.Error(), "nothing was applied")
	assert.NotContains(t, err.Error(), "no matches for kind")
	assertNothingInstalled(t, plane, namespace)

	t.Log("With KEDA's CRDs installed, only Karpenter's are reported.")
	installKEDACRDs(t, plane)
	report, err = inst.Preflight(ctx)
	require.NoError(t, err)
	failures = failuresText(report)
	assert.NotContains(t, failures, "keda.sh")
	assert.Contains(t, failures, "nodepools.karpenter.sh")

	t.Log("A NodePool CRD that serves only v1beta1 is reported as the wrong version, not as missing.")
	oldNodePool := createOldNodePoolCRD(t, plane)
	report, err = inst.Preflight(ctx)
	require.NoError(t, err)
	failures = failuresText(report)
	assert.Contains(t, failures, "CustomResourceDefinition nodepools.karpenter.sh serves v1beta1 but the chart needs karpenter.sh/v1 NodePool")
	deleteCRD(t, plane, oldNodePool)

	t.Log("With Karpenter's CRDs and the KWOKNodeClass too, preflight passes.")
	installKarpenterCRDs(t, plane)
	report, err = inst.Preflight(ctx)
	require.NoError(t, err)
	logReport(t, report)
	assert.Empty(t, report.Failures())
	assert.Equal(t, preflight.Pass, resultFor(t, report, "node-class").Status)
}

func TestPreflightPodSecurityLevels(t *testing.T) {
	ctx := context.Background()
	plane := sharedControlPlane(t)

	cases := []struct {
		name            string
		enforce         string
		create          bool
		createNamespace bool
		status          preflight.Status
		message         string
	}{
		{name: "restricted passes", enforce: "restricted", create: true, status: preflight.Pass, message: "enforces Pod Security restricted"},
		{name: "baseline warns", enforce: "baseline", create: true, status: preflight.Warn, message: "enforces Pod Security baseline, below restricted"},
		{name: "privileged warns", enforce: "privileged", create: true, status: preflight.Warn, message: "below restricted"},
		{name: "no label warns", enforce: "", create: true, status: preflight.Warn, message: "has no pod-security.kubernetes.io/enforce label"},
		{name: "missing namespace fails", create: false, status: preflight.Fail, message: "not found"},
		{name: "missing namespace with create passes", create: false, createNamespace: true, status: preflight.Pass, message: "will be created with pod-security.kubernetes.io/enforce=restricted"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			namespace := uniqueName("psa")
			if tc.create {
				createNamespace(t, plane, namespace, tc.enforce)
			}
			inst, err := installer.New(simOptions(t, plane, namespace, uniqueName("aks-edw"), installer.WithCreateNamespace(tc.createNamespace))...)
			require.NoError(t, err)

			report, err := inst.Preflight(ctx)
			require.NoError(t, err)

			result := resultFor(t, report, "pod-security")
			assert.Equal(t, tc.status, result.Status, result.String())
			assert.Contains(t, result.Message, tc.message)
			if tc.status == preflight.Warn {
				assert.Contains(t, result.Fix, "kubectl label namespace "+namespace+" pod-security.kubernetes.io/enforce=restricted --overwrite")
			}
		})
	}
}

func TestPreflightWorkloadIdentity(t *testing.T) {
	ctx := context.Background()
	plane := sharedControlPlane(t)
	namespace := uniqueName("wi")
	createNamespace(t, plane, namespace, preflight.PodSecurityRestricted)
	outputs := &installer.Outputs{
		StorageAccountName:       "edwstore",
		QueueName:                "orders",
		TableName:                "orderrows",
		WorkloadIdentityClientID: "11111111-2222-3333-4444-555555555555",
		TenantID:                 "66666666-7777-8888-9999-000000000000",
		ServiceAccountNamespace:  namespace,
		ServiceAccountName:       "edw-consumer",
		ResourceGroupName:        "rg-edw",
		ClusterName:              "edw-aks",
		OIDCIssuerURL:            "https://issuer.example/edw/",
	}
	identityOptions := func(extra ...installer.Option) []installer.Option {
		return append([]installer.Option{
			installer.WithKubeconfig(plane.kubeconfig),
			installer.WithChart(chartDir),
			installer.WithReleaseName(uniqueName("aks-edw")),
			installer.WithOutputs(outputs),
			installer.WithSet(
				"nodePool.nodeClassRef.group=karpenter.kwok.sh",
				"nodePool.nodeClassRef.kind=KWOKNodeClass",
			),
		}, extra...)
	}
	runPreflight := func(t *testing.T, opts ...installer.Option) preflight.Report {
		t.Helper()
		inst, err := installer.New(identityOptions(opts...)...)
		require.NoError(t, err)
		report, err := inst.Preflight(ctx)
		require.NoError(t, err)
		logReport(t, report)
		return report
	}

	t.Log("In Azure, the identity has a federated credential for the consumer only.")
	consumerCredential := `{"name": "consumer", "issuer": "https://issuer.example/edw/", "subject": "system:serviceaccount:` + namespace + `:edw-consumer", "audiences": ["api://AzureADTokenExchange"]}`
	operatorCredential := `{"name": "keda-operator", "issuer": "https://issuer.example/edw/", "subject": "system:serviceaccount:kube-system:keda-operator", "audiences": ["api://AzureADTokenExchange"]}`
	identityList := azclitest.Rule{Args: []string{"identity", "list"}, Stdout: `[{"name": "id-edw", "clientId": "11111111-2222-3333-4444-555555555555"}]`}
	azclitest.Install(t, identityList, azclitest.Rule{
		Args: []string{"identity", "federated-credential", "list"}, Stdout: "[" + consumerCredential + "]",
	})

	t.Log("Without the webhook and the KEDA operator, both checks fail; the subject and client id match the outputs.")
	report := runPreflight(t)
	assert.Equal(t, preflight.Pass, resultFor(t, report, "federated-subject").Status)
	assert.Contains(t, resultFor(t, report, "federated-subject").Message, "system:serviceaccount:"+namespace+":edw-consumer")
	assert.Equal(t, preflight.Pass, resultFor(t, report, "client-id").Status)
	assert.Equal(t, preflight.Fail, resultFor(t, report, "workload-identity-webhook").Status)
	assert.Contains(t, resultFor(t, report, "workload-identity-webhook").Fix, "az aks update --resource-group rg-edw --name edw-aks --enable-oidc-issuer --enable-workload-identity")
	keda := resultFor(t, report, "keda-identity")
	assert.Equal(t, preflight.Fail, keda.Status)
	assert.Contains(t, keda.Message, "Deployment keda-operator not found in kube-system or keda")
	federated := resultFor(t, report, "federated-credentials")
	assert.Equal(t, preflight.Fail, federated.Status)
	assert.Contains(t, federated.Message, "identity id-edw has no federated credential for system:serviceaccount:kube-system:keda-operator")
	assert.Contains(t, federated.Fix, "az identity federated-credential create --name keda-operator --identity-name id-edw --resource-group rg-edw --issuer https://issuer.example/edw/ --subject system:serviceaccount:kube-system:keda-operator --audience api://AzureADTokenExchange")

	t.Log("Add the webhook configuration and a keda-operator whose pod has neither the label nor the token.")
	createWebhookConfiguration(t, plane)
	createKEDAOperator(t, plane, false)
	report = runPreflight(t)
	assert.Equal(t, preflight.Pass, resultFor(t, report, "workload-identity-webhook").Status)
	keda = resultFor(t, report, "keda-identity")
	assert.Equal(t, preflight.Fail, keda.Status)
	assert.Contains(t, keda.Message, "lacks the label azure.workload.identity/use=true and has no AZURE_FEDERATED_TOKEN_FILE")
	assert.Contains(t, keda.Fix, "--subject system:serviceaccount:kube-system:keda-operator")
	assert.Contains(t, keda.Fix, "--audience api://AzureADTokenExchange")
	assert.Contains(t, keda.Fix, "--resource-group rg-edw")
	assert.Contains(t, keda.Fix, "--issuer https://issuer.example/edw/")
	assert.Contains(t, keda.Fix, "11111111-2222-3333-4444-555555555555")
	assert.Contains(t, keda.Fix, "kubectl -n kube-system rollout restart deployment keda-operator")
	assert.NotContains(t, keda.String(), "\n")

	t.Log("With the operator's federated credential added and a restarted keda-operator pod that has the webhook's label and token, every check passes.")
	azclitest.Install(t, identityList, azclitest.Rule{
		Args: []string{"identity", "federated-credential", "list"}, Stdout: "[" + consumerCredential + ", " + operatorCredential + "]",
	})
	deleteKEDAOperatorPods(t, plane)
	createKEDAOperatorPod(t, plane, true)
	report = runPreflight(t)
	assert.Empty(t, report.Failures(), failuresText(report))
	assert.Contains(t, resultFor(t, report, "keda-identity").Message, "system:serviceaccount:kube-system:keda-operator")

	t.Log("Installing into another namespace than the federated credential's fails on the subject.")
	other := uniqueName("wi-other")
	createNamespace(t, plane, other, preflight.PodSecurityRestricted)
	report = runPreflight(t, installer.WithNamespace(other))
	subject := resultFor(t, report, "federated-subject")
	assert.Equal(t, preflight.Fail, subject.Status)
	assert.Contains(t, subject.Message, "system:serviceaccount:"+other+":edw-consumer")
	assert.Contains(t, subject.Message, "system:serviceaccount:"+namespace+":edw-consumer")
	assert.Contains(t, subject.Fix, "install into namespace "+namespace)

	t.Log("A client id flag that contradicts the outputs fails.")
	report = runPreflight(t, installer.WithSet("auth.workloadIdentity.clientId=99999999-0000-0000-0000-000000000000"))
	assert.Equal(t, preflight.Fail, resultFor(t, report, "client-id").Status)
}

func TestInstallDryRunAppliesNothing(t *testing.T) {
	ctx := context.Background()
	plane := sharedControlPlane(t)
	namespace := uniqueName("dry")
	createNamespace(t, plane, namespace, preflight.PodSecurityRestricted)
	release := uniqueName("aks-edw")
	inst, err := installer.New(simOptions(t, plane, namespace, release, installer.WithDryRun(true))...)
	require.NoError(t, err)

	result, err := inst.Install(ctx)

	require.NoError(t, err)
	assert.Contains(t, result.Manifest, "kind: ScaledObject")
	assert.Contains(t, result.Manifest, "kind: NodePool")
	assert.Contains(t, result.Manifest, "kind: Deployment")
	assert.Contains(t, result.Manifest, "REDACTED")
	assert.NotContains(t, result.Manifest, "UseDevelopmentStorage")
	assert.Zero(t, result.Revision)
	assertNothingInstalled(t, plane, namespace)
	_, err = dynamicClient(t, plane).Resource(status.NodePoolResource).Get(ctx, release, metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "the NodePool must not exist after a dry run: %v", err)
}

func TestInstallUpgradeUninstallLifecycle(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	plane := sharedControlPlane(t)
	namespace := uniqueName("life")
	createNamespace(t, plane, namespace, preflight.PodSecurityRestricted)
	release := uniqueName("aks-edw")
	consumer := release + "-consumer"
	client := kubeClient(t, plane)
	dyn := dynamicClient(t, plane)

	t.Log("Start Azurite and put three messages on the queue, so status has a depth to read.")
	server, err := azurite.Start(ctx, azurite.WithInMemory())
	require.NoError(t, err)
	defer func() { _ = server.Stop() }()
	queue, err := azqueue.NewQueueClientFromConnectionString(server.ConnectionString(), "orders", nil)
	require.NoError(t, err)
	_, err = queue.Create(ctx, nil)
	require.NoError(t, err)
	for _, body := range []string{"one", "two", "three"} {
		_, err = queue.EnqueueMessage(ctx, body, nil)
		require.NoError(t, err)
	}

	markReady(ctx, t, plane, namespace)
	options := func(extra ...installer.Option) []installer.Option {
		return simOptions(t, plane, namespace, release, append([]installer.Option{
			installer.WithSetString("auth.connectionString.value=" + server.ConnectionString()),
			installer.WithTimeout(90 * time.Second),
		}, extra...)...)
	}

	t.Log("Install waits for the Deployment and the ScaledObject, then every object exists.")
	inst, err := installer.New(options()...)
	require.NoError(t, err)
	result, err := inst.Install(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, result.Revision)
	assert.Empty(t, result.Preflight.Failures())
	deployment, err := client.AppsV1().Deployments(namespace).Get(ctx, consumer, metav1.GetOptions{})
	require.NoError(t, err)
	_, err = client.CoreV1().ServiceAccounts(namespace).Get(ctx, consumer, metav1.GetOptions{})
	assert.NoError(t, err)
	scaledObject, err := dyn.Resource(status.ScaledObjectResource).Namespace(namespace).Get(ctx, consumer, metav1.GetOptions{})
	require.NoError(t, err)
	nodePool, err := dyn.Resource(status.NodePoolResource).Get(ctx, release, metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, release, nodePool.GetLabels()["app.kubernetes.io/instance"])

	t.Log("Status reads the release: the ScaledObject is Ready, the NodePool has no nodes, the queue holds 3.")
	collector, err := status.NewCollector(status.WithRESTConfig(plane.config), status.WithRelease(namespace, release))
	require.NoError(t, err)
	snapshot := collector.Snapshot(ctx)
	t.Logf("snapshot errors: %v", snapshot.Errors())
	assert.True(t, snapshot.Deployment.Found)
	assert.Equal(t, consumer, snapshot.ScaledObject.Name)
	assert.True(t, snapshot.ScaledObject.Ready.IsTrue())
	assert.True(t, snapshot.NodePool.Found)
	assert.Equal(t, 0, snapshot.NodePool.Nodes)
	assert.Equal(t, int64(3), snapshot.Queue.Depth)
	assert.Contains(t, snapshot.Queue.Source, "Secret "+namespace+"/")
	var timeline status.Timeline
	timeline.Add(snapshot)
	t.Logf("timeline:\n%s", timeline.String())

	t.Log("Upgrade with a new maximum keeps the Deployment's selector.")
	inst, err = installer.New(options(installer.WithSet("scaledObject.maxReplicaCount=7"))...)
	require.NoError(t, err)
	result, err = inst.Upgrade(ctx)
	require.NoError(t, err)
	assert.Equal(t, 2, result.Revision)
	upgraded, err := dyn.Resource(status.ScaledObjectResource).Namespace(namespace).Get(ctx, consumer, metav1.GetOptions{})
	require.NoError(t, err)
	maxReplicas, _, _ := unstructured.NestedInt64(upgraded.Object, "spec", "maxReplicaCount")
	assert.Equal(t, int64(7), maxReplicas)
	assert.Equal(t, scaledObject.GetUID(), upgraded.GetUID(), "the ScaledObject is updated in place")
	upgradedDeployment, err := client.AppsV1().Deployments(namespace).Get(ctx, consumer, metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, deployment.Spec.Selector, upgradedDeployment.Spec.Selector)

	t.Log("Uninstall removes everything, including the cluster-scoped NodePool.")
	require.NoError(t, inst.Uninstall(ctx))
	_, err = dyn.Resource(status.NodePoolResource).Get(ctx, release, metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "NodePool %s still exists: %v", release, err)
	_, err = client.AppsV1().Deployments(namespace).Get(ctx, consumer, metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "Deployment %s still exists: %v", consumer, err)
	_, err = dyn.Resource(status.ScaledObjectResource).Namespace(namespace).Get(ctx, consumer, metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "ScaledObject %s still exists: %v", consumer, err)
	assertNothingInstalled(t, plane, namespace)

	t.Log("A second uninstall reports the release as not found.")
	err = inst.Uninstall(ctx)
	assert.ErrorIs(t, err, installer.ErrReleaseNotFound)
}

func TestInstallWaitTimeoutUninstalls(t *testing.T) {
	ctx := context.Background()
	plane := sharedControlPlane(t)
	namespace := uniqueName("atomic")
	createNamespace(t, plane, namespace, preflight.PodSecurityRestricted)
	release := uniqueName("aks-edw")

	t.Log("No stand-in controller runs, so the wait times out and atomic uninstalls the release.")
	inst, err := installer.New(simOptions(t, plane, namespace, release, installer.WithTimeout(10*time.Second))...)
	require.NoError(t, err)
	_, err = inst.Install(ctx)

	require.Error(t, err)
	assert.Contains(t, err.Error(), "timed out waiting for the release to be ready")
	assert.Contains(t, err.Error(), "no Ready condition yet")
	assert.Contains(t, err.Error(), "the release was uninstalled (atomic)")
	assertNothingInstalled(t, plane, namespace)
	_, err = dynamicClient(t, plane).Resource(status.NodePoolResource).Get(ctx, release, metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "NodePool %s still exists: %v", release, err)
}

func TestUpgradeWaitTimeoutRollsBack(t *testing.T) {
	ctx := context.Background()
	plane := sharedControlPlane(t)
	namespace := uniqueName("rollback")
	createNamespace(t, plane, namespace, preflight.PodSecurityRestricted)
	release := uniqueName("aks-edw")
	consumer := release + "-consumer"
	dyn := dynamicClient(t, plane)

	t.Log("Install with the stand-in controller running.")
	controllerCtx, stopController := context.WithCancel(ctx)
	markReady(controllerCtx, t, plane, namespace)
	inst, err := installer.New(simOptions(t, plane, namespace, release, installer.WithTimeout(90*time.Second))...)
	require.NoError(t, err)
	_, err = inst.Install(ctx)
	require.NoError(t, err)

	t.Log("Stop it, so the upgraded Deployment's new generation is never observed and the wait times out.")
	stopController()
	inst, err = installer.New(simOptions(t, plane, namespace, release,
		installer.WithTimeout(10*time.Second),
		installer.WithSet("scaledObject.maxReplicaCount=4", "consumer.logLevel=debug"))...)
	require.NoError(t, err)
	_, err = inst.Upgrade(ctx)

	require.Error(t, err)
	assert.Contains(t, err.Error(), "timed out waiting for the release to be ready")
	assert.Contains(t, err.Error(), "rolled back to revision 1")
	rolledBack, err := dyn.Resource(status.ScaledObjectResource).Namespace(namespace).Get(ctx, consumer, metav1.GetOptions{})
	require.NoError(t, err)
	maxReplicas, _, _ := unstructured.NestedInt64(rolledBack.Object, "spec", "maxReplicaCount")
	assert.Equal(t, int64(15), maxReplicas, "the chart's default maximum is back")

	require.NoError(t, inst.Uninstall(ctx))
}

// assertNothingInstalled checks that namespace has no Helm release record and no Deployment.
func assertNothingInstalled(t *testing.T, plane *controlPlane, namespace string) {
	t.Helper()
	client := kubeClient(t, plane)
	secrets, err := client.CoreV1().Secrets(namespace).List(context.Background(), metav1.ListOptions{LabelSelector: "owner=helm"})
	require.NoError(t, err)
	assert.Empty(t, secrets.Items, "Helm release records in namespace %s", namespace)
	deployments, err := client.AppsV1().Deployments(namespace).List(context.Background(), metav1.ListOptions{})
	require.NoError(t, err)
	assert.Empty(t, deployments.Items, "Deployments in namespace %s", namespace)
}

// createOldNodePoolCRD creates a minimal nodepools.karpenter.sh that serves only v1beta1, the
// API version before Karpenter 1.0.
func createOldNodePoolCRD(t *testing.T, plane *controlPlane) string {
	t.Helper()
	preserve := true
	crd := &apiextensionsv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: "nodepools.karpenter.sh"},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group: "karpenter.sh",
			Names: apiextensionsv1.CustomResourceDefinitionNames{Plural: "nodepools", Singular: "nodepool", Kind: "NodePool", ListKind: "NodePoolList"},
			Scope: apiextensionsv1.ClusterScoped,
			Versions: []apiextensionsv1.CustomResourceDefinitionVersion{{
				Name: "v1beta1", Served: true, Storage: true,
				Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{
					Type: "object", XPreserveUnknownFields: &preserve,
				}},
			}},
		},
	}
	client, err := apiextensionsclient.NewForConfig(plane.config)
	require.NoError(t, err)
	_, err = client.ApiextensionsV1().CustomResourceDefinitions().Create(context.Background(), crd, metav1.CreateOptions{})
	require.NoError(t, err)
	return crd.Name
}

func deleteCRD(t *testing.T, plane *controlPlane, name string) {
	t.Helper()
	client, err := apiextensionsclient.NewForConfig(plane.config)
	require.NoError(t, err)
	crds := client.ApiextensionsV1().CustomResourceDefinitions()
	require.NoError(t, crds.Delete(context.Background(), name, metav1.DeleteOptions{}))
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := crds.Get(context.Background(), name, metav1.GetOptions{}); apierrors.IsNotFound(err) {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("CRD %s still exists 30s after its deletion", name)
}

// createWebhookConfiguration creates the workload identity webhook's configuration object. Its
// object selector matches no pod and failures are ignored, so it changes no admission here.
func createWebhookConfiguration(t *testing.T, plane *controlPlane) {
	t.Helper()
	client := kubeClient(t, plane)
	ignore := admissionregistrationv1.Ignore
	none := admissionregistrationv1.SideEffectClassNone
	path := "/mutate-v1-pod"
	configuration := &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "azure-wi-webhook-mutating-webhook-configuration"},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name:                    "mutation.azure-workload-identity.io",
			AdmissionReviewVersions: []string{"v1"},
			SideEffects:             &none,
			FailurePolicy:           &ignore,
			ObjectSelector:          &metav1.LabelSelector{MatchLabels: map[string]string{"installer-test": "matches-nothing"}},
			ClientConfig: admissionregistrationv1.WebhookClientConfig{
				Service: &admissionregistrationv1.ServiceReference{Namespace: "kube-system", Name: "azure-wi-webhook-webhook-service", Path: &path},
			},
			Rules: []admissionregistrationv1.RuleWithOperations{{
				Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
				Rule:       admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}},
			}},
		}},
	}
	_, err := client.AdmissionregistrationV1().MutatingWebhookConfigurations().Create(context.Background(), configuration, metav1.CreateOptions{})
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = client.AdmissionregistrationV1().MutatingWebhookConfigurations().Delete(context.Background(), configuration.Name, metav1.DeleteOptions{})
	})
}

// createKEDAOperator creates the AKS add-on's keda-operator ServiceAccount, Deployment and one
// pod in kube-system, and deletes them when the test ends.
func createKEDAOperator(t *testing.T, plane *controlPlane, withIdentity bool) {
	t.Helper()
	ctx := context.Background()
	client := kubeClient(t, plane)
	labels := map[string]string{"app": "keda-operator"}

	_, err := client.CoreV1().ServiceAccounts("kube-system").Create(ctx, &corev1.ServiceAccount{
		ObjectMeta: metav1.ObjectMeta{Name: "keda-operator"},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = client.AppsV1().Deployments("kube-system").Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "keda-operator", Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       kedaOperatorPodSpec(false),
			},
		},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	createKEDAOperatorPod(t, plane, withIdentity)

	t.Cleanup(func() {
		deleteKEDAOperatorPods(t, plane)
		_ = client.AppsV1().Deployments("kube-system").Delete(ctx, "keda-operator", metav1.DeleteOptions{})
		_ = client.CoreV1().ServiceAccounts("kube-system").Delete(ctx, "keda-operator", metav1.DeleteOptions{})
	})
}

// createKEDAOperatorPod creates a keda-operator pod as the ReplicaSet would. withIdentity adds
// what the workload identity webhook adds to a labelled pod: the label and the token env.
func createKEDAOperatorPod(t *testing.T, plane *controlPlane, withIdentity bool) {
	t.Helper()
	labels := map[string]string{"app": "keda-operator"}
	if withIdentity {
		labels["azure.workload.identity/use"] = "true"
	}
	_, err := kubeClient(t, plane).CoreV1().Pods("kube-system").Create(context.Background(), &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: uniqueName("keda-operator"), Labels: labels},
		Spec:       kedaOperatorPodSpec(withIdentity),
	}, metav1.CreateOptions{})
	require.NoError(t, err)
}

func kedaOperatorPodSpec(withIdentity bool) corev1.PodSpec {
	container := corev1.Container{Name: "keda-operator", Image: "ghcr.io/kedacore/keda:2.21.0"}
	if withIdentity {
		container.Env = []corev1.EnvVar{
			{Name: "AZURE_CLIENT_ID", Value: "11111111-2222-3333-4444-555555555555"},
			{Name: "AZURE_FEDERATED_TOKEN_FILE", Value: "/var/run/secrets/azure/tokens/azure-identity-token"},
		}
	}
	return corev1.PodSpec{ServiceAccountName: "keda-operator", Containers: []corev1.Container{container}}
}

func deleteKEDAOperatorPods(t *testing.T, plane *controlPlane) {
	t.Helper()
	zero := int64(0)
	err := kubeClient(t, plane).CoreV1().Pods("kube-system").DeleteCollection(context.Background(),
		metav1.DeleteOptions{GracePeriodSeconds: &zero}, metav1.ListOptions{LabelSelector: "app=keda-operator"})
	require.NoError(t, err)
}
