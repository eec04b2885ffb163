// This file tests how the installer builds chart values: parsing the infrastructure deployment
// outputs, mapping them to chart values, the precedence of outputs, values files, a values map,
// --set and --set-string, and the redaction of Secrets in printed manifests.
package installer

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestReadOutputsParsesEveryName(t *testing.T) {
	outputs, err := ReadOutputs("testdata/outputs.json")
	require.NoError(t, err)

	assert.Equal(t, "edwstore7x", outputs.StorageAccountName)
	assert.Equal(t, "orders", outputs.QueueName)
	assert.Equal(t, "orders-poison", outputs.PoisonQueueName)
	assert.Equal(t, "orderrows", outputs.TableName)
	assert.Equal(t, "core.windows.net", outputs.StorageEndpointSuffix)
	assert.Equal(t, "edwacr7x", outputs.RegistryName)
	assert.Equal(t, "edwacr7x.azurecr.io", outputs.RegistryLoginServer)
	assert.Equal(t, "edw-aks", outputs.ClusterName)
	assert.Equal(t, "rg-edw", outputs.ResourceGroupName)
	assert.Equal(t, "https://eastus.oic.prod-aks.azure.com/tenant/issuer/", outputs.OIDCIssuerURL)
	assert.Equal(t, "11111111-2222-3333-4444-555555555555", outputs.WorkloadIdentityClientID)
	assert.Equal(t, "66666666-7777-8888-9999-000000000000", outputs.TenantID)
	assert.Equal(t, "edw", outputs.ServiceAccountNamespace)
	assert.Equal(t, "edw-consumer", outputs.ServiceAccountName)
	assert.Equal(t, "system:serviceaccount:edw:edw-consumer", outputs.ServiceAccountSubject())
}

