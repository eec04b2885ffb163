//go:build e2ekind

// This file runs the scaling scenario on a kind cluster: real kubelets and containers, KEDA
// from its official Helm chart, and Azurite as a Deployment in the cluster. The chart uses
// connection-string auth with the NodePool off, because kind has no Karpenter and so no node
// scaling.
//
// It needs a Docker or Podman engine and kind's node image. NOTE: it was never run where it was
// written (no container engine there); it is compiled with
// `go vet -tags e2ekind ./test/e2e/...` in CI. Run it with `make e2e`.
package e2e

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gruntwork-io/terratest/modules/random"
	"github.com/stretchr/testify/require"
	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/cli"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"
	"sigs.k8s.io/kind/pkg/cluster"
	"sigs.k8s.io/kind/pkg/cluster/nodeutils"
	kindcmd "sigs.k8s.io/kind/pkg/cmd"

	"github.com/aks-edw/aks-edw/internal/azurite"
	"github.com/aks-edw/aks-edw/internal/image"
	"github.com/aks-edw/aks-edw/internal/versions"
	"github.com/aks-edw/aks-edw/test/e2e/scenario"
)

const (
	// kedaChartRepository is KEDA's official Helm chart repository.
	kedaChartRepository = "https://kedacore.github.io/charts"
	kedaChartName       = "keda"
	kedaNamespace       = "keda"

	// azuriteImage is Azurite's official image, at the version tools/azurite pins for the host.
	azuriteImage     = "mcr.microsoft.com/azure-storage/azurite:3.35.0"
	azuriteNamespace = "azurite"

	// consumerImageRepository and consumerImageTag name the consumer image that the test
	// builds and loads into the nodes.
	consumerImageRepository = "aks-edw/consumer"
	consumerImageTag        = "e2e"
)

// kedaChartVersion is the KEDA chart release that installs KEDA versions.KEDA; KEDA's chart
// versions follow the KEDA release they install.
var kedaChartVersion = strings.TrimPrefix(versions.KEDA, "v")

func TestKindScaling(t *testing.T) {
	repoRoot, err := azurite.RepoRoot()
	require.NoError(t, err)
	name := "aks-edw-e2e-" + strings.ToLower(random.UniqueId())
	kubeconfigPath := filepath.Join(t.TempDir(), "kubeconfig")

	runtime, err := cluster.DetectNodeProvider()
	require.NoError(t, err, "kind needs a container engine: install Docker, Podman or nerdctl")
	t.Logf("creating kind cluster %s", name)
	provider := cluster.NewProvider(runtime, cluster.ProviderWithLogger(kindcmd.NewLogger()))
	require.NoError(t, provider.Create(name,
		cluster.CreateWithKubeconfigPath(kubeconfigPath),
		cluster.CreateWithWaitForReady(5*time.Minute),
		cluster.CreateWithDisplayUsage(false),
		cluster.CreateWithDisplaySalutation(false),
	))
	defer func() {
		t.Logf("deleting kind cluster %s", name)
		if err := provider.Delete(name, kubeconfigPath); err != nil {
			t.Errorf("delete kind cluster %s: %v", name, err)
		}
	}()

	t.Log("building the consumer image offline and loading it into the kind nodes")
	archive := buildConsumerImage(t, repoRoot)
	loadImageArchive(t, provider, name, archive)

	valuesFile := filepath.Join(repoRoot, "charts", "aks-edw", "ci", "kind-connection-string-values.yaml")
	imageValues := map[string]any{"image": map[string]any{
		"repository": consumerImageRepository, "tag": consumerImageTag, "pullPolicy": "Never"}}

	// The cluster has no KEDA yet: this is the install that must fail, naming its CRDs.
	t.Run("install without KEDA fails", func(t *testing.T) {
		scenario.RequireMissingCRDsRejected(t, scenario.BareCluster{
			Kubeconfig:  kubeconfigPath,
			ValuesFiles: []string{valuesFile},
			Values:      imageValues,
		})
	})

	installKEDA(t, kubeconfigPath)
	config, err := clientcmd.BuildConfigFromFlags("", kubeconfigPath)
	require.NoError(t, err)
	queuePort, tablePort := startAzurite(t, config)

	inCluster := "http://azurite." + azuriteNamespace + ".svc.cluster.local"
	scenario.Run(t, scenario.Target{
		Name:       "kind",
		Kubeconfig: kubeconfigPath,
		Storage: scenario.Storage{ConnectionString: azuriteConnectionString(
			fmt.Sprintf("http://127.0.0.1:%d", queuePort), fmt.Sprintf("http://127.0.0.1:%d", tablePort))},
		PodConnectionString: azuriteConnectionString(inCluster+":10001", inCluster+":10002"),
		ValuesFiles:         []string{valuesFile},
		Values:              imageValues,
		ChartPath:           filepath.Join(repoRoot, "charts", "aks-edw"),
		Nodes:               false,
		// The image is already on the nodes (pullPolicy Never), so a pod starts in seconds;
		// the allowance covers a slow CI runner.
		PodStartup:   2 * time.Minute,
		Consumers:    "containers of the consumer image on kind's nodes",
		ConsumerLogs: containerLogs(kubeconfigPath, ""),
	}, scenario.DefaultPlan())
}

