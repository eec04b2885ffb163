//go:build e2esim

// Smoke test for the simulated cluster. TestMain brings a cluster of its own up through the
// sim library, from the cached binaries (make sim-build), and takes it down at the end. The
// tests check that the API server reports the pinned version and that KEDA's external metrics
// APIService is Available. They check that a NodePool pointing at the KWOKNodeClass turns a
// pending consumer pod into a NodeClaim and a kwok node, and that the pod then runs. Last, the
// pod runner must start a host process with the pod's environment and stop it with the pod.
//
// Run: make e2e-sim, or go test -tags e2esim ./test/sim after make sim-build azurite.
package sim_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gruntwork-io/terratest/modules/k8s"
	"github.com/gruntwork-io/terratest/modules/random"
	"github.com/gruntwork-io/terratest/modules/retry"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/aks-edw/aks-edw/internal/azurite"
	"github.com/aks-edw/aks-edw/internal/sim"
	"github.com/aks-edw/aks-edw/internal/sim/build"
	"github.com/aks-edw/aks-edw/internal/sim/karpenter"
	"github.com/aks-edw/aks-edw/internal/sim/keda"
	"github.com/aks-edw/aks-edw/internal/versions"
)

const (
	// karpenterBatchMax is Karpenter's default BATCH_MAX_DURATION: the longest it collects
	// pending pods before it creates NodeClaims for them.
	karpenterBatchMax = 10 * time.Second
	// provisionTimeout allows several batch windows, because on a busy 2-core machine the
	// scheduler and Karpenter each take a few seconds per round.
	provisionTimeout = 6 * karpenterBatchMax
	// hostProcessTimeout allows the pod runner to see the watch event and start or stop a
	// process. It reacts within about a second on an idle machine.
	hostProcessTimeout = 30 * time.Second
	// podGrace is the consumer pod's termination grace period in this test.
	podGrace = 5 * time.Second
	// pollInterval is how often the waits below check.
	pollInterval = time.Second
)

// env is the cluster TestMain started.
var env struct {
	summary  *sim.Summary
	stateDir string
	name     string
	// dumpDir is where the stand-in consumer writes what it received.
	dumpDir string
}

func TestMain(m *testing.M) { os.Exit(runMain(m)) }

func runMain(m *testing.M) int {
	ctx := context.Background()
	root, err := azurite.RepoRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "sim smoke test:", err)
		return 1
	}
	binaries, err := build.New().Locate()
	if err != nil {
		fmt.Fprintln(os.Stderr, "sim smoke test:", err)
		return 1
	}

	work, err := os.MkdirTemp("", "edw-sim-smoke-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "sim smoke test:", err)
		return 1
	}
	defer os.RemoveAll(work)

	// The helper processes that Up leaves running are edwctl itself, so the test builds it. The
	// stand-in consumer records the environment the pod runner gives it.
	edwctl := filepath.Join(work, "bin", "edwctl")
	envdump := filepath.Join(work, "bin", "envdump")
	for _, b := range []struct{ out, pkg string }{{edwctl, "./tools/edwctl"}, {envdump, "./test/sim/testdata/envdump"}} {
		cmd := exec.Command("go", "build", "-o", b.out, b.pkg)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "sim smoke test: go build %s: %v\n%s", b.pkg, err, out)
			return 1
		}
	}
	env.dumpDir = filepath.Join(work, "dump")
	if err := os.MkdirAll(env.dumpDir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "sim smoke test:", err)
		return 1
	}

	// Terratest's k8s module runs kubectl from PATH, and the cached one matches the API server.
	os.Setenv("PATH", filepath.Dir(binaries.Kubectl)+string(os.PathListSeparator)+os.Getenv("PATH"))

	env.stateDir = filepath.Join(work, "state")
	env.name = "smoke-" + strings.ToLower(random.UniqueId())
	cluster := sim.New(env.stateDir,
		sim.WithName(env.name),
		sim.WithBinaries(binaries),
		sim.WithHelperCommand(edwctl, "sim"),
		sim.WithConsumerBinary(envdump),
		sim.WithProgress(os.Stderr),
	)
	fmt.Fprintf(os.Stderr, "sim smoke test: bringing up cluster %s in %s\n", env.name, env.stateDir)
	env.summary, err = cluster.Up(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "sim smoke test: sim up failed:", err)
		return 1
	}

	code := m.Run()

	if code != 0 {
		printLogs(func(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) })
	}
	if err := cluster.Down(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "sim smoke test: sim down failed:", err)
		return 1
	}
	return code
}

