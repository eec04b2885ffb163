package chart

// This file tests that the chart accepts a consumer setting exactly when the consumer does. For
// each case it renders the chart, passes the Deployment's env vars to the consumer's own
// configuration parser (internal/config), and requires both to agree, so a value that would
// make the pods crash-loop fails at `helm install` instead.

import (
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"

	"github.com/aks-edw/aks-edw/internal/config"
)

func TestChartAndConsumerAgreeOnLimits(t *testing.T) {
	cases := []struct {
		name   string
		values map[string]string
		valid  bool
	}{
		{name: "visibility timeout 1s", values: map[string]string{"consumer.visibilityTimeout": "1s"}, valid: true},
		{name: "visibility timeout 168h", values: map[string]string{"consumer.visibilityTimeout": "168h"}, valid: true},
		{name: "visibility timeout 0.5m", values: map[string]string{"consumer.visibilityTimeout": "0.5m"}, valid: true},
		{name: "visibility timeout 2000ms", values: map[string]string{"consumer.visibilityTimeout": "2000ms"}, valid: true},
		{name: "visibility timeout 1h30m5s", values: map[string]string{"consumer.visibilityTimeout": "1h30m5s"}, valid: true},
		{name: "visibility timeout 0s", values: map[string]string{"consumer.visibilityTimeout": "0s"}},
		{name: "visibility timeout 0.5s", values: map[string]string{"consumer.visibilityTimeout": "0.5s"}},
		{name: "visibility timeout 999ms", values: map[string]string{"consumer.visibilityTimeout": "999ms"}},
		{name: "visibility timeout 1500ms", values: map[string]string{"consumer.visibilityTimeout": "1500ms"}},
		{name: "visibility timeout 168h1s", values: map[string]string{"consumer.visibilityTimeout": "168h1s"}},
		{name: "visibility timeout 200h", values: map[string]string{"consumer.visibilityTimeout": "200h"}},
		{name: "shutdown grace 0s", values: map[string]string{"consumer.shutdownGrace": "0s"}},
		{name: "shutdown grace 1ns", values: map[string]string{"consumer.shutdownGrace": "1ns"}, valid: true},
		{name: "max backoff 0s", values: map[string]string{"consumer.maxBackoff": "0s"}},
		{name: "max backoff 0m0s", values: map[string]string{"consumer.maxBackoff": "0m0s"}},
		{name: "max backoff 0.5ns", values: map[string]string{"consumer.maxBackoff": "0.5ns"}},
		{name: "max backoff 100ms", values: map[string]string{"consumer.maxBackoff": "100ms"}, valid: true},
		{name: "retry timeout 0s", values: map[string]string{"consumer.retryTimeout": "0s"}, valid: true},
		{name: "queue 56 characters", values: map[string]string{"storage.queueName": strings.Repeat("q", 56)}, valid: true},
		{name: "queue 57 characters", values: map[string]string{"storage.queueName": strings.Repeat("q", 57)}},
		{name: "queue 63 characters named poison", values: map[string]string{"storage.queueName": strings.Repeat("q", 63), "storage.poisonQueueName": "edw-poison"}, valid: true},
		{name: "queue 64 characters", values: map[string]string{"storage.queueName": strings.Repeat("q", 64), "storage.poisonQueueName": "edw-poison"}},
		{name: "queue 2 characters", values: map[string]string{"storage.queueName": "qq"}},
		{name: "queue trailing hyphen", values: map[string]string{"storage.queueName": "edw-"}},
		{name: "table reserved", values: map[string]string{"storage.tableName": "tables"}},
		{name: "table reserved mixed case", values: map[string]string{"storage.tableName": "TaBlEs"}},
		{name: "table 63 characters", values: map[string]string{"storage.tableName": "t" + strings.Repeat("1", 62)}, valid: true},
		{name: "table 64 characters", values: map[string]string{"storage.tableName": "t" + strings.Repeat("1", 63)}},
		{name: "table starting with digit", values: map[string]string{"storage.tableName": "1rows"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Log("Rendering the chart with the value")
			rel, renderErr := renderE(t, render{scenario: scenarioAKS, values: tc.values})

			if !tc.valid {
				require.Error(t, renderErr, "the chart accepted a value the consumer rejects")
				return
			}
			require.NoError(t, renderErr)

			t.Log("Passing the rendered env vars to the consumer's configuration parser")
			deployment := toTyped[appsv1.Deployment](t, rel.find(t, "Deployment"))
			env, _ := envMap(deployment.Spec.Template.Spec.Containers[0])
			_, parseErr := config.ParseConsumer(nil, func(name string) string { return env[name] }, io.Discard)
			assert.NoError(t, parseErr, "the consumer rejects a value the chart accepted")
		})
	}

	t.Run("consumer rejects them too", func(t *testing.T) {
		// The chart cannot render a value it rejects, so this step passes the same settings to
		// the parser directly. It checks that every rejected case is one the consumer rejects.
		base := map[string]string{
			"AZURE_STORAGE_ACCOUNT_NAME": "edwstorage",
			"EDW_AUTH_MODE":              "workloadIdentity",
			"AZURE_QUEUE_NAME":           "edw-messages",
			"AZURE_TABLE_NAME":           "edwrows",
		}
		keys := map[string]string{
			"consumer.visibilityTimeout": "EDW_VISIBILITY_TIMEOUT",
			"consumer.shutdownGrace":     "EDW_SHUTDOWN_GRACE",
			"consumer.maxBackoff":        "EDW_MAX_BACKOFF",
			"consumer.retryTimeout":      "EDW_RETRY_TIMEOUT",
			"storage.queueName":          "AZURE_QUEUE_NAME",
			"storage.poisonQueueName":    "EDW_POISON_QUEUE_NAME",
			"storage.tableName":          "AZURE_TABLE_NAME",
		}
		for _, tc := range cases {
			if tc.valid {
				continue
			}
			env := map[string]string{}
			for name, value := range base {
				env[name] = value
			}
			for key, value := range tc.values {
				require.Contains(t, keys, key)
				env[keys[key]] = value
			}
			_, err := config.ParseConsumer(nil, func(name string) string { return env[name] }, io.Discard)
			assert.Error(t, err, tc.name)
		}
	})
}
