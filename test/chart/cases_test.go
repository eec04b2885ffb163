package chart

// This file tests failures that users of KEDA, Karpenter and workload identity have hit, each
// with the behaviour the chart must show. Trigger metadata is typed as strings whatever type the
// values have, and the queue-length strategy counts in-flight messages. The NodePool has the
// karpenter.sh/v1 shape, and a missing CRD gives a clear error at install time. The workload
// identity label and annotation, which only work together, are always rendered together.

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

func TestTriggerMetadataAlwaysStrings(t *testing.T) {
	keda := loadKEDACRDs(t)

	cases := []struct {
		name       string
		render     render
		queue      string
		activation string
	}{
		{
			name:       "yaml numbers",
			render:     render{scenario: scenarioAKS, valuesFiles: []string{filepath.Join("testdata", "thresholds-numbers-values.yaml")}},
			queue:      "5",
			activation: "20",
		},
		{
			name:       "yaml strings",
			render:     render{scenario: scenarioAKS, valuesFiles: []string{filepath.Join("testdata", "thresholds-strings-values.yaml")}},
			queue:      "5",
			activation: "20",
		},
		{
			name:       "large yaml numbers",
			render:     render{scenario: scenarioAKS, valuesFiles: []string{filepath.Join("testdata", "thresholds-large-values.yaml")}},
			queue:      "1000000",
			activation: "2500000",
		},
		{
			name:       "set integers",
			render:     render{scenario: scenarioAKS, values: map[string]string{"scaledObject.queueLength": "7", "scaledObject.activationQueueLength": "3"}},
			queue:      "7",
			activation: "3",
		},
		{
			name:       "set strings",
			render:     render{scenario: scenarioAKS, stringValues: map[string]string{"scaledObject.queueLength": "7", "scaledObject.activationQueueLength": "3"}},
			queue:      "7",
			activation: "3",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rel := renderChart(t, tc.render)
			scaledObject := rel.find(t, "ScaledObject")
			metadata := scaledObject.field(t, "spec.triggers.0.metadata").(map[string]any)

			t.Log("Every trigger metadata value is a string")
			require.NotEmpty(t, metadata)
			for key, value := range metadata {
				assert.IsType(t, "", value, "metadata %s", key)
			}
			assert.Equal(t, tc.queue, metadata["queueLength"])
			assert.Equal(t, tc.activation, metadata["activationQueueLength"])

			t.Log("The ScaledObject passes KEDA's CRD schema")
			assert.Empty(t, keda.validate(scaledObject))
		})
	}
}

func TestThresholdsRejectNonPositive(t *testing.T) {
	cases := []struct {
		name     string
		render   render
		expected string
	}{
		{"queueLength word", render{stringValues: map[string]string{"scaledObject.queueLength": "five"}}, "/scaledObject/queueLength"},
		{"queueLength zero", render{values: map[string]string{"scaledObject.queueLength": "0"}}, "/scaledObject/queueLength"},
		{"queueLength negative", render{values: map[string]string{"scaledObject.queueLength": "-1"}}, "/scaledObject/queueLength"},
		{"queueLength zero string", render{stringValues: map[string]string{"scaledObject.queueLength": "0"}}, "/scaledObject/queueLength"},
		{"queueLength negative string", render{stringValues: map[string]string{"scaledObject.queueLength": "-1"}}, "/scaledObject/queueLength"},
		{"queueLength fraction", render{values: map[string]string{"scaledObject.queueLength": "2.5"}}, "/scaledObject/queueLength"},
		{"queueLength padded string", render{stringValues: map[string]string{"scaledObject.queueLength": " 5"}}, "/scaledObject/queueLength"},
		{"activation negative", render{values: map[string]string{"scaledObject.activationQueueLength": "-1"}}, "/scaledObject/activationQueueLength"},
		{"activation word", render{stringValues: map[string]string{"scaledObject.activationQueueLength": "twenty"}}, "/scaledObject/activationQueueLength"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.render.scenario = scenarioAKS
			rel, err := renderE(t, tc.render)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.expected)
			assert.Empty(t, rel.objects)
		})
	}
}