func TestAPIServerServesPinnedVersion(t *testing.T) {
	options := k8s.NewKubectlOptions("", env.summary.Kubeconfig, "default")

	ready, err := k8s.RunKubectlAndGetOutputE(t, options, "get", "--raw", "/readyz")
	require.NoError(t, err)
	assert.Equal(t, "ok", ready)

	version, err := k8s.RunKubectlAndGetOutputE(t, options, "get", "--raw", "/version")
	require.NoError(t, err)
	assert.Contains(t, version, `"gitVersion": "`+versions.Kubernetes+`"`)
}

func TestExternalMetricsAPIServiceAvailable(t *testing.T) {
	options := k8s.NewKubectlOptions("", env.summary.Kubeconfig, "default")

	available, err := k8s.RunKubectlAndGetOutputE(t, options, "get", "apiservice", keda.APIServiceName,
		"-o", `jsonpath={.status.conditions[?(@.type=="Available")].status}`)
	require.NoError(t, err)
	assert.Equal(t, "True", available)

	// A request through the aggregator reaches the KEDA adapter and lists its resource.
	resources, err := k8s.RunKubectlAndGetOutputE(t, options, "get", "--raw", "/apis/external.metrics.k8s.io/v1beta1")
	require.NoError(t, err)
	assert.Contains(t, resources, `"externalmetrics"`)
}

func TestStatusReportsEveryComponentAlive(t *testing.T) {
	status, err := sim.New(env.stateDir, sim.WithName(env.name)).Status(t.Context())
	require.NoError(t, err)

	alive := map[string]bool{}
	for _, c := range status.Components {
		alive[c.Name] = c.Alive
	}
	for _, name := range []string{
		"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok-controller",
		"keda-operator", "keda-adapter", "karpenter", "azurite", "azurite-server", "pod-runner",
	} {
		assert.True(t, alive[name], "component %s alive", name)
	}
	assert.True(t, status.APIReachable, status.APIError)
	assert.True(t, status.ExternalMetrics, status.ExternalMetricsMessage)
	assert.True(t, status.Running())
}

