// This file tests the cluster-free parts of preflight: how results and reports print, the error
// a failed report returns, and the configuration derived from a rendered manifest. The checks
// themselves run against a real kube-apiserver in test/installer.
package preflight

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func TestResultStringIsOneLine(t *testing.T) {
	cases := []struct {
		name     string
		result   Result
		expected string
	}{
		{
			name:     "pass has no fix",
			result:   Result{Check: "cluster", Status: Pass, Message: "API server reachable"},
			expected: "ok   cluster: API server reachable",
		},
		{
			name:     "failure carries the fix",
			result:   Result{Check: "crd", Status: Fail, Message: "CustomResourceDefinition scaledobjects.keda.sh not found", Fix: "install KEDA"},
			expected: "FAIL crd: CustomResourceDefinition scaledobjects.keda.sh not found; fix: install KEDA",
		},
		{
			name:     "warning carries the fix",
			result:   Result{Check: "pod-security", Status: Warn, Message: "below restricted", Fix: "label it"},
			expected: "warn pod-security: below restricted; fix: label it",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			line := tc.result.String()
			assert.Equal(t, tc.expected, line)
			assert.NotContains(t, line, "\n")
		})
	}
}

func TestReportErrListsOnlyFailures(t *testing.T) {
	report := Report{Results: []Result{
		{Check: "cluster", Status: Pass, Message: "reachable"},
		{Check: "crd", Status: Fail, Message: "scaledobjects.keda.sh not found", Fix: "install KEDA"},
		{Check: "pod-security", Status: Warn, Message: "privileged", Fix: "label"},
		{Check: "node-class", Status: Fail, Message: "AKSNodeClass default not served", Fix: "enable NAP"},
	}}

	err := report.Err()

	require.Error(t, err)
	assert.True(t, IsFailed(err))
	lines := strings.Split(err.Error(), "\n")
	require.Len(t, lines, 3, "a header line and one line per failure")
	assert.Contains(t, lines[0], "nothing was applied")
	assert.Equal(t, "  FAIL crd: scaledobjects.keda.sh not found; fix: install KEDA", lines[1])
	assert.Equal(t, "  FAIL node-class: AKSNodeClass default not served; fix: enable NAP", lines[2])
	assert.Len(t, report.Warnings(), 1)
}

func TestReportWithoutFailuresHasNoError(t *testing.T) {
	report := Report{Results: []Result{
		{Check: "cluster", Status: Pass},
		{Check: "pod-security", Status: Warn},
	}}
	assert.NoError(t, report.Err())
}

func TestReportWriteToPrintsEveryResult(t *testing.T) {
	report := Report{Results: []Result{
		{Check: "cluster", Status: Fail, Message: "unreachable", Fix: "check --kubeconfig"},
		{Check: "other checks", Status: Skip, Message: "not run"},
	}}
	var out bytes.Buffer

	_, err := report.WriteTo(&out)

	require.NoError(t, err)
	assert.Equal(t, "FAIL cluster: unreachable; fix: check --kubeconfig\nskip other checks: not run\n", out.String())
}

// manifestWithIdentity is a rendered release with workload identity, a NodePool on a KWOK node
// class and a TriggerAuthentication using the azure-workload provider.
const manifestWithIdentity = `---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: shop-consumer
  annotations:
    azure.workload.identity/client-id: 0000-client
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: shop-consumer
spec:
  template:
    metadata:
      labels:
        azure.workload.identity/use: "true"
    spec:
      serviceAccountName: shop-consumer
---
apiVersion: keda.sh/v1alpha1
kind: TriggerAuthentication
metadata:
  name: shop-consumer
spec:
  podIdentity:
    provider: azure-workload
    identityId: 0000-client
---
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata:
  name: shop-consumer
---
apiVersion: karpenter.sh/v1
kind: NodePool
metadata:
  name: shop
spec:
  template:
    spec:
      nodeClassRef:
        group: karpenter.kwok.sh
        kind: KWOKNodeClass
        name: default
`

func TestConfigFromManifestWithIdentity(t *testing.T) {
	objects, err := ParseManifest(manifestWithIdentity)
	require.NoError(t, err)

	config := ConfigFromManifest("shop", objects)

	assert.Equal(t, "shop", config.Namespace)
	assert.Len(t, config.Kinds, 5)
	assert.Contains(t, config.Kinds, schema.GroupVersionKind{Group: "keda.sh", Version: "v1alpha1", Kind: "ScaledObject"})
	require.NotNil(t, config.NodeClassRef)
	assert.Equal(t, NodeClassRef{Group: "karpenter.kwok.sh", Kind: "KWOKNodeClass", Name: "default"}, *config.NodeClassRef)
	require.NotNil(t, config.WorkloadIdentity)
	assert.Equal(t, "system:serviceaccount:shop:shop-consumer", config.WorkloadIdentity.Subject())
	assert.Equal(t, "0000-client", config.WorkloadIdentity.ClientID)
	assert.True(t, config.WorkloadIdentity.KEDAOperator)
	assert.Equal(t, "0000-client", config.WorkloadIdentity.KEDAIdentityID)
}

func TestConfigFromManifestWithoutIdentity(t *testing.T) {
	objects, err := ParseManifest(`
apiVersion: apps/v1
kind: Deployment
metadata:
  name: plain
---
apiVersion: keda.sh/v1alpha1
kind: TriggerAuthentication
metadata:
  name: plain
spec:
  secretTargetRef:
    - parameter: connection
      name: plain-storage
      key: connection-string
`)
	require.NoError(t, err)

	config := ConfigFromManifest("plain", objects)

	assert.Nil(t, config.WorkloadIdentity)
	assert.Nil(t, config.NodeClassRef)
}

func TestParseManifestRejectsBrokenDocument(t *testing.T) {
	_, err := ParseManifest("apiVersion: v1\nkind: [unclosed\n")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "document 0")
}

func TestServiceAccountSubject(t *testing.T) {
	assert.Equal(t, "system:serviceaccount:kube-system:keda-operator", ServiceAccountSubject("kube-system", KEDAOperatorName))
}
