package chart

// This file runs `helm lint --strict` on the chart with each ci scenario, the same check as
// `make chart-lint`, and checks that lint fails on a values mistake so a passing lint means
// something.

import (
	"testing"

	"github.com/gruntwork-io/terratest/modules/helm"
	"github.com/gruntwork-io/terratest/modules/logger"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// lintChart runs helm lint --strict with the values file. The CRD check is off because lint
// has no cluster; TestCRDCheck covers it.
func lintChart(t *testing.T, valuesFile string, set ...string) (string, error) {
	t.Helper()
	args := []string{"--strict", chartDir, "-f", valuesFile, "--set", "crdCheck.enabled=false"}
	for _, expression := range set {
		args = append(args, "--set", expression)
	}
	return helm.RunHelmCommandAndGetOutputE(t, &helm.Options{Logger: logger.Discard}, "lint", args...)
}

func TestLintStrictEveryScenario(t *testing.T) {
	for _, scenario := range scenarios(t) {
		t.Run(scenario, func(t *testing.T) {
			out, err := lintChart(t, scenarioFile(scenario))
			require.NoError(t, err, out)
			assert.Contains(t, out, "1 chart(s) linted, 0 chart(s) failed")
		})
	}
}

func TestLintStrictFailsOnBadValues(t *testing.T) {
	out, err := lintChart(t, scenarioFile(scenarioAKS), "scaledObject.queueLength=0")
	require.Error(t, err)
	assert.Contains(t, out, "/scaledObject/queueLength")
}
