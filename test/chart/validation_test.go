package chart

// This file validates every object that the chart renders against the schema a cluster would
// apply, in every scenario and in variants that turn on the optional parts. Core kinds get strict
// decoding and the restricted Pod Security profile, and custom resources get the KEDA and
// Karpenter CRDs. It also checks that the validators reject objects that a cluster rejects, so a
// validator that accepts everything cannot pass these tests.

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// variant is a render that the validation tests cover besides the plain scenarios.
type variant struct {
	name   string
	render render
}

func validationVariants(t *testing.T) []variant {
	t.Helper()
	var variants []variant
	for _, scenario := range scenarios(t) {
		variants = append(variants, variant{name: scenario, render: render{scenario: scenario}})
	}
	return append(variants,
		variant{name: "defaults", render: render{valuesFiles: []string{requiredValuesFile}}},
		variant{name: "aks-node-class", render: render{scenario: scenarioAKS, values: map[string]string{"nodeClass.enabled": "true"}}},
		variant{name: "advanced-scaling", render: render{
			scenario: scenarioAKS,
			values: map[string]string{
				"scaledObject.advanced.restoreToOriginalReplicaCount": "true",
				"scaledObject.minReplicaCount":                        "2",
				"storage.endpointSuffix":                              "core.contoso-stack.example",
				"nodePool.weight":                                     "50",
			},
			jsonValues: map[string]string{
				"scaledObject.advanced.horizontalPodAutoscalerConfig.behavior": `{"scaleDown":{"stabilizationWindowSeconds":60,"policies":[{"type":"Pods","value":2,"periodSeconds":30}]}}`,
				"nodePool.requirements.extra":                                  `[{"key":"karpenter.azure.com/sku-cpu","operator":"Gt","values":["1"],"minValues":1}]`,
				"nodePool.startupTaints":                                       `[{"key":"node.cilium.io/agent-not-ready","value":"true","effect":"NoExecute"}]`,
			},
		}},
		variant{name: "fixed-replicas", render: render{scenario: scenarioKind, values: map[string]string{"scaledObject.enabled": "false"}}},
	)
}

func TestRenderedObjectsPassSchemas(t *testing.T) {
	keda := loadKEDACRDs(t)
	upstreamKarpenter := loadUpstreamKarpenterCRDs(t)

	for _, v := range validationVariants(t) {
		t.Run(v.name, func(t *testing.T) {
			rel := renderChart(t, v.render)
			require.NotEmpty(t, rel.objects)

			for _, obj := range rel.objects {
				switch obj.GetKind() {
				case "Deployment", "ServiceAccount", "Secret", "Pod":
					_, err := strictDecode(obj)
					assert.NoError(t, err)
				case "ScaledObject", "TriggerAuthentication":
					assert.Empty(t, keda.validate(obj))
				case "NodePool":
					t.Log("NodePool against upstream Karpenter's CRD, which the simulated cluster uses")
					assert.Empty(t, upstreamKarpenter.validate(obj))
				case "AKSNodeClass":
					// Validated below against the Azure provider's CRDs.
				default:
					t.Errorf("%s %s from %s has no validation in this test", obj.GetKind(), obj.GetName(), obj.source)
				}
			}
		})
	}
}

func TestKarpenterObjectsPassAzureCRDs(t *testing.T) {
	azure := loadAzureKarpenterCRDs(t)

	for _, v := range validationVariants(t) {
		t.Run(v.name, func(t *testing.T) {
			rel := renderChart(t, v.render)
			for _, obj := range append(rel.all("NodePool"), rel.all("AKSNodeClass")...) {
				assert.Empty(t, azure.validate(obj))
			}
		})
	}
}

func TestPodsMeetRestrictedProfile(t *testing.T) {
	for _, v := range validationVariants(t) {
		t.Run(v.name, func(t *testing.T) {
			rel := renderChart(t, v.render)

			deployment := toTyped[appsv1.Deployment](t, rel.find(t, "Deployment"))
			consumerPod := &corev1.Pod{ObjectMeta: deployment.Spec.Template.ObjectMeta, Spec: deployment.Spec.Template.Spec}
			assert.Empty(t, restrictedViolations(consumerPod), "consumer pod template")

			for _, obj := range rel.all("Pod") {
				assert.Empty(t, restrictedViolations(toTyped[corev1.Pod](t, obj)), "Pod %s", obj.GetName())
			}
		})
	}
}

