// This file tests the offline render that preflight reads: the repository's chart rendered with
// values mapped from deployment outputs, and the preflight configuration derived from the
// rendered objects. No cluster is involved; the Kubernetes version falls back to Helm's default
// because the API server address is closed.
package installer

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"

	"github.com/aks-edw/aks-edw/internal/preflight"
)

// closedAPIServer is a loopback address where nothing listens.
var closedAPIServer = &rest.Config{Host: "https://127.0.0.1:1"}

func renderForPreflight(t *testing.T, opts ...Option) preflight.Config {
	t.Helper()
	inst, err := New(append([]Option{WithChart("../../charts/aks-edw")}, opts...)...)
	require.NoError(t, err)
	require.NoError(t, inst.load())

	manifest, err := inst.renderOffline(context.Background(), closedAPIServer)
	require.NoError(t, err)
	objects, err := preflight.ParseManifest(manifest)
	require.NoError(t, err)
	return preflight.ConfigFromManifest(inst.Namespace(), objects)
}

func TestRenderWithOutputsGivesWorkloadIdentityConfig(t *testing.T) {
	t.Log("Render the chart with only the deployment outputs as values.")
	config := renderForPreflight(t, WithOutputsFile("testdata/outputs.json"))

	t.Log("The namespace comes from the outputs, so the subject matches the federated credential.")
	assert.Equal(t, "edw", config.Namespace)
	require.NotNil(t, config.WorkloadIdentity)
	assert.Equal(t, "system:serviceaccount:edw:edw-consumer", config.WorkloadIdentity.Subject())
	assert.Equal(t, "11111111-2222-3333-4444-555555555555", config.WorkloadIdentity.ClientID)
	assert.True(t, config.WorkloadIdentity.KEDAOperator, "the TriggerAuthentication uses podIdentity azure-workload")
	assert.Equal(t, "11111111-2222-3333-4444-555555555555", config.WorkloadIdentity.KEDAIdentityID)

	t.Log("The NodePool is on by default and names the AKS node class.")
	require.NotNil(t, config.NodeClassRef)
	assert.Equal(t, preflight.NodeClassRef{Group: "karpenter.azure.com", Kind: "AKSNodeClass", Name: "default"}, *config.NodeClassRef)

	for _, gvk := range []schema.GroupVersionKind{
		{Group: "keda.sh", Version: "v1alpha1", Kind: "ScaledObject"},
		{Group: "keda.sh", Version: "v1alpha1", Kind: "TriggerAuthentication"},
		{Group: "karpenter.sh", Version: "v1", Kind: "NodePool"},
		{Group: "apps", Version: "v1", Kind: "Deployment"},
	} {
		assert.Contains(t, config.Kinds, gvk)
	}
}

func TestRenderConnectionStringWithoutNodePool(t *testing.T) {
	config := renderForPreflight(t,
		WithNamespace("plain"),
		WithSet("auth.mode=connectionString", "nodePool.enabled=false",
			"storage.queueName=orders", "storage.tableName=orderrows"),
		WithSetString("auth.connectionString.value=UseDevelopmentStorage=true"),
	)

	assert.Nil(t, config.WorkloadIdentity, "connection-string auth needs no identity checks")
	assert.Nil(t, config.NodeClassRef)
	assert.NotContains(t, config.Kinds, schema.GroupVersionKind{Group: "karpenter.sh", Version: "v1", Kind: "NodePool"})
	assert.Contains(t, config.Kinds, schema.GroupVersionKind{Version: "v1", Kind: "Secret"})
}

func TestRenderKWOKNodeClass(t *testing.T) {
	config := renderForPreflight(t,
		WithSet("auth.mode=connectionString", "storage.queueName=orders", "storage.tableName=orderrows",
			"nodePool.nodeClassRef.group=karpenter.kwok.sh", "nodePool.nodeClassRef.kind=KWOKNodeClass"),
		WithSetString("auth.connectionString.value=UseDevelopmentStorage=true"),
	)

	require.NotNil(t, config.NodeClassRef)
	assert.Equal(t, "KWOKNodeClass", config.NodeClassRef.Kind)
	assert.Equal(t, "karpenter.kwok.sh", config.NodeClassRef.Group)
	assert.False(t, config.NodeClassRef.Rendered, "the chart creates only AKSNodeClass objects")
}

func TestRenderRejectsInvalidValue(t *testing.T) {
	inst, err := New(WithChart("../../charts/aks-edw"), WithSet("storage.queueName=orders", "storage.tableName=orderrows", "auth.mode=connectionString"))
	require.NoError(t, err)
	require.NoError(t, inst.load())

	_, err = inst.renderOffline(context.Background(), closedAPIServer)

	require.Error(t, err, "connection-string auth without a connection string must fail to render")
	assert.Contains(t, err.Error(), "auth.connectionString")
}