func TestParseOutputsErrors(t *testing.T) {
	cases := []struct {
		name    string
		input   string
		message string
	}{
		{"not JSON", `{"queueName": `, "invalid JSON"},
		{"used output not a string", `{"queueName": {"type": "Int", "value": 5}}`, `output "queueName" has type "Int"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseOutputs([]byte(tc.input))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.message)
		})
	}
}

func TestParseOutputsIgnoresCaseAndUnusedNames(t *testing.T) {
	outputs, err := ParseOutputs([]byte(`{"QueueName": {"type": "String", "value": "q1"}, "other": {"type": "Object", "value": {"a": 1}}}`))
	require.NoError(t, err)
	assert.Equal(t, "q1", outputs.QueueName)
}

func TestReadOutputsMissingFileNamesFix(t *testing.T) {
	_, err := ReadOutputs("testdata/no-such-outputs.json")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "edwctl deploy")
}

func TestOutputsValuesMapping(t *testing.T) {
	outputs, err := ReadOutputs("testdata/outputs.json")
	require.NoError(t, err)

	values := outputs.Values("aks-edw/consumer")

	assert.Equal(t, "edwstore7x", lookupString(values, "storage", "accountName"))
	assert.Equal(t, "orders", lookupString(values, "storage", "queueName"))
	assert.Equal(t, "orders-poison", lookupString(values, "storage", "poisonQueueName"))
	assert.Equal(t, "orderrows", lookupString(values, "storage", "tableName"))
	assert.Equal(t, "core.windows.net", lookupString(values, "storage", "endpointSuffix"))
	assert.Equal(t, "workloadIdentity", lookupString(values, "auth", "mode"))
	assert.Equal(t, "11111111-2222-3333-4444-555555555555", lookupString(values, "auth", "workloadIdentity", "clientId"))
	assert.Equal(t, "66666666-7777-8888-9999-000000000000", lookupString(values, "auth", "workloadIdentity", "tenantId"))
	assert.Equal(t, "edw-consumer", lookupString(values, "serviceAccount", "name"))
	assert.Equal(t, "edwacr7x.azurecr.io/aks-edw/consumer", lookupString(values, "image", "repository"))
}

func TestOutputsValuesSkipsEmptyOutputs(t *testing.T) {
	outputs := &Outputs{QueueName: "only-queue"}

	values := outputs.Values("aks-edw/consumer")

	assert.Equal(t, "only-queue", lookupString(values, "storage", "queueName"))
	assert.NotContains(t, values, "auth", "no client id, so the auth mode stays the chart's")
	assert.NotContains(t, values, "image")
	assert.NotContains(t, values, "serviceAccount")
}

func TestImagePathDropsRegistryHost(t *testing.T) {
	cases := map[string]string{
		"aks-edw/consumer":                "aks-edw/consumer",
		"consumer":                        "consumer",
		"ghcr.io/aks-edw/consumer":        "aks-edw/consumer",
		"localhost:5000/aks-edw/consumer": "aks-edw/consumer",
		"localhost/consumer":              "consumer",
		"":                                "aks-edw/consumer",
	}
	for input, expected := range cases {
		assert.Equal(t, expected, imagePath(input), "imagePath(%q)", input)
	}
}

func TestValueSourcesPrecedence(t *testing.T) {
	t.Log("Each layer sets storage.queueName; the highest one must win, and keys set only by lower layers must survive.")
	outputs, err := ReadOutputs("testdata/outputs.json")
	require.NoError(t, err)
	sources := ValueSources{
		Outputs:           outputs,
		DefaultRepository: "aks-edw/consumer",
		Files:             []string{"testdata/values-low.yaml", "testdata/values-high.yaml"},
	}

	values, err := sources.Merge()
	require.NoError(t, err)
	assert.Equal(t, "from-file-high", lookupString(values, "storage", "queueName"), "the later file wins over the earlier one and the outputs")
	assert.Equal(t, "from-file-low", lookupString(values, "storage", "tableName"), "a file wins over the outputs")
	assert.Equal(t, "edwstore7x", lookupString(values, "storage", "accountName"), "an output no flag sets is kept")

	sources.Values = map[string]any{"storage": map[string]any{"queueName": "from-map"}}
	values, err = sources.Merge()
	require.NoError(t, err)
	assert.Equal(t, "from-map", lookupString(values, "storage", "queueName"), "the values map wins over files")

	sources.Set = []string{"storage.queueName=from-set", "scaledObject.queueLength=9"}
	values, err = sources.Merge()
	require.NoError(t, err)
	assert.Equal(t, "from-set", lookupString(values, "storage", "queueName"), "--set wins over the values map")
	assert.Equal(t, int64(9), values["scaledObject"].(map[string]any)["queueLength"], "--set infers the integer type")

	sources.SetString = []string{"storage.queueName=from-set-string", "scaledObject.queueLength=9"}
	values, err = sources.Merge()
	require.NoError(t, err)
	assert.Equal(t, "from-set-string", lookupString(values, "storage", "queueName"), "--set-string wins over --set")
	assert.Equal(t, "9", values["scaledObject"].(map[string]any)["queueLength"], "--set-string keeps the string")
}

func TestValueSourcesFlagOverridesOutputAuth(t *testing.T) {
	t.Log("Outputs switch auth to workload identity, but an explicit --set for the mode wins.")
	outputs, err := ReadOutputs("testdata/outputs.json")
	require.NoError(t, err)
	sources := ValueSources{Outputs: outputs, Set: []string{"auth.mode=connectionString"}}

	values, err := sources.Merge()
	require.NoError(t, err)

	assert.Equal(t, "connectionString", lookupString(values, "auth", "mode"))
	assert.Equal(t, "11111111-2222-3333-4444-555555555555", lookupString(values, "auth", "workloadIdentity", "clientId"))
}

func TestValueSourcesErrors(t *testing.T) {
	cases := []struct {
		name    string
		sources ValueSources
		message string
	}{
		{"missing file", ValueSources{Files: []string{"testdata/absent.yaml"}}, "absent.yaml"},
		{"invalid YAML", ValueSources{Files: []string{"testdata/outputs.json", "values_test.go"}}, "values_test.go is not valid YAML"},
		{"set without value", ValueSources{Set: []string{"storage.queueName"}}, `invalid --set "storage.queueName"`},
		{"set-string without value", ValueSources{SetString: []string{"storage"}}, `invalid --set-string "storage"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.sources.Merge()
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.message)
		})
	}
}

func TestRedactSecretsHidesValuesOnly(t *testing.T) {
	manifest := `---
# Source: aks-edw/templates/consumer/secret.yaml
apiVersion: v1
kind: Secret
metadata:
  name: edw-storage
stringData:
  connection-string: DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=c2VjcmV0
data:
  other: c2VjcmV0
---
# Source: aks-edw/templates/consumer/serviceaccount.yaml
apiVersion: v1
kind: ServiceAccount
metadata:
  name: edw-consumer
`
	redacted := RedactSecrets(manifest)

	assert.NotContains(t, redacted, "AccountKey")
	assert.NotContains(t, redacted, "c2VjcmV0")
	assert.Contains(t, redacted, "connection-string: REDACTED")
	assert.Contains(t, redacted, "other: REDACTED")
	assert.Contains(t, redacted, "# Source: aks-edw/templates/consumer/secret.yaml")
	assert.Contains(t, redacted, "name: edw-storage")
	assert.True(t, strings.HasSuffix(redacted, "kind: ServiceAccount\nmetadata:\n  name: edw-consumer\n"), "other documents stay byte for byte")
}