func TestNodePoolProvisionsNodeForPendingPod(t *testing.T) {
	defer printLogsOnFailure(t)
	id := strings.ToLower(random.UniqueId())
	namespace := "smoke-" + id
	nodePool := "smoke-" + id
	pod := "consumer-" + id
	options := k8s.NewKubectlOptions("", env.summary.Kubeconfig, namespace)
	clusterOptions := k8s.NewKubectlOptions("", env.summary.Kubeconfig, "")

	t.Logf("creating namespace %s with a Secret and a ConfigMap for the pod's environment", namespace)
	k8s.CreateNamespace(t, options, namespace)
	defer k8s.DeleteNamespace(t, options, namespace)
	k8s.KubectlApplyFromString(t, options, fmt.Sprintf(`
apiVersion: v1
kind: Secret
metadata: {name: smoke}
stringData: {value: secret-%[1]s}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: smoke}
data: {value: config-%[1]s}
`, id))

	t.Logf("creating NodePool %s with AKS-style requirements on KWOKNodeClass %s", nodePool, karpenter.NodeClassName)
	nodePoolYAML := fmt.Sprintf(`
apiVersion: karpenter.sh/v1
kind: NodePool
metadata: {name: %s}
spec:
  template:
    spec:
      nodeClassRef: {group: %s, kind: %s, name: %s}
      requirements:
      - {key: %s, operator: In, values: [D]}
      - {key: kubernetes.io/arch, operator: In, values: [amd64]}
      - {key: kubernetes.io/os, operator: In, values: [linux]}
      - {key: karpenter.sh/capacity-type, operator: In, values: [on-demand, spot]}
  limits: {cpu: "16"}
  disruption: {consolidationPolicy: WhenEmptyOrUnderutilized, consolidateAfter: 5s}
`, nodePool, karpenter.NodeClassGroup, karpenter.NodeClassKind, karpenter.NodeClassName, karpenter.LabelSKUFamily)
	k8s.KubectlApplyFromString(t, clusterOptions, nodePoolYAML)
	defer func() {
		_, _ = k8s.RunKubectlAndGetOutputE(t, clusterOptions, "delete", "nodepool", nodePool, "--ignore-not-found")
	}()

	t.Logf("creating pending consumer pod %s that only a node of NodePool %s can take", pod, nodePool)
	k8s.KubectlApplyFromString(t, options, fmt.Sprintf(`
apiVersion: v1
kind: Pod
metadata:
  name: %[1]s
  labels: {app.kubernetes.io/name: aks-edw, app.kubernetes.io/component: consumer}
spec:
  terminationGracePeriodSeconds: %[2]d
  nodeSelector: {karpenter.sh/nodepool: %[3]s}
  containers:
  - name: consumer
    image: aks-edw-consumer:smoke
    resources: {requests: {cpu: "1", memory: 128Mi}}
    env:
    - {name: POD_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
    - {name: SMOKE_SECRET, valueFrom: {secretKeyRef: {name: smoke, key: value}}}
    - {name: SMOKE_CONFIG, valueFrom: {configMapKeyRef: {name: smoke, key: value}}}
    - {name: SMOKE_EXPANDED, value: "$(SMOKE_CONFIG)-expanded"}
    - {name: EDW_HTTP_ADDR, value: ":8080"}
    - {name: ENVDUMP_DIR, value: %[4]q}
`, pod, int(podGrace.Seconds()), nodePool, env.dumpDir))

	t.Log("waiting for Karpenter to create a NodeClaim for the NodePool")
	nodeClaim := retry.DoWithRetry(t, "NodeClaim for NodePool "+nodePool, retries(provisionTimeout), pollInterval, func() (string, error) {
		out, err := k8s.RunKubectlAndGetOutputE(t, clusterOptions, "get", "nodeclaims",
			"-l", "karpenter.sh/nodepool="+nodePool, "-o", "jsonpath={.items[*].metadata.name}")
		if err != nil {
			return "", err
		}
		if out == "" {
			return "", fmt.Errorf("no NodeClaim yet")
		}
		return out, nil
	})
	t.Logf("NodeClaim %s created", nodeClaim)

	t.Log("waiting for the kwok node of the NodeClaim to register")
	nodeSelector := metav1.ListOptions{LabelSelector: "karpenter.sh/nodepool=" + nodePool}
	nodeName := retry.DoWithRetry(t, "node of NodePool "+nodePool, retries(provisionTimeout), pollInterval, func() (string, error) {
		nodes, err := k8s.GetNodesByFilterE(t, clusterOptions, nodeSelector)
		if err != nil {
			return "", err
		}
		if len(nodes) == 0 {
			return "", fmt.Errorf("no node yet")
		}
		return nodes[0].Name, nil
	})
	nodes, err := k8s.GetNodesByFilterE(t, clusterOptions, nodeSelector)
	require.NoError(t, err)
	require.Len(t, nodes, 1, "one pod of one CPU fits on one simulated node")
	assert.Equal(t, "D", nodes[0].Labels[karpenter.LabelSKUFamily])
	assert.True(t, strings.HasPrefix(nodes[0].Labels[karpenter.LabelSKUName], "Standard_D"), "sku-name %q", nodes[0].Labels[karpenter.LabelSKUName])

	t.Logf("waiting for pod %s to run on node %s", pod, nodeName)
	k8s.WaitUntilPodAvailable(t, options, pod, retries(provisionTimeout), pollInterval)
	assert.Equal(t, nodeName, k8s.GetPod(t, options, pod).Spec.NodeName)

	t.Log("waiting for the pod runner to start the host process with the pod's environment")
	dumped := waitForFile(t, filepath.Join(env.dumpDir, pod+".env"), hostProcessTimeout)
	vars := parseEnv(dumped)
	assert.Equal(t, pod, vars["POD_NAME"])
	assert.Equal(t, "secret-"+id, vars["SMOKE_SECRET"])
	assert.Equal(t, "config-"+id, vars["SMOKE_CONFIG"])
	assert.Equal(t, "config-"+id+"-expanded", vars["SMOKE_EXPANDED"])
	assert.Equal(t, "127.0.0.1:0", vars["EDW_HTTP_ADDR"], "the pod runner must move the HTTP listener to a free loopback port")

	t.Logf("deleting pod %s; the pod runner must send SIGTERM to its process", pod)
	_, err = k8s.RunKubectlAndGetOutputE(t, options, "delete", "pod", pod, "--wait=false")
	require.NoError(t, err)
	waitForFile(t, filepath.Join(env.dumpDir, pod+".terminated"), podGrace+hostProcessTimeout)

	t.Logf("deleting NodePool %s; Karpenter must delete its NodeClaim and node", nodePool)
	_, err = k8s.RunKubectlAndGetOutputE(t, clusterOptions, "delete", "nodepool", nodePool, "--wait=false")
	require.NoError(t, err)
	retry.DoWithRetry(t, "removal of the nodes of NodePool "+nodePool, retries(provisionTimeout), pollInterval, func() (string, error) {
		nodes, err := k8s.GetNodesByFilterE(t, clusterOptions, nodeSelector)
		if err != nil {
			return "", err
		}
		if len(nodes) > 0 {
			return "", fmt.Errorf("%d nodes left", len(nodes))
		}
		return "", nil
	})
}