func TestQueueLengthStrategy(t *testing.T) {
	t.Log("Default all: the approximate count includes invisible, in-flight messages")
	rel := renderChart(t, render{valuesFiles: []string{requiredValuesFile}})
	assert.Equal(t, "all", rel.find(t, "ScaledObject").field(t, "spec.triggers.0.metadata.queueLengthStrategy"))

	t.Log("visibleonly is passed through")
	rel = renderChart(t, render{valuesFiles: []string{requiredValuesFile}, values: map[string]string{"scaledObject.queueLengthStrategy": "visibleonly"}})
	assert.Equal(t, "visibleonly", rel.find(t, "ScaledObject").field(t, "spec.triggers.0.metadata.queueLengthStrategy"))

	t.Log("Another spelling is rejected, because KEDA's scaler accepts only these two")
	_, err := renderE(t, render{valuesFiles: []string{requiredValuesFile}, values: map[string]string{"scaledObject.queueLengthStrategy": "VisibleOnly"}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "/scaledObject/queueLengthStrategy")

	t.Log("The values document the replica formula and both strategies")
	values, err := os.ReadFile(filepath.Join(chartDir, "values.yaml"))
	require.NoError(t, err)
	text := strings.Join(strings.Fields(strings.ReplaceAll(string(values), "#", "")), " ")
	assert.Contains(t, text, "ceil(count / queueLength), clamped to [minReplicaCount, maxReplicaCount]")
	assert.Contains(t, text, "`all` uses the queue's approximate message count, which includes invisible messages")
	assert.Contains(t, text, "`visibleonly` peeks up to 32 visible messages")
}

func TestNodePoolEmitsV1Shape(t *testing.T) {
	upstreamKarpenter := loadUpstreamKarpenterCRDs(t)

	t.Log("Values in the v1beta1 shape are rejected, naming the fields")
	_, err := renderE(t, render{scenario: scenarioAKS, valuesFiles: []string{filepath.Join("testdata", "nodepool-v1beta1-values.yaml")}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "/nodePool/disruption")
	assert.Contains(t, err.Error(), "expireAfter")
	assert.Contains(t, err.Error(), "/nodePool/disruption/consolidationPolicy")

	t.Log("The rendered NodePool has the karpenter.sh/v1 shape")
	rel := renderChart(t, render{valuesFiles: []string{requiredValuesFile}})
	nodePool := rel.find(t, "NodePool")
	assert.Equal(t, "karpenter.sh/v1", nodePool.GetAPIVersion())
	assert.Equal(t, map[string]any{"group": "karpenter.azure.com", "kind": "AKSNodeClass", "name": "default"}, nodePool.field(t, "spec.template.spec.nodeClassRef"))
	assert.Equal(t, "WhenEmptyOrUnderutilized", nodePool.field(t, "spec.disruption.consolidationPolicy"))
	assert.Equal(t, "1m", nodePool.field(t, "spec.disruption.consolidateAfter"))
	assert.Equal(t, []any{map[string]any{"nodes": "10%"}}, nodePool.field(t, "spec.disruption.budgets"))
	assert.Equal(t, "720h", nodePool.field(t, "spec.template.spec.expireAfter"))
	assert.False(t, nodePool.has("spec.disruption.expireAfter"))

	t.Log("It passes the v1 NodePool CRD of upstream Karpenter and of the Azure provider")
	assert.Empty(t, upstreamKarpenter.validate(nodePool))
	t.Run("azure provider crd", func(t *testing.T) {
		assert.Empty(t, loadAzureKarpenterCRDs(t).validate(nodePool))
	})
}

func TestCRDCheck(t *testing.T) {
	keda := []string{"keda.sh/v1alpha1/ScaledObject", "keda.sh/v1alpha1/TriggerAuthentication"}
	kedaAndKarpenter := append([]string{"karpenter.sh/v1/NodePool"}, keda...)

	cases := []struct {
		name        string
		values      map[string]string
		apiVersions []string
		missing     []string // CRD lines expected in the error; nil means the render succeeds
		notMissing  []string
	}{
		{
			name:        "no crds",
			apiVersions: []string{},
			missing:     []string{"ScaledObject, TriggerAuthentication (keda.sh/v1alpha1)", "--enable-keda", "kedacore/keda", "NodePool (karpenter.sh/v1)", "--node-provisioning-mode Auto"},
		},
		{
			name:        "no karpenter",
			apiVersions: keda,
			missing:     []string{"NodePool (karpenter.sh/v1)", "nodePool.enabled=false"},
			notMissing:  []string{"(keda.sh/v1alpha1) from KEDA"},
		},
		{
			name:        "one keda crd",
			apiVersions: []string{"keda.sh/v1alpha1/ScaledObject", "karpenter.sh/v1/NodePool"},
			missing:     []string{"- TriggerAuthentication (keda.sh/v1alpha1)"},
			notMissing:  []string{"ScaledObject,", "NodePool (karpenter.sh/v1)"},
		},
		{
			name:        "no aksnodeclass",
			values:      map[string]string{"nodeClass.enabled": "true"},
			apiVersions: kedaAndKarpenter,
			missing:     []string{"AKSNodeClass (karpenter.azure.com/v1beta1)"},
		},
		{
			name:        "all present",
			values:      map[string]string{"nodeClass.enabled": "true"},
			apiVersions: allAPIVersions,
		},
		{
			name:        "nodepool off needs only keda",
			values:      map[string]string{"nodePool.enabled": "false"},
			apiVersions: keda,
		},
		{
			name:        "keda and karpenter off",
			values:      map[string]string{"nodePool.enabled": "false", "scaledObject.enabled": "false"},
			apiVersions: []string{},
		},
		{
			name:        "check skipped",
			values:      map[string]string{"crdCheck.enabled": "false", "nodeClass.enabled": "true"},
			apiVersions: []string{},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rel, err := renderE(t, render{scenario: scenarioAKS, values: tc.values, apiVersions: tc.apiVersions})
			if tc.missing == nil {
				require.NoError(t, err)
				assert.NotEmpty(t, rel.objects)
				return
			}

			require.Error(t, err)
			t.Log("Nothing is rendered, so helm applies nothing")
			assert.Empty(t, rel.objects)
			message := err.Error()
			assert.Contains(t, message, "The cluster has no CustomResourceDefinition for:")
			assert.Contains(t, message, "crdCheck.enabled=false")
			for _, line := range tc.missing {
				assert.Contains(t, message, line)
			}
			for _, line := range tc.notMissing {
				assert.NotContains(t, message, line)
			}
			assert.NotContains(t, message, "no matches for kind")
		})
	}
}

func TestWorkloadIdentityLabelAndAnnotation(t *testing.T) {
	cases := []struct {
		name          string
		render        render
		workloadID    bool
		tenantID      string
		createAccount bool
	}{
		{"aks with tenant", render{scenario: scenarioAKS}, true, "00000000-0000-0000-0000-000000000002", true},
		{"aks without tenant", render{scenario: scenarioAKS, values: map[string]string{"auth.workloadIdentity.tenantId": ""}}, true, "", true},
		{"existing serviceaccount", render{scenario: scenarioAKS, values: map[string]string{"serviceAccount.create": "false"}}, true, "", false},
		{"connection string", render{scenario: scenarioKind}, false, "", true},
		{"connection string with stale client id", render{scenario: scenarioKind, values: map[string]string{"auth.workloadIdentity.clientId": "00000000-0000-0000-0000-000000000009"}}, false, "", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rel := renderChart(t, tc.render)
			deployment := toTyped[appsv1.Deployment](t, rel.find(t, "Deployment"))
			testPod := toTyped[corev1.Pod](t, rel.find(t, "Pod"))

			if !tc.createAccount {
				t.Log("The chart creates no ServiceAccount; the pods still ask for injection")
				assert.Empty(t, rel.all("ServiceAccount"))
				assert.Equal(t, "true", deployment.Spec.Template.Labels["azure.workload.identity/use"])
				assert.Equal(t, "true", testPod.Labels["azure.workload.identity/use"])
				return
			}
			serviceAccount := toTyped[corev1.ServiceAccount](t, rel.find(t, "ServiceAccount"))

			if !tc.workloadID {
				t.Log("Neither the label nor the annotations")
				assert.NotContains(t, deployment.Spec.Template.Labels, "azure.workload.identity/use")
				assert.NotContains(t, testPod.Labels, "azure.workload.identity/use")
				assert.NotContains(t, serviceAccount.Annotations, "azure.workload.identity/client-id")
				assert.NotContains(t, serviceAccount.Annotations, "azure.workload.identity/tenant-id")
				return
			}

			t.Log("The pod label and the ServiceAccount annotation come together")
			assert.Equal(t, "true", deployment.Spec.Template.Labels["azure.workload.identity/use"])
			assert.Equal(t, "true", testPod.Labels["azure.workload.identity/use"])
			assert.Equal(t, "00000000-0000-0000-0000-000000000001", serviceAccount.Annotations["azure.workload.identity/client-id"])
			if tc.tenantID == "" {
				assert.NotContains(t, serviceAccount.Annotations, "azure.workload.identity/tenant-id")
			} else {
				assert.Equal(t, tc.tenantID, serviceAccount.Annotations["azure.workload.identity/tenant-id"])
			}
			assert.Equal(t, serviceAccount.Name, deployment.Spec.Template.Spec.ServiceAccountName)
		})
	}

	t.Run("empty client id", func(t *testing.T) {
		t.Log("Workload identity without a client ID fails instead of rendering a label with no annotation")
		_, err := renderE(t, render{scenario: scenarioAKS, values: map[string]string{"auth.workloadIdentity.clientId": ""}})
		require.Error(t, err)
		assert.Contains(t, err.Error(), "auth.workloadIdentity.clientId is empty")
	})

	t.Run("extra annotations kept", func(t *testing.T) {
		rel := renderChart(t, render{scenario: scenarioAKS, jsonValues: map[string]string{"serviceAccount.annotations": `{"example.com/owner":"data"}`}})
		annotations := toTyped[corev1.ServiceAccount](t, rel.find(t, "ServiceAccount")).Annotations
		assert.Equal(t, "data", annotations["example.com/owner"])
		assert.Equal(t, "00000000-0000-0000-0000-000000000001", annotations["azure.workload.identity/client-id"])
	})
}
