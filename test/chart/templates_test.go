package chart

// This file renders each ci scenario and checks the fields of every template. It covers the
// objects each scenario produces, the consumer Deployment and its env contract, the
// ServiceAccount, the Secret, the ScaledObject, the TriggerAuthentication, the NodePool, the
// `helm test` Pod, and the labels that all of them share.

import (
	"maps"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// expectation is what one scenario's values file should produce.
type expectation struct {
	scenario         string
	kinds            []string
	queue            string
	poisonQueue      string
	table            string
	accountName      string
	workloadID       bool
	clientID         string
	tenantID         string
	serviceAccount   string // empty means <fullname>-consumer
	secretName       string // empty means <fullname>-storage; only with a connection string
	secretKey        string
	nodePool         bool
	nodeClassGroup   string
	nodeClassKind    string
	consolidateAfter string
	expireAfter      string
	maxReplicas      int64
	pollingInterval  int64
	shutdownGrace    string
	pullPolicy       corev1.PullPolicy
	image            string
}

var expectations = []expectation{
	{
		scenario:         scenarioAKS,
		kinds:            []string{"ServiceAccount", "Deployment", "NodePool", "ScaledObject", "TriggerAuthentication", "Pod"},
		queue:            "edw-messages",
		poisonQueue:      "edw-messages-poison",
		table:            "edwrows",
		accountName:      "edwstorage",
		workloadID:       true,
		clientID:         "00000000-0000-0000-0000-000000000001",
		tenantID:         "00000000-0000-0000-0000-000000000002",
		serviceAccount:   "aks-edw-consumer",
		nodePool:         true,
		nodeClassGroup:   "karpenter.azure.com",
		nodeClassKind:    "AKSNodeClass",
		consolidateAfter: "2m",
		expireAfter:      "720h",
		maxReplicas:      15,
		pollingInterval:  30,
		shutdownGrace:    "20s",
		pullPolicy:       corev1.PullIfNotPresent,
		image:            "edwregistry.azurecr.io/aks-edw/consumer:0.1.0",
	},
	{
		scenario:        scenarioKind,
		kinds:           []string{"ServiceAccount", "Secret", "Deployment", "ScaledObject", "TriggerAuthentication", "Pod"},
		queue:           "edw-messages",
		poisonQueue:     "edw-messages-poison",
		table:           "edwrows",
		secretKey:       "connection-string",
		maxReplicas:     5,
		pollingInterval: 5,
		shutdownGrace:   "20s",
		pullPolicy:      corev1.PullNever,
		image:           "aks-edw/consumer:dev",
	},
	{
		scenario:         scenarioSim,
		kinds:            []string{"ServiceAccount", "Deployment", "NodePool", "ScaledObject", "TriggerAuthentication", "Pod"},
		queue:            "edw-sim",
		poisonQueue:      "edw-sim-poison",
		table:            "edwsim",
		secretName:       "aks-edw-azurite",
		secretKey:        "connection-string",
		nodePool:         true,
		nodeClassGroup:   "karpenter.kwok.sh",
		nodeClassKind:    "KWOKNodeClass",
		consolidateAfter: "10s",
		expireAfter:      "Never",
		maxReplicas:      10,
		pollingInterval:  5,
		shutdownGrace:    "5s",
		pullPolicy:       corev1.PullIfNotPresent,
		image:            "aks-edw/consumer:dev",
	},
}

// requiredValuesFile sets only the values that the chart requires, so renders with it show the
// chart's defaults.
var requiredValuesFile = filepath.Join("testdata", "required-values.yaml")

// names are the object names that the chart derives from a release name.
type names struct {
	fullname       string
	consumer       string
	serviceAccount string
	secret         string
}

func namesFor(rel release, want expectation) names {
	n := names{fullname: rel.name + "-aks-edw"}
	n.consumer = n.fullname + "-consumer"
	n.serviceAccount = n.consumer
	if want.serviceAccount != "" {
		n.serviceAccount = want.serviceAccount
	}
	n.secret = n.fullname + "-storage"
	if want.secretName != "" {
		n.secret = want.secretName
	}
	return n
}

// toTyped converts a rendered object into its k8s.io/api type for field checks.
func toTyped[T any](t *testing.T, obj object) *T {
	t.Helper()
	typed := new(T)
	require.NoError(t, runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, typed))
	return typed
}

// envMap returns a container's plain env values by name, and the names of env vars set from
// elsewhere (valueFrom).
func envMap(container corev1.Container) (map[string]string, map[string]*corev1.EnvVarSource) {
	values := map[string]string{}
	sources := map[string]*corev1.EnvVarSource{}
	for _, env := range container.Env {
		if env.ValueFrom != nil {
			sources[env.Name] = env.ValueFrom
			continue
		}
		values[env.Name] = env.Value
	}
	return values, sources
}

