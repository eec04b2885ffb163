//go:build e2esim

// This file runs the scaling scenario on the simulated cluster that `edwctl sim up` started: a
// real control plane, the real KEDA operator and metrics adapter, and Karpenter's kwok provider.
// Nodes are kwok's, and a pod runner backs each Running consumer pod with a consumer process on
// this host that reads Azurite. The file also starts a second, bare kwokctl cluster without KEDA
// or Karpenter to check that an install there fails naming the missing CRDs.
//
// `make e2e-sim` brings the cluster up, runs this file and takes the cluster down. To run it by
// hand: edwctl sim up, then go test -tags e2esim ./test/e2e/ -run Sim -v.
package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gruntwork-io/terratest/modules/random"
	"github.com/stretchr/testify/require"

	"github.com/aks-edw/aks-edw/internal/azurite"
	"github.com/aks-edw/aks-edw/internal/sim"
	"github.com/aks-edw/aks-edw/internal/sim/build"
	"github.com/aks-edw/aks-edw/internal/sim/kwokctl"
	"github.com/aks-edw/aks-edw/test/e2e/scenario"
)

// simStateDirEnv names the simulated cluster's state directory; the default is .work/sim in the
// repository, where `edwctl sim up` puts it.
const simStateDirEnv = "EDW_SIM_STATE_DIR"

// simValuesFile is the chart's values for the simulated cluster, relative to the repository.
var simValuesFile = filepath.Join("charts", "aks-edw", "ci", "sim-kwok-values.yaml")

func TestSimScaling(t *testing.T) {
	repoRoot, summary := runningSim(t)
	connectionString, err := os.ReadFile(summary.ConnectionStringFile)
	require.NoError(t, err)

	scenario.Run(t, scenario.Target{
		Name:       "sim",
		Kubeconfig: summary.Kubeconfig,
		Storage:    scenario.Storage{ConnectionString: strings.TrimSpace(string(connectionString))},
		// KEDA and the consumer processes run on this host, so they reach Azurite at the same
		// loopback address as the test.
		PodConnectionString: strings.TrimSpace(string(connectionString)),
		ValuesFiles:         []string{filepath.Join(repoRoot, simValuesFile)},
		// With 500m CPU per pod, the pods of the scale-out do not fit the node that Karpenter
		// made for the first pod (the cheapest that fits, a 2-vCPU Standard_D2s_v5), so
		// Karpenter adds nodes.
		Values: map[string]any{"consumer": map[string]any{"resources": map[string]any{
			"requests": map[string]any{"cpu": "500m", "memory": "64Mi"}}}},
		ChartPath: filepath.Join(repoRoot, "charts", "aks-edw"),
		Nodes:     true,
		// kwok marks a node Ready and a pod Running as soon as they exist, and the pod runner
		// starts the consumer within a second or two. The allowance covers a busy 2-core
		// machine.
		PodStartup:   time.Minute,
		Consumers:    "the simulated cluster's pod runner (one consumer process on this host per Running pod)",
		ConsumerLogs: podRunnerLogs(summary.PodLogDir),
	}, scenario.DefaultPlan())
}

func TestSimInstallWithoutCRDs(t *testing.T) {
	repoRoot, err := azurite.RepoRoot()
	require.NoError(t, err)
	binaries, err := build.New().Locate()
	require.NoError(t, err)

	// NOTE: CRDs are cluster-scoped, so a fresh namespace in the running cluster would still
	// see KEDA's. A second kwokctl control plane without any CRDs starts in seconds here.
	name := "aks-edw-bare-" + strings.ToLower(random.UniqueId())
	workDir := t.TempDir()
	bare := kwokctl.New(name, workDir, kwokctl.Binaries{
		Kwokctl:               binaries.Kwokctl,
		Kwok:                  binaries.Kwok,
		Etcd:                  binaries.Etcd,
		KubeAPIServer:         binaries.KubeAPIServer,
		KubeControllerManager: binaries.KubeControllerManager,
		KubeScheduler:         binaries.KubeScheduler,
		Kubectl:               binaries.Kubectl,
	})
	t.Logf("creating bare kwokctl cluster %s (no KEDA, no Karpenter)", name)
	require.NoError(t, bare.Create(t.Context()))
	defer func() {
		if err := bare.Delete(context.WithoutCancel(t.Context())); err != nil {
			t.Errorf("delete bare cluster %s: %v", name, err)
		}
	}()

	scenario.RequireMissingCRDsRejected(t, scenario.BareCluster{
		Kubeconfig:  bare.KubeconfigPath(),
		ValuesFiles: []string{filepath.Join(repoRoot, simValuesFile)},
		ChartPath:   filepath.Join(repoRoot, "charts", "aks-edw"),
		NodePool:    true,
	})
}

// runningSim returns the repository root and the summary of the running simulated cluster, and
// fails naming the command that starts it when none runs.
func runningSim(t *testing.T) (string, *sim.Summary) {
	repoRoot, err := azurite.RepoRoot()
	require.NoError(t, err)
	stateDir := os.Getenv(simStateDirEnv)
	if stateDir == "" {
		stateDir = filepath.Join(repoRoot, ".work", "sim")
	}

	status, err := sim.New(stateDir).Status(t.Context())
	require.NoError(t, err)
	require.NotNil(t, status.Summary, "no simulated cluster in %s: run edwctl sim up (make e2e-sim does), or set %s", stateDir, simStateDirEnv)
	// The summary names the kwokctl cluster, whose processes Status checks by that name.
	status, err = sim.New(stateDir, sim.WithName(status.Summary.Name)).Status(t.Context())
	require.NoError(t, err)
	require.True(t, status.Running(), "simulated cluster in %s is not running (%s): run edwctl sim down, then edwctl sim up", stateDir, describeComponents(status))
	require.True(t, status.ExternalMetrics, "KEDA's external metrics APIService is not Available: %s", status.ExternalMetricsMessage)
	require.NotNil(t, status.Summary.Azurite, "the simulated cluster runs no Azurite: run edwctl sim up without --no-azurite")
	require.True(t, status.Summary.PodRunner, "the simulated cluster runs no pod runner, so nothing would drain the queue")
	return repoRoot, status.Summary
}

func describeComponents(status *sim.Status) string {
	var parts []string
	for _, component := range status.Components {
		parts = append(parts, fmt.Sprintf("%s alive=%t", component.Name, component.Alive))
	}
	if status.APIError != "" {
		parts = append(parts, "API: "+status.APIError)
	}
	return strings.Join(parts, ", ")
}

// podRunnerLogs returns a function that collects the last lines of each consumer process log
// of a namespace; the pod runner names them <namespace>_<pod>.log.
func podRunnerLogs(dir string) func(context.Context, string) string {
	return func(_ context.Context, namespace string) string {
		paths, err := filepath.Glob(filepath.Join(dir, namespace+"_*.log"))
		if err != nil {
			return err.Error()
		}
		sort.Strings(paths)
		var b strings.Builder
		for _, path := range paths {
			data, err := os.ReadFile(path)
			if err != nil {
				fmt.Fprintf(&b, "--- %s: %v\n", path, err)
				continue
			}
			lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
			lines = lines[max(0, len(lines)-20):]
			fmt.Fprintf(&b, "--- %s (last %d lines)\n%s\n", filepath.Base(path), len(lines), strings.Join(lines, "\n"))
		}
		return b.String()
	}
}
