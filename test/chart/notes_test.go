package chart

// This file checks the NOTES that `helm install` prints: the commands that watch scaling must
// name the release's real objects. `helm template` does not render NOTES, so this test runs a
// client-only dry-run install through the Helm SDK, which renders the chart as `helm template`
// does and also returns the NOTES.

import (
	"strings"
	"testing"

	"github.com/gruntwork-io/terratest/modules/random"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
)

// renderNotes returns the NOTES of a dry-run install with the scenario's values.
func renderNotes(t *testing.T, scenario, releaseName, namespace string) string {
	t.Helper()
	chart, err := loader.Load(chartDir)
	require.NoError(t, err)
	values, err := chartutil.ReadValuesFile(scenarioFile(scenario))
	require.NoError(t, err)

	install := action.NewInstall(&action.Configuration{Log: func(string, ...any) {}})
	install.DryRun = true
	install.ClientOnly = true
	install.ReleaseName = releaseName
	install.Namespace = namespace
	install.APIVersions = chartutil.VersionSet(allAPIVersions)

	rel, err := install.Run(chart, values.AsMap())
	require.NoError(t, err)
	return rel.Info.Notes
}

func TestNotesShowWatchCommands(t *testing.T) {
	for _, want := range expectations {
		t.Run(want.scenario, func(t *testing.T) {
			releaseName := "edw-" + strings.ToLower(random.UniqueId())
			namespace := "ns-" + strings.ToLower(random.UniqueId())
			notes := renderNotes(t, want.scenario, releaseName, namespace)
			consumer := releaseName + "-aks-edw-consumer"

			assert.Contains(t, notes, "helm test "+releaseName+" --namespace "+namespace)
			assert.Contains(t, notes, "kubectl get scaledobject "+consumer+" --namespace "+namespace+" --watch")
			assert.Contains(t, notes, "kubectl get hpa keda-hpa-"+consumer+" --namespace "+namespace+" --watch")
			assert.Contains(t, notes, "kubectl get deployment "+consumer+" --namespace "+namespace+" --watch")

			nodeClaims := "kubectl get nodeclaims --selector karpenter.sh/nodepool=" + releaseName + "-aks-edw --watch"
			nodes := "kubectl get nodes --selector aks-edw/nodepool=" + releaseName + "-aks-edw --watch"
			if want.nodePool {
				assert.Contains(t, notes, nodeClaims)
				assert.Contains(t, notes, nodes)
			} else {
				assert.NotContains(t, notes, nodeClaims)
				assert.NotContains(t, notes, nodes)
			}
		})
	}
}