func TestScenarioRendersExpectedKinds(t *testing.T) {
	t.Log("Checking that every ci scenario has an expectation in this file")
	var covered []string
	for _, want := range expectations {
		covered = append(covered, want.scenario)
	}
	assert.ElementsMatch(t, scenarios(t), covered)

	for _, want := range expectations {
		t.Run(want.scenario, func(t *testing.T) {
			rel := renderChart(t, render{scenario: want.scenario})
			assert.ElementsMatch(t, want.kinds, rel.kinds())
		})
	}
}

func TestDeploymentRunsConsumer(t *testing.T) {
	for _, want := range expectations {
		t.Run(want.scenario, func(t *testing.T) {
			rel := renderChart(t, render{scenario: want.scenario})
			n := namesFor(rel, want)
			deployment := toTyped[appsv1.Deployment](t, rel.find(t, "Deployment"))

			t.Log("Checking the Deployment's name, namespace and replicas")
			assert.Equal(t, n.consumer, deployment.Name)
			assert.Equal(t, rel.namespace, deployment.Namespace)
			assert.Nil(t, deployment.Spec.Replicas, "KEDA owns the replica count, so the Deployment must leave it unset")

			t.Log("Checking the pod template")
			pod := deployment.Spec.Template.Spec
			require.Len(t, pod.Containers, 1)
			container := pod.Containers[0]
			assert.Equal(t, "consumer", container.Name)
			assert.Equal(t, want.image, container.Image)
			assert.Equal(t, want.pullPolicy, container.ImagePullPolicy)
			assert.Equal(t, n.serviceAccount, pod.ServiceAccountName)
			require.NotNil(t, pod.AutomountServiceAccountToken)
			assert.False(t, *pod.AutomountServiceAccountToken)

			t.Log("Checking the HTTP port and the probes on it")
			require.Len(t, container.Ports, 1)
			assert.Equal(t, "http", container.Ports[0].Name)
			assert.Equal(t, int32(8080), container.Ports[0].ContainerPort)
			require.NotNil(t, container.LivenessProbe)
			require.NotNil(t, container.LivenessProbe.HTTPGet)
			assert.Equal(t, "/healthz", container.LivenessProbe.HTTPGet.Path)
			assert.Equal(t, "http", container.LivenessProbe.HTTPGet.Port.String())
			require.NotNil(t, container.ReadinessProbe)
			require.NotNil(t, container.ReadinessProbe.HTTPGet)
			assert.Equal(t, "/readyz", container.ReadinessProbe.HTTPGet.Path)
			assert.Equal(t, "http", container.ReadinessProbe.HTTPGet.Port.String())
			assert.Equal(t, "/metrics", deployment.Spec.Template.Annotations["prometheus.io/path"])
			assert.Equal(t, "8080", deployment.Spec.Template.Annotations["prometheus.io/port"])

			t.Log("Checking that the grace period outlasts the consumer's drain")
			require.NotNil(t, pod.TerminationGracePeriodSeconds)
			shutdownGrace := parseSeconds(t, want.shutdownGrace)
			assert.Greater(t, *pod.TerminationGracePeriodSeconds, shutdownGrace)

			t.Log("Checking the restricted security settings and the writable /tmp")
			require.NotNil(t, container.SecurityContext)
			require.NotNil(t, container.SecurityContext.ReadOnlyRootFilesystem)
			assert.True(t, *container.SecurityContext.ReadOnlyRootFilesystem)
			require.NotNil(t, container.SecurityContext.AllowPrivilegeEscalation)
			assert.False(t, *container.SecurityContext.AllowPrivilegeEscalation)
			require.NotNil(t, container.SecurityContext.Capabilities)
			assert.Equal(t, []corev1.Capability{"ALL"}, container.SecurityContext.Capabilities.Drop)
			require.NotNil(t, pod.SecurityContext)
			require.NotNil(t, pod.SecurityContext.RunAsNonRoot)
			assert.True(t, *pod.SecurityContext.RunAsNonRoot)
			require.NotNil(t, pod.SecurityContext.SeccompProfile)
			assert.Equal(t, corev1.SeccompProfileTypeRuntimeDefault, pod.SecurityContext.SeccompProfile.Type)
			require.Len(t, container.VolumeMounts, 1)
			assert.Equal(t, "/tmp", container.VolumeMounts[0].MountPath)
		})
	}
}

// authMode returns the consumer's EDW_AUTH_MODE for a scenario, which is the chart's auth.mode.
func authMode(workloadIdentity bool) string {
	if workloadIdentity {
		return "workloadIdentity"
	}
	return "connectionString"
}