// azuriteConnectionString returns the connection string of Azurite's development account at
// the given queue and table service URLs.
func azuriteConnectionString(queueURL, tableURL string) string {
	return fmt.Sprintf("DefaultEndpointsProtocol=http;AccountName=%s;AccountKey=%s;QueueEndpoint=%s/%s;TableEndpoint=%s/%s;",
		azurite.AccountName, azurite.AccountKey, queueURL, azurite.AccountName, tableURL, azurite.AccountName)
}

// buildConsumerImage builds a static consumer binary and the image tarball around it, and
// returns the tarball's path.
func buildConsumerImage(t *testing.T, repoRoot string) string {
	dir := t.TempDir()
	binary := filepath.Join(dir, "consumer")
	build := exec.CommandContext(t.Context(), "go", "build", "-trimpath", "-o", binary, "./src/consumer")
	build.Dir = repoRoot
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	output, err := build.CombinedOutput()
	require.NoError(t, err, "go build ./src/consumer:\n%s", output)

	img, err := image.Build(image.Config{Binary: binary, ExposedPorts: []string{"8080/tcp"}})
	require.NoError(t, err)
	archive := filepath.Join(dir, "consumer.tar")
	require.NoError(t, image.WriteTarball(archive, consumerImageRepository+":"+consumerImageTag, img))
	return archive
}

// loadImageArchive imports the tarball into every node's containerd, as `kind load
// image-archive` does.
func loadImageArchive(t *testing.T, provider *cluster.Provider, name, archive string) {
	nodes, err := provider.ListInternalNodes(name)
	require.NoError(t, err)
	for _, node := range nodes {
		file, err := os.Open(archive)
		require.NoError(t, err)
		err = nodeutils.LoadImageArchive(node, file)
		file.Close()
		require.NoError(t, err, "load %s into node %s", archive, node.String())
	}
}

// installKEDA installs KEDA from its official chart with the Helm SDK and waits for it.
func installKEDA(t *testing.T, kubeconfigPath string) {
	t.Logf("installing KEDA chart %s from %s", kedaChartVersion, kedaChartRepository)
	settings := cli.New()
	settings.KubeConfig = kubeconfigPath
	settings.SetNamespace(kedaNamespace)

	config := new(action.Configuration)
	require.NoError(t, config.Init(settings.RESTClientGetter(), kedaNamespace, "secret", t.Logf))
	install := action.NewInstall(config)
	install.ReleaseName = "keda"
	install.Namespace = kedaNamespace
	install.CreateNamespace = true
	install.Wait = true
	install.Timeout = 5 * time.Minute
	install.RepoURL = kedaChartRepository
	install.Version = kedaChartVersion

	path, err := install.LocateChart(kedaChartName, settings)
	require.NoError(t, err)
	chart, err := loader.Load(path)
	require.NoError(t, err)
	_, err = install.RunWithContext(t.Context(), chart, nil)
	require.NoError(t, err)
}