// retries converts a timeout into Terratest retries at pollInterval.
func retries(timeout time.Duration) int { return int(timeout / pollInterval) }

func waitForFile(t *testing.T, path string, timeout time.Duration) string {
	t.Helper()
	return retry.DoWithRetry(t, "file "+path, retries(timeout), pollInterval, func() (string, error) {
		data, err := os.ReadFile(path)
		if err != nil {
			return "", err
		}
		return string(data), nil
	})
}

func parseEnv(data string) map[string]string {
	vars := map[string]string{}
	scanner := bufio.NewScanner(strings.NewReader(data))
	for scanner.Scan() {
		name, value, ok := strings.Cut(scanner.Text(), "=")
		if ok {
			vars[name] = value
		}
	}
	return vars
}

func printLogsOnFailure(t *testing.T) {
	if t.Failed() {
		printLogs(t.Logf)
	}
}

// printLogs prints the end of every component log: the host processes', the control plane's
// (kwokctl keeps them in its cluster directory while it runs) and the pod runner's per-pod logs.
func printLogs(logf func(format string, args ...any)) {
	dirs := []string{
		filepath.Join(env.stateDir, "logs"),
		filepath.Join(env.stateDir, "kwok", "clusters", env.name, "logs"),
		filepath.Join(env.stateDir, "pods"),
	}
	for _, dir := range dirs {
		files, _ := filepath.Glob(filepath.Join(dir, "*.log"))
		for _, file := range files {
			data, err := os.ReadFile(file)
			if err != nil {
				continue
			}
			lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
			if len(lines) > 40 {
				lines = lines[len(lines)-40:]
			}
			logf("--- end of %s ---\n%s", file, strings.Join(lines, "\n"))
		}
	}
}