// parseSeconds converts a Go duration of whole seconds or minutes, as the scenarios use.
func parseSeconds(t *testing.T, duration string) int64 {
	t.Helper()
	unit := int64(1)
	number := duration
	switch {
	case strings.HasSuffix(duration, "s"):
		number = strings.TrimSuffix(duration, "s")
	case strings.HasSuffix(duration, "m"):
		number, unit = strings.TrimSuffix(duration, "m"), 60
	}
	value, err := strconv.ParseInt(number, 10, 64)
	require.NoError(t, err, "duration %q", duration)
	return value * unit
}

func TestDeploymentEnvFollowsContract(t *testing.T) {
	for _, want := range expectations {
		t.Run(want.scenario, func(t *testing.T) {
			rel := renderChart(t, render{scenario: want.scenario})
			n := namesFor(rel, want)
			deployment := toTyped[appsv1.Deployment](t, rel.find(t, "Deployment"))
			values, sources := envMap(deployment.Spec.Template.Spec.Containers[0])

			expected := map[string]string{
				"EDW_AUTH_MODE":                 authMode(want.workloadID),
				"AZURE_QUEUE_NAME":              want.queue,
				"AZURE_TABLE_NAME":              want.table,
				"EDW_POISON_QUEUE_NAME":         want.poisonQueue,
				"AZURE_STORAGE_ENDPOINT_SUFFIX": "core.windows.net",
				"EDW_LOG_LEVEL":                 "info",
				"EDW_HTTP_ADDR":                 ":8080",
				"EDW_BATCH_SIZE":                "32",
				"EDW_CONCURRENCY":               "16",
				"EDW_VISIBILITY_TIMEOUT":        "30s",
				"EDW_MAX_DEQUEUE_COUNT":         "5",
				"EDW_DECODE":                    "auto",
				"EDW_UNTIL_EMPTY":               "false",
				"EDW_MAX_BACKOFF":               "10s",
				"EDW_SHUTDOWN_GRACE":            want.shutdownGrace,
				"EDW_RETRY_TIMEOUT":             "2m",
			}
			if want.accountName != "" {
				expected["AZURE_STORAGE_ACCOUNT_NAME"] = want.accountName
			}
			assert.Equal(t, expected, values)

			if want.workloadID {
				t.Log("Workload identity: no connection string; the webhook injects the client ID")
				assert.Empty(t, sources)
				return
			}
			t.Log("Connection string: read from the Secret, never a plain value")
			require.Contains(t, sources, "AZURE_STORAGE_CONNECTION_STRING")
			ref := sources["AZURE_STORAGE_CONNECTION_STRING"].SecretKeyRef
			require.NotNil(t, ref)
			assert.Equal(t, n.secret, ref.Name)
			assert.Equal(t, want.secretKey, ref.Key)
			assert.Len(t, sources, 1)
		})
	}
}

func TestDeploymentEnvCarriesEverySetting(t *testing.T) {
	t.Log("Setting every consumer value away from its default")
	rel := renderChart(t, render{
		scenario: scenarioAKS,
		values: map[string]string{
			"storage.poisonQueueName":    "edw-dead",
			"storage.endpointSuffix":     "core.chinacloudapi.cn",
			"consumer.logLevel":          "debug",
			"consumer.httpPort":          "9090",
			"consumer.batchSize":         "8",
			"consumer.concurrency":       "4",
			"consumer.visibilityTimeout": "2m",
			"consumer.maxDequeueCount":   "3",
			"consumer.decode":            "base64",
			"consumer.maxBackoff":        "1s",
			"consumer.shutdownGrace":     "45s",
			"consumer.retryTimeout":      "5m",
		},
		jsonValues: map[string]string{"consumer.extraEnv": `[{"name":"GODEBUG","value":"http2client=0"}]`},
	})
	deployment := toTyped[appsv1.Deployment](t, rel.find(t, "Deployment"))
	values, _ := envMap(deployment.Spec.Template.Spec.Containers[0])

	for name, value := range map[string]string{
		"EDW_POISON_QUEUE_NAME":         "edw-dead",
		"AZURE_STORAGE_ENDPOINT_SUFFIX": "core.chinacloudapi.cn",
		"EDW_LOG_LEVEL":                 "debug",
		"EDW_HTTP_ADDR":                 ":9090",
		"EDW_BATCH_SIZE":                "8",
		"EDW_CONCURRENCY":               "4",
		"EDW_VISIBILITY_TIMEOUT":        "2m",
		"EDW_MAX_DEQUEUE_COUNT":         "3",
		"EDW_DECODE":                    "base64",
		"EDW_MAX_BACKOFF":               "1s",
		"EDW_SHUTDOWN_GRACE":            "45s",
		"EDW_RETRY_TIMEOUT":             "5m",
		"GODEBUG":                       "http2client=0",
	} {
		assert.Equal(t, value, values[name], "env %s", name)
	}

	t.Log("Checking that the port, probes and grace period follow the new values")
	pod := deployment.Spec.Template.Spec
	assert.Equal(t, int32(9090), pod.Containers[0].Ports[0].ContainerPort)
	assert.Equal(t, "9090", deployment.Spec.Template.Annotations["prometheus.io/port"])
	require.NotNil(t, pod.TerminationGracePeriodSeconds)
	assert.Equal(t, int64(55), *pod.TerminationGracePeriodSeconds)
}

