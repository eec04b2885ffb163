// Package karpenter runs Karpenter's kwok provider as a host process against the simulated
// cluster. The provider turns NodeClaims into kwok nodes, picking instance types from a file
// that imitates Azure VM sizes. Each offering carries the labels that AKS node
// autoprovisioning puts on nodes (karpenter.azure.com/sku-family, sku-name, ...), so a NodePool
// written for AKS selects simulated nodes unchanged.
package karpenter

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/aks-edw/aks-edw/internal/sim/proc"
)

const (
	// NodeClassName is the KWOKNodeClass that NodePools in the simulation reference.
	NodeClassName = "default"

	// NodeClassGroup, NodeClassKind and NodeClassVersion name the KWOKNodeClass API.
	NodeClassGroup   = "karpenter.kwok.sh"
	NodeClassKind    = "KWOKNodeClass"
	NodeClassVersion = "v1alpha1"

	// AKS node labels carried by the simulated instance types.
	LabelSKUFamily  = "karpenter.azure.com/sku-family"
	LabelSKUName    = "karpenter.azure.com/sku-name"
	LabelSKUVersion = "karpenter.azure.com/sku-version"
	LabelSKUCPU     = "karpenter.azure.com/sku-cpu"
	LabelSKUMemory  = "karpenter.azure.com/sku-memory"

	labelCapacityType = "karpenter.sh/capacity-type"
	labelZone         = "topology.kubernetes.io/zone"
)

// Zones are the simulated availability zones. Every SKU is offered in each.
var Zones = []string{"sim-1", "sim-2", "sim-3"}

// SKU is one simulated Azure VM size.
type SKU struct {
	Name     string
	Family   string
	Version  string
	CPU      int
	MemoryGi int
	// OnDemandPrice and SpotPrice are USD per hour. They only rank offerings for Karpenter's
	// cheapest-first choice; they are illustrative, not Azure's price list.
	OnDemandPrice float64
	SpotPrice     float64
}

// DefaultSKUs are D-family v5 sizes (amd64, Linux), each offered on-demand and as spot.
var DefaultSKUs = []SKU{
	{Name: "Standard_D2s_v5", Family: "D", Version: "5", CPU: 2, MemoryGi: 8, OnDemandPrice: 0.096, SpotPrice: 0.019},
	{Name: "Standard_D4s_v5", Family: "D", Version: "5", CPU: 4, MemoryGi: 16, OnDemandPrice: 0.192, SpotPrice: 0.038},
	{Name: "Standard_D8s_v5", Family: "D", Version: "5", CPU: 8, MemoryGi: 32, OnDemandPrice: 0.384, SpotPrice: 0.077},
	{Name: "Standard_D16s_v5", Family: "D", Version: "5", CPU: 16, MemoryGi: 64, OnDemandPrice: 0.768, SpotPrice: 0.154},
}

// The JSON shapes below follow the kwok provider's instance-types file (Karpenter v1.14,
// kwok/cloudprovider/helpers.go): offering requirements become node labels.
type instanceType struct {
	Name             string            `json:"name"`
	Offerings        []offering        `json:"offerings"`
	Architecture     string            `json:"architecture"`
	OperatingSystems []string          `json:"operatingSystems"`
	Resources        map[string]string `json:"resources"`
}

type offering struct {
	Price        float64       `json:"Price"`
	Available    bool          `json:"Available"`
	Requirements []requirement `json:"Requirements"`
}

type requirement struct {
	Key      string   `json:"key"`
	Operator string   `json:"operator"`
	Values   []string `json:"values"`
}

// InstanceTypesJSON renders the kwok provider's instance-types file for skus.
func InstanceTypesJSON(skus []SKU) ([]byte, error) {
	var types []instanceType
	for _, sku := range skus {
		t := instanceType{
			Name:             sku.Name,
			Architecture:     "amd64",
			OperatingSystems: []string{"linux"},
			Resources: map[string]string{
				"cpu":               fmt.Sprint(sku.CPU),
				"memory":            fmt.Sprintf("%dGi", sku.MemoryGi),
				"ephemeral-storage": "128Gi",
				"pods":              "110",
			},
		}
		for _, zone := range Zones {
			for _, capacity := range []struct {
				kind  string
				price float64
			}{{"on-demand", sku.OnDemandPrice}, {"spot", sku.SpotPrice}} {
				t.Offerings = append(t.Offerings, offering{
					Price:     capacity.price,
					Available: true,
					Requirements: []requirement{
						{Key: labelCapacityType, Operator: "In", Values: []string{capacity.kind}},
						{Key: labelZone, Operator: "In", Values: []string{zone}},
						{Key: LabelSKUFamily, Operator: "In", Values: []string{sku.Family}},
						{Key: LabelSKUName, Operator: "In", Values: []string{sku.Name}},
						{Key: LabelSKUVersion, Operator: "In", Values: []string{sku.Version}},
						{Key: LabelSKUCPU, Operator: "In", Values: []string{fmt.Sprint(sku.CPU)}},
						{Key: LabelSKUMemory, Operator: "In", Values: []string{fmt.Sprint(sku.MemoryGi * 1024)}},
					},
				})
			}
		}
		types = append(types, t)
	}
	return json.MarshalIndent(types, "", "  ")
}

// NodeClass returns the KWOKNodeClass that simulated NodePools reference.
func NodeClass() *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": NodeClassGroup + "/" + NodeClassVersion,
		"kind":       NodeClassKind,
		"metadata":   map[string]any{"name": NodeClassName},
	}}
}

// Config describes the provider process.
type Config struct {
	Binary            string
	Kubeconfig        string
	InstanceTypesFile string
	LogDir            string
	MetricsPort       int
	HealthProbePort   int
}

// Spec returns the provider's process. Leader election is off because one instance runs; the
// metrics and probe listeners are on 127.0.0.1 (the build patches their address).
func (c Config) Spec() proc.Spec {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "KUBECONFIG=") {
			env = append(env, kv)
		}
	}
	env = append(env,
		"KUBECONFIG="+c.Kubeconfig,
		"DISABLE_LEADER_ELECTION=true",
		"INSTANCE_TYPES_FILE_PATH="+c.InstanceTypesFile,
		fmt.Sprintf("METRICS_PORT=%d", c.MetricsPort),
		fmt.Sprintf("HEALTH_PROBE_PORT=%d", c.HealthProbePort),
		"LOG_LEVEL=info",
	)
	return proc.Spec{
		Name:   "karpenter",
		Binary: c.Binary,
		Env:    env,
		Dir:    c.LogDir,
		Log:    filepath.Join(c.LogDir, "karpenter.log"),
	}
}
