package status

import (
	"context"
	"fmt"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// ScaledObjectResource is KEDA's ScaledObject API.
	ScaledObjectResource = schema.GroupVersionResource{Group: "keda.sh", Version: "v1alpha1", Resource: "scaledobjects"}
	// NodePoolResource is Karpenter's NodePool API.
	NodePoolResource = schema.GroupVersionResource{Group: "karpenter.sh", Version: "v1", Resource: "nodepools"}
	// NodeClaimResource is Karpenter's NodeClaim API.
	NodeClaimResource = schema.GroupVersionResource{Group: "karpenter.sh", Version: "v1", Resource: "nodeclaims"}
)

// NodePoolLabel is the label Karpenter puts on its nodes and NodeClaims, naming their NodePool.
const NodePoolLabel = "karpenter.sh/nodepool"

// consumerEnv is the part of the consumer container's env that locates the queue.
type consumerEnv struct {
	queue, poison, account, suffix string
	// secretName and secretKey locate AZURE_STORAGE_CONNECTION_STRING's secretKeyRef.
	secretName, secretKey string
	// connectionString is a literal AZURE_STORAGE_CONNECTION_STRING value, which the chart never
	// renders but a hand-edited Deployment may have. It is a secret.
	connectionString string
}

func (c *Collector) selector(component string) string {
	return fmt.Sprintf("app.kubernetes.io/instance=%s,app.kubernetes.io/component=%s", c.release, component)
}

func (c *Collector) readDeployment(ctx context.Context) (Deployment, consumerEnv) {
	var state Deployment
	list, err := c.kubeClient.AppsV1().Deployments(c.namespace).List(ctx, metav1.ListOptions{LabelSelector: c.selector("consumer")})
	if err != nil {
		state.Err = err.Error()
		return state, consumerEnv{}
	}
	if len(list.Items) == 0 {
		state.Err = fmt.Sprintf("no Deployment with labels %s in namespace %s (is the release installed?)", c.selector("consumer"), c.namespace)
		return state, consumerEnv{}
	}

	deployment := &list.Items[0]
	state.Name, state.Found = deployment.Name, true
	if deployment.Spec.Replicas != nil {
		state.Replicas = *deployment.Spec.Replicas
	}
	state.Ready = deployment.Status.ReadyReplicas
	state.Available = deployment.Status.AvailableReplicas
	state.Updated = deployment.Status.UpdatedReplicas
	return state, readConsumerEnv(deployment.Spec.Template.Spec.Containers)
}

// readConsumerEnv reads the env of the container named consumer, or of the first container.
func readConsumerEnv(containers []corev1.Container) consumerEnv {
	if len(containers) == 0 {
		return consumerEnv{}
	}
	container := containers[0]
	for _, candidate := range containers {
		if candidate.Name == "consumer" {
			container = candidate
		}
	}

	var env consumerEnv
	for _, variable := range container.Env {
		switch variable.Name {
		case "AZURE_QUEUE_NAME":
			env.queue = variable.Value
		case "EDW_POISON_QUEUE_NAME":
			env.poison = variable.Value
		case "AZURE_STORAGE_ACCOUNT_NAME":
			env.account = variable.Value
		case "AZURE_STORAGE_ENDPOINT_SUFFIX":
			env.suffix = variable.Value
		case "AZURE_STORAGE_CONNECTION_STRING":
			env.connectionString = variable.Value
			if from := variable.ValueFrom; from != nil && from.SecretKeyRef != nil {
				env.secretName, env.secretKey = from.SecretKeyRef.Name, from.SecretKeyRef.Key
			}
		}
	}
	return env
}

func (c *Collector) readScaledObject(ctx context.Context) ScaledObject {
	var state ScaledObject
	list, err := c.dynamic.Resource(ScaledObjectResource).Namespace(c.namespace).List(ctx, metav1.ListOptions{LabelSelector: c.selector("consumer")})
	if apierrors.IsNotFound(err) {
		state.Err = "the cluster does not serve keda.sh/v1alpha1 ScaledObject (is KEDA installed?)"
		return state
	}
	if err != nil {
		state.Err = err.Error()
		return state
	}
	if len(list.Items) == 0 {
		state.Err = fmt.Sprintf("no ScaledObject with labels %s in namespace %s", c.selector("consumer"), c.namespace)
		return state
	}

	object := &list.Items[0]
	state.Name, state.Found = object.GetName(), true
	state.Ready = FindCondition(object, "Ready")
	state.Active = FindCondition(object, "Active")
	state.Paused = FindCondition(object, "Paused")
	state.Fallback = FindCondition(object, "Fallback")
	if value, found, _ := unstructured.NestedInt64(object.Object, "spec", "minReplicaCount"); found {
		state.MinReplicas = int32(value)
	}
	if value, found, _ := unstructured.NestedInt64(object.Object, "spec", "maxReplicaCount"); found {
		state.MaxReplicas = int32(value)
	}
	state.HPAName, _, _ = unstructured.NestedString(object.Object, "status", "hpaName")
	if state.HPAName == "" {
		// KEDA names the HPA keda-hpa-<ScaledObject> unless the ScaledObject sets another name.
		state.HPAName = "keda-hpa-" + state.Name
	}
	return state
}