func TestTerminationGraceFromShutdownGrace(t *testing.T) {
	cases := []struct {
		shutdownGrace string
		expected      int64
	}{
		{"20s", 30},
		{"1m30s", 100},
		{"1500ms", 12},
		{"1h", 3610},
		{"2.5s", 13},
	}
	for _, tc := range cases {
		t.Run(tc.shutdownGrace, func(t *testing.T) {
			rel := renderChart(t, render{scenario: scenarioAKS, values: map[string]string{"consumer.shutdownGrace": tc.shutdownGrace}})
			pod := toTyped[appsv1.Deployment](t, rel.find(t, "Deployment")).Spec.Template.Spec
			require.NotNil(t, pod.TerminationGracePeriodSeconds)
			assert.Equal(t, tc.expected, *pod.TerminationGracePeriodSeconds)
		})
	}

	t.Run("explicit", func(t *testing.T) {
		rel := renderChart(t, render{scenario: scenarioAKS, values: map[string]string{"consumer.terminationGracePeriodSeconds": "21"}})
		pod := toTyped[appsv1.Deployment](t, rel.find(t, "Deployment")).Spec.Template.Spec
		require.NotNil(t, pod.TerminationGracePeriodSeconds)
		assert.Equal(t, int64(21), *pod.TerminationGracePeriodSeconds)
	})
}

func TestDeploymentSchedulingFollowsNodePool(t *testing.T) {
	for _, want := range expectations {
		t.Run(want.scenario, func(t *testing.T) {
			rel := renderChart(t, render{scenario: want.scenario})
			n := namesFor(rel, want)
			pod := toTyped[appsv1.Deployment](t, rel.find(t, "Deployment")).Spec.Template.Spec

			if !want.nodePool {
				t.Log("No NodePool: the pods may run on any node")
				assert.Empty(t, pod.NodeSelector)
				assert.Empty(t, pod.Tolerations)
				return
			}

			t.Log("The pods select the pool's own label, which the NodePool puts on its nodes")
			assert.Equal(t, map[string]string{"aks-edw/nodepool": n.fullname}, pod.NodeSelector)
			nodePool := rel.find(t, "NodePool")
			poolLabels := nodePool.field(t, "spec.template.metadata.labels").(map[string]any)
			for key, value := range pod.NodeSelector {
				assert.Equal(t, value, poolLabels[key], "node selector %s", key)
			}

			t.Log("The pods tolerate every taint of the pool")
			taints := nodePool.field(t, "spec.template.spec.taints").([]any)
			require.Len(t, pod.Tolerations, len(taints))
			for i, raw := range taints {
				taint := raw.(map[string]any)
				toleration := pod.Tolerations[i]
				assert.Equal(t, taint["key"], toleration.Key)
				assert.Equal(t, corev1.TolerationOpEqual, toleration.Operator)
				assert.Equal(t, taint["value"], toleration.Value)
				assert.Equal(t, taint["effect"], string(toleration.Effect))
			}
		})
	}
}

