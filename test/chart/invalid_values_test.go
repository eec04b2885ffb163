package chart

// This file tests that invalid values fail `helm template`, and so `helm install`, before any
// object is rendered, with an error that names the value. The cases cover wrong types, unknown
// keys, values out of range and unknown enum values, which values.schema.json rejects, and
// combinations that only templates/validate.yaml can check.

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestInvalidValuesRejected(t *testing.T) {
	cases := []struct {
		name     string
		scenario string // default scenarioAKS
		values   map[string]string
		strings  map[string]string
		json     map[string]string
		expected []string
	}{
		// Wrong types.
		{name: "batchSize word", strings: map[string]string{"consumer.batchSize": "abc"}, expected: []string{"/consumer/batchSize", "want integer"}},
		{name: "enabled as string", strings: map[string]string{"scaledObject.enabled": "yes"}, expected: []string{"/scaledObject/enabled", "want boolean"}},
		{name: "taints as string", strings: map[string]string{"nodePool.taints": "none"}, expected: []string{"/nodePool/taints", "want array"}},
		{name: "env value number", json: map[string]string{"consumer.extraEnv": `[{"name":"X","value":5}]`}, expected: []string{"/consumer/extraEnv/0/value", "want string"}},
		{name: "minReplicaCount string", strings: map[string]string{"scaledObject.minReplicaCount": "1"}, expected: []string{"/scaledObject/minReplicaCount", "want integer"}},
		{name: "budget nodes number", json: map[string]string{"nodePool.disruption.budgets": `[{"nodes":1}]`}, expected: []string{"/nodePool/disruption/budgets/0/nodes", "want string"}},

		// Unknown keys, at the top and nested.
		{name: "unknown top key", values: map[string]string{"replicas": "3"}, expected: []string{"additional properties 'replicas' not allowed"}},
		{name: "typo maxReplicas", values: map[string]string{"scaledObject.maxReplicas": "3"}, expected: []string{"/scaledObject", "'maxReplicas' not allowed"}},
		{name: "unknown storage key", values: map[string]string{"storage.queue": "q"}, expected: []string{"/storage", "'queue' not allowed"}},
		{name: "unknown taint key", json: map[string]string{"nodePool.taints": `[{"key":"a","effect":"NoSchedule","operator":"Equal"}]`}, expected: []string{"/nodePool/taints/0", "'operator' not allowed"}},

		// Zero, negative and out-of-range numbers.
		{name: "queueLength zero", values: map[string]string{"scaledObject.queueLength": "0"}, expected: []string{"/scaledObject/queueLength"}},
		{name: "queueLength negative", values: map[string]string{"scaledObject.queueLength": "-1"}, expected: []string{"/scaledObject/queueLength"}},
		{name: "activation negative", values: map[string]string{"scaledObject.activationQueueLength": "-5"}, expected: []string{"/scaledObject/activationQueueLength"}},
		{name: "maxReplicaCount zero", values: map[string]string{"scaledObject.maxReplicaCount": "0"}, expected: []string{"/scaledObject/maxReplicaCount", "minimum"}},
		{name: "minReplicaCount negative", values: map[string]string{"scaledObject.minReplicaCount": "-1"}, expected: []string{"/scaledObject/minReplicaCount", "minimum"}},
		{name: "pollingInterval zero", values: map[string]string{"scaledObject.pollingInterval": "0"}, expected: []string{"/scaledObject/pollingInterval", "minimum"}},
		{name: "batchSize above 32", values: map[string]string{"consumer.batchSize": "33"}, expected: []string{"/consumer/batchSize", "maximum"}},
		{name: "maxDequeueCount zero", values: map[string]string{"consumer.maxDequeueCount": "0"}, expected: []string{"/consumer/maxDequeueCount", "minimum"}},
		{name: "weight above 100", values: map[string]string{"nodePool.weight": "101"}, expected: []string{"/nodePool/weight", "maximum"}},
		{name: "osDiskSizeGB below 30", values: map[string]string{"nodeClass.osDiskSizeGB": "10"}, expected: []string{"/nodeClass/osDiskSizeGB", "minimum"}},
		{name: "runAsUser root", values: map[string]string{"consumer.podSecurityContext.runAsUser": "0"}, expected: []string{"/consumer/podSecurityContext/runAsUser", "minimum"}},

		// Replica bounds that only a template can compare.
		{name: "max below min", values: map[string]string{"scaledObject.maxReplicaCount": "2", "scaledObject.minReplicaCount": "3"}, expected: []string{"scaledObject.maxReplicaCount (2) is less than scaledObject.minReplicaCount (3)"}},

		// Enums.
		{name: "capacity type reserved", json: map[string]string{"nodePool.requirements.capacityTypes": `["reserved"]`}, expected: []string{"/nodePool/requirements/capacityTypes/0", "'on-demand', 'spot'"}},
		{name: "capacity type empty", json: map[string]string{"nodePool.requirements.capacityTypes": `[]`}, expected: []string{"/nodePool/requirements/capacityTypes", "minItems"}},
		{name: "architecture x86", json: map[string]string{"nodePool.requirements.architectures": `["x86"]`}, expected: []string{"/nodePool/requirements/architectures/0"}},
		{name: "windows nodes", json: map[string]string{"nodePool.requirements.operatingSystems": `["windows"]`}, expected: []string{"/nodePool/requirements/operatingSystems/0"}},
		{name: "auth mode key", values: map[string]string{"auth.mode": "accountKey"}, expected: []string{"/auth/mode"}},
		{name: "consolidation v1beta1 policy", values: map[string]string{"nodePool.disruption.consolidationPolicy": "WhenUnderutilized"}, expected: []string{"/nodePool/disruption/consolidationPolicy"}},
		{name: "log level trace", values: map[string]string{"consumer.logLevel": "trace"}, expected: []string{"/consumer/logLevel"}},
		{name: "decode json", values: map[string]string{"consumer.decode": "json"}, expected: []string{"/consumer/decode"}},
		{name: "cloud unknown", values: map[string]string{"scaledObject.cloud": "AzureGermanCloud"}, expected: []string{"/scaledObject/cloud"}},
		{name: "image family", values: map[string]string{"nodeClass.imageFamily": "Windows2022"}, expected: []string{"/nodeClass/imageFamily"}},

		// Formats.
		{name: "visibility timeout without unit", strings: map[string]string{"consumer.visibilityTimeout": "30"}, expected: []string{"/consumer/visibilityTimeout"}},
		{name: "consolidateAfter in days", values: map[string]string{"nodePool.disruption.consolidateAfter": "1d"}, expected: []string{"/nodePool/disruption/consolidateAfter"}},
		{name: "expireAfter in ms", values: map[string]string{"nodePool.expireAfter": "500ms"}, expected: []string{"/nodePool/expireAfter"}},
		{name: "queue name uppercase", values: map[string]string{"storage.queueName": "Edw_Queue"}, expected: []string{"/storage/queueName"}},
		{name: "queue name double hyphen", values: map[string]string{"storage.queueName": "edw--queue"}, expected: []string{"/storage/queueName"}},
		{name: "table name with hyphen", values: map[string]string{"storage.tableName": "edw-rows"}, expected: []string{"/storage/tableName"}},
		{name: "account name uppercase", values: map[string]string{"storage.accountName": "EdwStorage"}, expected: []string{"/storage/accountName"}},
		{name: "client id not a guid", values: map[string]string{"auth.workloadIdentity.clientId": "my-identity"}, expected: []string{"/auth/workloadIdentity/clientId"}},
		{name: "digest not sha256", values: map[string]string{"image.digest": "latest"}, expected: []string{"/image/digest"}},

		// Values the schema lets through but the consumer rejects at start, so its pods would
		// crash-loop. validate.yaml applies the consumer's own limits.
		{name: "visibility timeout zero", values: map[string]string{"consumer.visibilityTimeout": "0s"}, expected: []string{"consumer.visibilityTimeout 0s is invalid", "1s to 168h"}},
		{name: "visibility timeout half second", values: map[string]string{"consumer.visibilityTimeout": "0.5s"}, expected: []string{"consumer.visibilityTimeout 0.5s is invalid", "1s to 168h"}},
		{name: "visibility timeout 200h", values: map[string]string{"consumer.visibilityTimeout": "200h"}, expected: []string{"consumer.visibilityTimeout 200h is invalid", "1s to 168h"}},
		{name: "visibility timeout fraction", values: map[string]string{"consumer.visibilityTimeout": "1500ms"}, expected: []string{"consumer.visibilityTimeout 1500ms is invalid", "whole seconds"}},
		{name: "shutdown grace zero", values: map[string]string{"consumer.shutdownGrace": "0s"}, expected: []string{"consumer.shutdownGrace 0s is invalid", "more than 0"}},
		{name: "max backoff zero", values: map[string]string{"consumer.maxBackoff": "0s"}, expected: []string{"consumer.maxBackoff 0s is invalid", "more than 0"}},
		{name: "max backoff sub-nanosecond", values: map[string]string{"consumer.maxBackoff": "0.5ns"}, expected: []string{"consumer.maxBackoff 0.5ns is invalid"}},
		{name: "queue too long for poison", values: map[string]string{"storage.queueName": strings.Repeat("q", 60)}, expected: []string{"storage.queueName " + strings.Repeat("q", 60) + " is 60 characters", "storage.poisonQueueName"}},
		{name: "table name reserved", values: map[string]string{"storage.tableName": "Tables"}, expected: []string{"storage.tableName Tables is reserved"}},

		// Combinations and required values that validate.yaml checks.
		{name: "queue name missing", values: map[string]string{"storage.queueName": ""}, expected: []string{"storage.queueName is empty"}},
		{name: "table name missing", values: map[string]string{"storage.tableName": ""}, expected: []string{"storage.tableName is empty"}},
		{name: "poison queue is main queue", values: map[string]string{"storage.poisonQueueName": "edw-messages"}, expected: []string{"storage.poisonQueueName equals storage.queueName"}},
		{name: "workload identity without account", values: map[string]string{"storage.accountName": ""}, expected: []string{"storage.accountName is empty but auth.mode is workloadIdentity"}},
		{name: "connection string missing", values: map[string]string{"auth.mode": "connectionString"}, expected: []string{"auth.connectionString.value and auth.connectionString.existingSecret are both empty"}},
		{name: "connection string twice", scenario: scenarioKind, values: map[string]string{"auth.connectionString.existingSecret": "mine"}, expected: []string{"auth.connectionString.value and auth.connectionString.existingSecret are both set"}},
		{name: "grace period too short", values: map[string]string{"consumer.terminationGracePeriodSeconds": "20"}, expected: []string{"consumer.terminationGracePeriodSeconds (20) is not larger than consumer.shutdownGrace (20s)"}},
		{name: "grace message one form", values: map[string]string{"consumer.shutdownGrace": "60s", "consumer.terminationGracePeriodSeconds": "60"}, expected: []string{"consumer.terminationGracePeriodSeconds (60) is not larger than consumer.shutdownGrace (60s), so"}},
		{name: "grace message in seconds", values: map[string]string{"consumer.shutdownGrace": "1m30s", "consumer.terminationGracePeriodSeconds": "90"}, expected: []string{"consumer.shutdownGrace (1m30s, 90 seconds)"}},
		{name: "node class for kwok pool", scenario: scenarioSim, values: map[string]string{"nodeClass.enabled": "true"}, expected: []string{"nodePool.nodeClassRef is karpenter.kwok.sh/KWOKNodeClass"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			scenario := tc.scenario
			if scenario == "" {
				scenario = scenarioAKS
			}
			rel, err := renderE(t, render{scenario: scenario, values: tc.values, stringValues: tc.strings, jsonValues: tc.json})
			require.Error(t, err)
			for _, expected := range tc.expected {
				assert.Contains(t, err.Error(), expected)
			}
			assert.Empty(t, rel.objects)
		})
	}
}
