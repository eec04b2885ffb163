// Tests for the simulated instance types: every SKU is offered on-demand and as spot in every
// zone, and each offering carries the AKS labels a NodePool written for AKS selects on.
package karpenter

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestInstanceTypesCarryAKSLabels(t *testing.T) {
	data, err := InstanceTypesJSON(DefaultSKUs)
	require.NoError(t, err)

	var types []instanceType
	require.NoError(t, json.Unmarshal(data, &types))
	require.Len(t, types, len(DefaultSKUs))

	for i, it := range types {
		sku := DefaultSKUs[i]
		t.Run(sku.Name, func(t *testing.T) {
			assert.Equal(t, sku.Name, it.Name)
			assert.Equal(t, "amd64", it.Architecture)
			assert.Equal(t, []string{"linux"}, it.OperatingSystems)
			require.Len(t, it.Offerings, 2*len(Zones))

			seen := map[string]bool{}
			for _, o := range it.Offerings {
				labels := map[string]string{}
				for _, r := range o.Requirements {
					require.Len(t, r.Values, 1, "requirement %s", r.Key)
					labels[r.Key] = r.Values[0]
				}
				assert.Equal(t, sku.Family, labels[LabelSKUFamily])
				assert.Equal(t, sku.Name, labels[LabelSKUName])
				assert.True(t, o.Available)
				seen[labels[labelCapacityType]+"/"+labels[labelZone]] = true
			}
			for _, zone := range Zones {
				assert.True(t, seen["on-demand/"+zone], "on-demand in %s", zone)
				assert.True(t, seen["spot/"+zone], "spot in %s", zone)
			}
		})
	}
}

func TestNodeClassNamesTheDefault(t *testing.T) {
	nc := NodeClass()
	assert.Equal(t, "karpenter.kwok.sh/v1alpha1", nc.GetAPIVersion())
	assert.Equal(t, NodeClassKind, nc.GetKind())
	assert.Equal(t, NodeClassName, nc.GetName())
}