func TestSchedulingMergesExtraValues(t *testing.T) {
	rel := renderChart(t, render{
		scenario: scenarioAKS,
		jsonValues: map[string]string{
			"nodePool.taints":       `[{"key":"dedicated","effect":"NoExecute"},{"key":"aks-edw/consumer","value":"true","effect":"NoSchedule"}]`,
			"nodePool.labels":       `{"team":"data","aks-edw/nodepool":"other"}`,
			"consumer.nodeSelector": `{"topology.kubernetes.io/zone":"westeurope-1","aks-edw/nodepool":"other"}`,
			"consumer.tolerations":  `[{"key":"example.com/maintenance","operator":"Exists","effect":"NoSchedule"}]`,
		},
	})
	n := namesFor(rel, expectations[0])
	pod := toTyped[appsv1.Deployment](t, rel.find(t, "Deployment")).Spec.Template.Spec

	t.Log("The pool's label wins over a clash in nodePool.labels and consumer.nodeSelector")
	assert.Equal(t, map[string]string{"aks-edw/nodepool": n.fullname, "topology.kubernetes.io/zone": "westeurope-1"}, pod.NodeSelector)
	poolLabels := rel.find(t, "NodePool").field(t, "spec.template.metadata.labels")
	assert.Equal(t, map[string]any{"aks-edw/nodepool": n.fullname, "team": "data"}, poolLabels)

	t.Log("A taint without a value gets an Exists toleration; extra tolerations follow the pool's")
	require.Len(t, pod.Tolerations, 3)
	assert.Equal(t, corev1.Toleration{Key: "dedicated", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute}, pod.Tolerations[0])
	assert.Equal(t, corev1.Toleration{Key: "aks-edw/consumer", Operator: corev1.TolerationOpEqual, Value: "true", Effect: corev1.TaintEffectNoSchedule}, pod.Tolerations[1])
	assert.Equal(t, corev1.Toleration{Key: "example.com/maintenance", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}, pod.Tolerations[2])
}

func TestServiceAccountAndSecret(t *testing.T) {
	for _, want := range expectations {
		t.Run(want.scenario, func(t *testing.T) {
			rel := renderChart(t, render{scenario: want.scenario})
			n := namesFor(rel, want)

			serviceAccount := toTyped[corev1.ServiceAccount](t, rel.find(t, "ServiceAccount"))
			assert.Equal(t, n.serviceAccount, serviceAccount.Name)
			assert.Equal(t, rel.namespace, serviceAccount.Namespace)
			require.NotNil(t, serviceAccount.AutomountServiceAccountToken)
			assert.False(t, *serviceAccount.AutomountServiceAccountToken)

			secrets := rel.all("Secret")
			if want.workloadID || want.secretName != "" {
				t.Log("No chart-created Secret: workload identity, or an existing Secret")
				assert.Empty(t, secrets)
				return
			}
			require.Len(t, secrets, 1)
			secret := toTyped[corev1.Secret](t, secrets[0])
			assert.Equal(t, n.secret, secret.Name)
			assert.Equal(t, rel.namespace, secret.Namespace)
			require.Contains(t, secret.Data, want.secretKey)
			assert.Contains(t, string(secret.Data[want.secretKey]), "AccountName=devstoreaccount1")
		})
	}
}

func TestScaledObjectTargetsDeployment(t *testing.T) {
	for _, want := range expectations {
		t.Run(want.scenario, func(t *testing.T) {
			rel := renderChart(t, render{scenario: want.scenario})
			n := namesFor(rel, want)
			scaledObject := rel.find(t, "ScaledObject")

			assert.Equal(t, "keda.sh/v1alpha1", scaledObject.GetAPIVersion())
			assert.Equal(t, n.consumer, scaledObject.GetName())
			assert.Equal(t, rel.namespace, scaledObject.GetNamespace())
			assert.Equal(t, "apps/v1", scaledObject.field(t, "spec.scaleTargetRef.apiVersion"))
			assert.Equal(t, "Deployment", scaledObject.field(t, "spec.scaleTargetRef.kind"))
			assert.Equal(t, n.consumer, scaledObject.field(t, "spec.scaleTargetRef.name"))
			assert.EqualValues(t, 0, scaledObject.field(t, "spec.minReplicaCount"))
			assert.EqualValues(t, want.maxReplicas, scaledObject.field(t, "spec.maxReplicaCount"))
			assert.EqualValues(t, want.pollingInterval, scaledObject.field(t, "spec.pollingInterval"))
			assert.EqualValues(t, 10, scaledObject.field(t, "spec.cooldownPeriod"))
			assert.False(t, scaledObject.has("spec.advanced"), "no advanced block unless a value asks for it")

			t.Log("Checking the one azure-queue trigger")
			triggers := scaledObject.field(t, "spec.triggers").([]any)
			require.Len(t, triggers, 1)
			assert.Equal(t, "azure-queue", scaledObject.field(t, "spec.triggers.0.type"))
			assert.Equal(t, n.consumer, scaledObject.field(t, "spec.triggers.0.authenticationRef.name"))

			expected := map[string]any{
				"queueName":             want.queue,
				"queueLength":           "5",
				"activationQueueLength": "0",
				"queueLengthStrategy":   "all",
				"cloud":                 "AzurePublicCloud",
			}
			if want.accountName != "" {
				expected["accountName"] = want.accountName
			}
			assert.Equal(t, expected, scaledObject.field(t, "spec.triggers.0.metadata"))
		})
	}
}