func TestValidatorsRejectInvalidObjects(t *testing.T) {
	keda := loadKEDACRDs(t)
	upstreamKarpenter := loadUpstreamKarpenterCRDs(t)
	rel := renderChart(t, render{scenario: scenarioAKS})

	set := func(value any, path ...string) func(map[string]any) error {
		return func(content map[string]any) error {
			return unstructured.SetNestedField(content, value, path...)
		}
	}
	validateCRD := func(catalog crdCatalog) func(object) error {
		return func(obj object) error { return errors.Join(catalog.validate(obj)...) }
	}
	validateCore := func(obj object) error {
		_, err := strictDecode(obj)
		return err
	}
	validateRestricted := func(obj object) error {
		if violations := restrictedViolations(toTyped[corev1.Pod](t, obj)); violations != "" {
			return errors.New(violations)
		}
		return nil
	}

	cases := []struct {
		name     string
		kind     string
		change   func(map[string]any) error
		validate func(object) error
		expected string
	}{
		{
			name: "scaledobject integer metadata",
			kind: "ScaledObject",
			change: func(content map[string]any) error {
				triggers, _, err := unstructured.NestedSlice(content, "spec", "triggers")
				if err != nil {
					return err
				}
				triggers[0].(map[string]any)["metadata"].(map[string]any)["queueLength"] = int64(5)
				return unstructured.SetNestedSlice(content, triggers, "spec", "triggers")
			},
			validate: validateCRD(keda),
			expected: "spec.triggers[0].metadata.queueLength in body must be of type string",
		},
		{
			name:     "scaledobject min above max",
			kind:     "ScaledObject",
			change:   set(int64(20), "spec", "minReplicaCount"),
			validate: validateCRD(keda),
			expected: "minReplicaCount must be less than or equal to maxReplicaCount",
		},
		{
			name:     "triggerauthentication unknown field",
			kind:     "TriggerAuthentication",
			change:   set("x", "spec", "podIdentity", "clientId"),
			validate: validateCRD(keda),
			expected: "spec.podIdentity.clientId",
		},
		{
			name:     "nodepool expireAfter under disruption",
			kind:     "NodePool",
			change:   set("Never", "spec", "disruption", "expireAfter"),
			validate: validateCRD(upstreamKarpenter),
			expected: "fields unknown to karpenter.sh_nodepools.yaml: spec.disruption.expireAfter",
		},
		{
			name:     "nodepool WhenUnderutilized policy",
			kind:     "NodePool",
			change:   set("WhenUnderutilized", "spec", "disruption", "consolidationPolicy"),
			validate: validateCRD(upstreamKarpenter),
			expected: "spec.disruption.consolidationPolicy: Unsupported value",
		},
		{
			name:     "nodepool nodeClassRef without group",
			kind:     "NodePool",
			change:   set(map[string]any{"name": "default"}, "spec", "template", "spec", "nodeClassRef"),
			validate: validateCRD(upstreamKarpenter),
			expected: "spec.template.spec.nodeClassRef.group: Required value",
		},
		{
			name:     "nodepool restricted label",
			kind:     "NodePool",
			change:   set(map[string]any{"karpenter.sh/nodepool": "x"}, "spec", "template", "metadata", "labels"),
			validate: validateCRD(upstreamKarpenter),
			expected: `label "karpenter.sh/nodepool" is restricted`,
		},
		{
			name:     "deployment unknown field",
			kind:     "Deployment",
			change:   set(int64(3), "spec", "replica"),
			validate: validateCore,
			expected: `unknown field "spec.replica"`,
		},
		{
			name:     "deployment wrong type",
			kind:     "Deployment",
			change:   set("three", "spec", "replicas"),
			validate: validateCore,
			expected: "cannot unmarshal string",
		},
		{
			name:     "serviceaccount invalid name",
			kind:     "ServiceAccount",
			change:   set("Not_A_Name", "metadata", "name"),
			validate: validateCore,
			expected: "metadata.name: Invalid value",
		},
		{
			name:     "pod running as root",
			kind:     "Pod",
			change:   set(false, "spec", "securityContext", "runAsNonRoot"),
			validate: validateRestricted,
			expected: "runAsNonRoot != true",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			original := rel.find(t, tc.kind)
			changed := object{source: original.source, Unstructured: original.DeepCopy()}
			require.NoError(t, tc.change(changed.Object))

			err := tc.validate(changed)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.expected)
		})
	}
}

func TestAzureValidatorRejectsInvalidObjects(t *testing.T) {
	azure := loadAzureKarpenterCRDs(t)
	rel := renderChart(t, render{scenario: scenarioAKS, values: map[string]string{"nodeClass.enabled": "true"}})

	t.Log("A NodePool label in a domain that the Azure provider reserves")
	nodePool := rel.find(t, "NodePool")
	invalidPool := object{source: nodePool.source, Unstructured: nodePool.DeepCopy()}
	require.NoError(t, unstructured.SetNestedStringMap(invalidPool.Object, map[string]string{"kubernetes.azure.com/agentpool-x": "y"}, "spec", "template", "metadata", "labels"))
	poolErr := errors.Join(azure.validate(invalidPool)...)
	require.Error(t, poolErr)
	assert.Contains(t, poolErr.Error(), `label domain "kubernetes.azure.com" is restricted`)

	t.Log("An AKSNodeClass OS disk below the provider's minimum of 30 GB")
	nodeClass := rel.find(t, "AKSNodeClass")
	invalidClass := object{source: nodeClass.source, Unstructured: nodeClass.DeepCopy()}
	require.NoError(t, unstructured.SetNestedField(invalidClass.Object, int64(10), "spec", "osDiskSizeGB"))
	classErr := errors.Join(azure.validate(invalidClass)...)
	require.Error(t, classErr)
	assert.Contains(t, classErr.Error(), "spec.osDiskSizeGB in body should be greater than or equal to 30")
}