// FindCondition returns the status.conditions entry of object with type conditionType, or a
// zero Condition when there is none.
func FindCondition(object *unstructured.Unstructured, conditionType string) Condition {
	conditions, _, _ := unstructured.NestedSlice(object.Object, "status", "conditions")
	for _, item := range conditions {
		entry, ok := item.(map[string]any)
		if !ok || entry["type"] != conditionType {
			continue
		}
		status, _ := entry["status"].(string)
		reason, _ := entry["reason"].(string)
		message, _ := entry["message"].(string)
		return Condition{Status: status, Reason: reason, Message: message}
	}
	return Condition{}
}

func (c *Collector) readHPA(ctx context.Context, scaledObject ScaledObject) HPA {
	state := HPA{Name: scaledObject.HPAName}
	if !scaledObject.Found {
		state.Err = "no ScaledObject, so no HPA"
		return state
	}
	hpa, err := c.kubeClient.AutoscalingV2().HorizontalPodAutoscalers(c.namespace).Get(ctx, state.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		state.Err = fmt.Sprintf("HorizontalPodAutoscaler %s not found (KEDA creates it once the ScaledObject is Ready)", state.Name)
		return state
	}
	if err != nil {
		state.Err = err.Error()
		return state
	}

	state.Found = true
	if hpa.Spec.MinReplicas != nil {
		state.MinReplicas = *hpa.Spec.MinReplicas
	}
	state.MaxReplicas = hpa.Spec.MaxReplicas
	state.CurrentReplicas = hpa.Status.CurrentReplicas
	state.DesiredReplicas = hpa.Status.DesiredReplicas
	state.Metric = externalMetric(hpa.Status.CurrentMetrics)
	return state
}

// externalMetric formats the first external metric's current value, or returns "".
func externalMetric(metrics []autoscalingv2.MetricStatus) string {
	for _, metric := range metrics {
		if metric.External == nil {
			continue
		}
		current := metric.External.Current
		if current.AverageValue != nil {
			return current.AverageValue.String() + " per pod"
		}
		if current.Value != nil {
			return current.Value.String()
		}
	}
	return ""
}

func (c *Collector) readNodePool(ctx context.Context) NodePool {
	var state NodePool
	list, err := c.dynamic.Resource(NodePoolResource).List(ctx, metav1.ListOptions{LabelSelector: c.selector("nodepool")})
	if apierrors.IsNotFound(err) {
		return state
	}
	state.Served = true
	if err != nil {
		state.Err = err.Error()
		return state
	}
	if len(list.Items) == 0 {
		// The release may run with nodePool.enabled=false; that is not an error.
		return state
	}
	state.Name, state.Found = list.Items[0].GetName(), true
	byPool := metav1.ListOptions{LabelSelector: NodePoolLabel + "=" + state.Name}

	nodes, err := c.kubeClient.CoreV1().Nodes().List(ctx, byPool)
	if err != nil {
		state.Err = fmt.Sprintf("list nodes: %v", err)
		return state
	}
	state.Nodes = len(nodes.Items)
	for _, node := range nodes.Items {
		for _, condition := range node.Status.Conditions {
			if condition.Type == corev1.NodeReady && condition.Status == corev1.ConditionTrue {
				state.ReadyNodes++
			}
		}
	}

	claims, err := c.dynamic.Resource(NodeClaimResource).List(ctx, byPool)
	if err != nil {
		state.Err = fmt.Sprintf("list NodeClaims: %v", err)
		return state
	}
	state.NodeClaims = len(claims.Items)
	for i := range claims.Items {
		if FindCondition(&claims.Items[i], "Launched").IsTrue() {
			state.LaunchedNodeClaims++
		}
	}
	return state
}