func TestScaledObjectAdvancedAndCloud(t *testing.T) {
	t.Log("Setting HPA behavior, restoreToOriginalReplicaCount and a private cloud")
	rel := renderChart(t, render{
		scenario: scenarioAKS,
		values: map[string]string{
			"scaledObject.advanced.restoreToOriginalReplicaCount": "true",
			"storage.endpointSuffix":                              "core.contoso-stack.example",
			"scaledObject.minReplicaCount":                        "1",
		},
		jsonValues: map[string]string{
			"scaledObject.advanced.horizontalPodAutoscalerConfig.behavior": `{"scaleDown":{"stabilizationWindowSeconds":60,"policies":[{"type":"Percent","value":50,"periodSeconds":30}]}}`,
		},
	})
	scaledObject := rel.find(t, "ScaledObject")

	assert.Equal(t, true, scaledObject.field(t, "spec.advanced.restoreToOriginalReplicaCount"))
	assert.EqualValues(t, 60, scaledObject.field(t, "spec.advanced.horizontalPodAutoscalerConfig.behavior.scaleDown.stabilizationWindowSeconds"))
	assert.EqualValues(t, 1, scaledObject.field(t, "spec.minReplicaCount"))
	assert.Equal(t, "Private", scaledObject.field(t, "spec.triggers.0.metadata.cloud"))
	assert.Equal(t, "queue.core.contoso-stack.example", scaledObject.field(t, "spec.triggers.0.metadata.endpointSuffix"))

	t.Log("Each known storage suffix maps to its cloud, and an explicit cloud wins")
	for suffix, cloud := range map[string]string{
		"core.windows.net":       "AzurePublicCloud",
		"core.usgovcloudapi.net": "AzureUSGovernmentCloud",
		"core.chinacloudapi.cn":  "AzureChinaCloud",
	} {
		rel := renderChart(t, render{scenario: scenarioAKS, values: map[string]string{"storage.endpointSuffix": suffix}})
		metadata := rel.find(t, "ScaledObject").field(t, "spec.triggers.0.metadata").(map[string]any)
		assert.Equal(t, cloud, metadata["cloud"], "suffix %s", suffix)
		assert.NotContains(t, metadata, "endpointSuffix", "suffix %s", suffix)
	}
	rel = renderChart(t, render{scenario: scenarioAKS, values: map[string]string{"scaledObject.cloud": "AzureChinaCloud"}})
	assert.Equal(t, "AzureChinaCloud", rel.find(t, "ScaledObject").field(t, "spec.triggers.0.metadata.cloud"))
}

func TestScaledObjectOffRunsFixedReplicas(t *testing.T) {
	rel := renderChart(t, render{
		scenario:    scenarioKind,
		values:      map[string]string{"scaledObject.enabled": "false", "consumer.replicaCount": "3"},
		apiVersions: []string{},
	})
	assert.Empty(t, rel.all("ScaledObject"))
	assert.Empty(t, rel.all("TriggerAuthentication"))
	deployment := toTyped[appsv1.Deployment](t, rel.find(t, "Deployment"))
	require.NotNil(t, deployment.Spec.Replicas)
	assert.Equal(t, int32(3), *deployment.Spec.Replicas)
}

func TestTriggerAuthenticationModes(t *testing.T) {
	for _, want := range expectations {
		t.Run(want.scenario, func(t *testing.T) {
			rel := renderChart(t, render{scenario: want.scenario})
			n := namesFor(rel, want)
			auth := rel.find(t, "TriggerAuthentication")
			assert.Equal(t, "keda.sh/v1alpha1", auth.GetAPIVersion())
			assert.Equal(t, n.consumer, auth.GetName())
			assert.Equal(t, rel.namespace, auth.GetNamespace())

			if want.workloadID {
				assert.Equal(t, map[string]any{
					"podIdentity": map[string]any{
						"provider":         "azure-workload",
						"identityId":       want.clientID,
						"identityTenantId": want.tenantID,
					},
				}, auth.Object["spec"])
				return
			}
			assert.Equal(t, map[string]any{
				"secretTargetRef": []any{map[string]any{
					"parameter": "connection",
					"name":      n.secret,
					"key":       want.secretKey,
				}},
			}, auth.Object["spec"])
		})
	}
}