// startAzurite runs Azurite as a Deployment and Service in the cluster, forwards its queue and
// table ports to 127.0.0.1 for the test process, and returns the local ports.
func startAzurite(t *testing.T, config *rest.Config) (queuePort, tablePort uint16) {
	ctx := t.Context()
	kube, err := kubernetes.NewForConfig(config)
	require.NoError(t, err)

	t.Logf("starting Azurite (%s) in namespace %s", azuriteImage, azuriteNamespace)
	labels := map[string]string{"app.kubernetes.io/name": "azurite"}
	_, err = kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: azuriteNamespace}}, metav1.CreateOptions{})
	require.NoError(t, err)
	replicas := int32(1)
	ports := []corev1.ContainerPort{{Name: "queue", ContainerPort: 10001}, {Name: "table", ContainerPort: 10002}}
	deployment := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "azurite", Namespace: azuriteNamespace, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name:  "azurite",
					Image: azuriteImage,
					Args: []string{"azurite", "--blobHost", "0.0.0.0", "--queueHost", "0.0.0.0", "--tableHost", "0.0.0.0",
						"--skipApiVersionCheck", "--loose", "--disableTelemetry", "--inMemoryPersistence"},
					Ports: ports,
					ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{
						TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromString("queue")}}},
				}}},
			},
		},
	}
	_, err = kube.AppsV1().Deployments(azuriteNamespace).Create(ctx, deployment, metav1.CreateOptions{})
	require.NoError(t, err)
	service := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "azurite", Namespace: azuriteNamespace, Labels: labels},
		Spec: corev1.ServiceSpec{Selector: labels, Ports: []corev1.ServicePort{
			{Name: "queue", Port: 10001, TargetPort: intstr.FromString("queue")},
			{Name: "table", Port: 10002, TargetPort: intstr.FromString("table")},
		}},
	}
	_, err = kube.CoreV1().Services(azuriteNamespace).Create(ctx, service, metav1.CreateOptions{})
	require.NoError(t, err)

	var pod *corev1.Pod
	require.Eventually(t, func() bool {
		pods, err := kube.CoreV1().Pods(azuriteNamespace).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=azurite"})
		if err != nil {
			return false
		}
		for i := range pods.Items {
			for _, condition := range pods.Items[i].Status.Conditions {
				if condition.Type == corev1.PodReady && condition.Status == corev1.ConditionTrue {
					pod = &pods.Items[i]
					return true
				}
			}
		}
		return false
	}, 5*time.Minute, 2*time.Second, "Azurite pod Ready (its image is pulled from mcr.microsoft.com)")

	return forwardPorts(t, config, pod)
}

// forwardPorts forwards the pod's ports 10001 and 10002 to free ports on 127.0.0.1 until the
// test ends, and returns the local ports.
func forwardPorts(t *testing.T, config *rest.Config, pod *corev1.Pod) (uint16, uint16) {
	transport, upgrader, err := spdy.RoundTripperFor(config)
	require.NoError(t, err)
	target, err := url.Parse(fmt.Sprintf("%s/api/v1/namespaces/%s/pods/%s/portforward", strings.TrimRight(config.Host, "/"), pod.Namespace, pod.Name))
	require.NoError(t, err)
	dialer := spdy.NewDialer(upgrader, &http.Client{Transport: transport}, http.MethodPost, target)

	stop, ready := make(chan struct{}), make(chan struct{})
	forwarder, err := portforward.NewOnAddresses(dialer, []string{"127.0.0.1"}, []string{"0:10001", "0:10002"}, stop, ready, nil, os.Stderr)
	require.NoError(t, err)
	failed := make(chan error, 1)
	go func() { failed <- forwarder.ForwardPorts() }()
	t.Cleanup(func() { close(stop) })

	select {
	case <-ready:
	case err := <-failed:
		require.NoError(t, err, "port-forward to pod %s/%s", pod.Namespace, pod.Name)
	case <-time.After(time.Minute):
		require.FailNow(t, "port-forward to Azurite did not become ready within a minute")
	}
	forwarded, err := forwarder.GetPorts()
	require.NoError(t, err)
	local := map[uint16]uint16{}
	for _, port := range forwarded {
		local[port.Remote] = port.Local
	}
	return local[10001], local[10002]
}