func TestNodePoolFields(t *testing.T) {
	for _, want := range expectations {
		if !want.nodePool {
			continue
		}
		t.Run(want.scenario, func(t *testing.T) {
			rel := renderChart(t, render{scenario: want.scenario})
			n := namesFor(rel, want)
			nodePool := rel.find(t, "NodePool")

			t.Log("Cluster-scoped, karpenter.sh/v1, named after the release")
			assert.Equal(t, "karpenter.sh/v1", nodePool.GetAPIVersion())
			assert.Equal(t, n.fullname, nodePool.GetName())
			assert.Empty(t, nodePool.GetNamespace())

			assert.Equal(t, map[string]any{"group": want.nodeClassGroup, "kind": want.nodeClassKind, "name": "default"},
				nodePool.field(t, "spec.template.spec.nodeClassRef"))
			assert.Equal(t, want.expireAfter, nodePool.field(t, "spec.template.spec.expireAfter"))
			assert.Equal(t, "WhenEmptyOrUnderutilized", nodePool.field(t, "spec.disruption.consolidationPolicy"))
			assert.Equal(t, want.consolidateAfter, nodePool.field(t, "spec.disruption.consolidateAfter"))
			assert.NotEmpty(t, nodePool.field(t, "spec.disruption.budgets"))
			assert.NotEmpty(t, nodePool.field(t, "spec.limits"))
			assert.False(t, nodePool.has("spec.disruption.expireAfter"), "expireAfter belongs under spec.template.spec in karpenter.sh/v1")
		})
	}
}

func TestNodePoolRequirements(t *testing.T) {
	cases := []struct {
		name     string
		values   map[string]string
		json     map[string]string
		expected map[string][]any
	}{
		{
			name: "defaults",
			expected: map[string][]any{
				"kubernetes.io/arch":             {"amd64"},
				"kubernetes.io/os":               {"linux"},
				"karpenter.sh/capacity-type":     {"on-demand"},
				"karpenter.azure.com/sku-family": {"D"},
			},
		},
		{
			name: "spot arm64 with sizes",
			json: map[string]string{
				"nodePool.requirements.architectures": `["arm64"]`,
				"nodePool.requirements.capacityTypes": `["spot","on-demand"]`,
				"nodePool.requirements.skuFamilies":   `["D","E"]`,
				"nodePool.requirements.skuNames":      `["Standard_D4ps_v5"]`,
				"nodePool.requirements.extra":         `[{"key":"karpenter.azure.com/sku-cpu","operator":"Lt","values":["9"]}]`,
			},
			expected: map[string][]any{
				"kubernetes.io/arch":             {"arm64"},
				"kubernetes.io/os":               {"linux"},
				"karpenter.sh/capacity-type":     {"spot", "on-demand"},
				"karpenter.azure.com/sku-family": {"D", "E"},
				"karpenter.azure.com/sku-name":   {"Standard_D4ps_v5"},
				"karpenter.azure.com/sku-cpu":    {"9"},
			},
		},
		{
			name: "any family",
			json: map[string]string{"nodePool.requirements.skuFamilies": `[]`},
			expected: map[string][]any{
				"kubernetes.io/arch":         {"amd64"},
				"kubernetes.io/os":           {"linux"},
				"karpenter.sh/capacity-type": {"on-demand"},
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rel := renderChart(t, render{values: tc.values, jsonValues: tc.json, valuesFiles: []string{requiredValuesFile}})
			requirements := rel.find(t, "NodePool").field(t, "spec.template.spec.requirements").([]any)

			got := map[string][]any{}
			for _, raw := range requirements {
				requirement := raw.(map[string]any)
				got[requirement["key"].(string)] = requirement["values"].([]any)
			}
			assert.Equal(t, tc.expected, got)
		})
	}
}

func TestAKSNodeClassOptional(t *testing.T) {
	t.Log("Off by default: the NodePool uses the AKSNodeClass that node autoprovisioning creates")
	rel := renderChart(t, render{scenario: scenarioAKS})
	assert.Empty(t, rel.all("AKSNodeClass"))

	t.Log("On: an AKSNodeClass named after the release, and the NodePool points at it")
	rel = renderChart(t, render{scenario: scenarioAKS, values: map[string]string{
		"nodeClass.enabled":      "true",
		"nodeClass.imageFamily":  "Ubuntu2404",
		"nodeClass.osDiskSizeGB": "64",
	}})
	n := namesFor(rel, expectations[0])
	nodeClass := rel.find(t, "AKSNodeClass")
	assert.Equal(t, "karpenter.azure.com/v1beta1", nodeClass.GetAPIVersion())
	assert.Equal(t, n.fullname, nodeClass.GetName())
	assert.Empty(t, nodeClass.GetNamespace())
	assert.Equal(t, map[string]any{"imageFamily": "Ubuntu2404", "osDiskSizeGB": int64(64)}, nodeClass.Object["spec"])
	assert.Equal(t, n.fullname, rel.find(t, "NodePool").field(t, "spec.template.spec.nodeClassRef.name"))
}

func TestHelmTestPodChecksAccess(t *testing.T) {
	for _, want := range expectations {
		t.Run(want.scenario, func(t *testing.T) {
			rel := renderChart(t, render{scenario: want.scenario})
			n := namesFor(rel, want)
			testPod := toTyped[corev1.Pod](t, rel.find(t, "Pod"))
			deployment := toTyped[appsv1.Deployment](t, rel.find(t, "Deployment"))
			consumerPod := deployment.Spec.Template.Spec

			t.Log("A test hook that runs the consumer with --check once")
			assert.Equal(t, "test", testPod.Annotations["helm.sh/hook"])
			assert.Equal(t, corev1.RestartPolicyNever, testPod.Spec.RestartPolicy)
			require.Len(t, testPod.Spec.Containers, 1)
			check := testPod.Spec.Containers[0]
			assert.Equal(t, []string{"--check"}, check.Args)

			t.Log("Same identity, settings, image and nodes as the consumer")
			assert.Equal(t, n.serviceAccount, testPod.Spec.ServiceAccountName)
			assert.Equal(t, consumerPod.Containers[0].Env, check.Env)
			assert.Equal(t, consumerPod.Containers[0].Image, check.Image)
			assert.Equal(t, consumerPod.SecurityContext, testPod.Spec.SecurityContext)
			assert.Equal(t, consumerPod.Containers[0].SecurityContext, check.SecurityContext)
			assert.Equal(t, consumerPod.NodeSelector, testPod.Spec.NodeSelector)
			assert.Equal(t, consumerPod.Tolerations, testPod.Spec.Tolerations)
			assert.Equal(t, deployment.Spec.Template.Labels["azure.workload.identity/use"], testPod.Labels["azure.workload.identity/use"])
		})
	}

	t.Run("disabled", func(t *testing.T) {
		rel := renderChart(t, render{scenario: scenarioAKS, values: map[string]string{"helmTest.enabled": "false"}})
		assert.Empty(t, rel.all("Pod"))
	})
}

func TestLabelsOnEveryObject(t *testing.T) {
	for _, want := range expectations {
		t.Run(want.scenario, func(t *testing.T) {
			rel := renderChart(t, render{scenario: want.scenario})

			for _, obj := range rel.objects {
				labels := obj.GetLabels()
				for _, key := range []string{"helm.sh/chart", "app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/version", "app.kubernetes.io/managed-by", "app.kubernetes.io/component"} {
					assert.Contains(t, labels, key, "%s %s from %s", obj.GetKind(), obj.GetName(), obj.source)
				}
				assert.Equal(t, "aks-edw", labels["app.kubernetes.io/name"], "%s from %s", obj.GetKind(), obj.source)
				assert.Equal(t, rel.name, labels["app.kubernetes.io/instance"], "%s from %s", obj.GetKind(), obj.source)
				assert.Equal(t, "Helm", labels["app.kubernetes.io/managed-by"], "%s from %s", obj.GetKind(), obj.source)
			}

			t.Log("The selector has only name and instance, and the pods carry the consumer labels")
			deployment := toTyped[appsv1.Deployment](t, rel.find(t, "Deployment"))
			assert.Equal(t, map[string]string{"app.kubernetes.io/name": "aks-edw", "app.kubernetes.io/instance": rel.name}, deployment.Spec.Selector.MatchLabels)
			podLabels := deployment.Spec.Template.Labels
			assert.Equal(t, "aks-edw", podLabels["app.kubernetes.io/name"])
			assert.Equal(t, rel.name, podLabels["app.kubernetes.io/instance"])
			assert.Equal(t, "consumer", podLabels["app.kubernetes.io/component"])
			selectorMatches := maps.Clone(deployment.Spec.Selector.MatchLabels)
			maps.DeleteFunc(selectorMatches, func(key, value string) bool { return podLabels[key] == value })
			assert.Empty(t, selectorMatches, "the pod template must match the selector")
		})
	}
}

func TestPodLabelsKeepChartLabels(t *testing.T) {
	rel := renderChart(t, render{
		scenario:   scenarioAKS,
		jsonValues: map[string]string{"consumer.podLabels": `{"team":"data","app.kubernetes.io/name":"other","azure.workload.identity/use":"false"}`},
	})
	labels := toTyped[appsv1.Deployment](t, rel.find(t, "Deployment")).Spec.Template.Labels

	assert.Equal(t, "data", labels["team"])
	assert.Equal(t, "aks-edw", labels["app.kubernetes.io/name"], "podLabels must not break the selector")
	assert.Equal(t, "true", labels["azure.workload.identity/use"], "podLabels must not turn off workload identity")
}
