package scenario

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/aks-edw/aks-edw/internal/installer"
	"github.com/aks-edw/aks-edw/internal/status"
)

// triggerAuthenticationResource is KEDA's TriggerAuthentication API.
var triggerAuthenticationResource = schema.GroupVersionResource{Group: "keda.sh", Version: "v1alpha1", Resource: "triggerauthentications"}

// rest waits until the release is idle: no replicas, no pods and, with Karpenter, no nodes. A
// Deployment created without replicas starts with one until KEDA's first poll scales it to
// zero, and that pod may already have brought a node.
func (s *scenario) rest(t *testing.T) {
	bound := s.timing.PodsRunning(s.target.Nodes) + s.timing.ScaleIn() + s.timing.NodesGone()
	t.Logf("waiting up to %s for zero replicas, zero pods and zero NodePool nodes", bound)
	require.NoError(t, waitUntil(t.Context(), s.interval, bound, "the release at rest", s.atRest))
}

func (s *scenario) atRest(context.Context) (bool, string) {
	snapshot := s.obs.Latest()
	pods := s.obs.LivePods()
	_, nodes := s.obs.PoolNodes()
	_, claims := s.obs.NodeClaims()
	state := fmt.Sprintf("replicas %d, pods %d, nodes %d, NodeClaims %d, deployment error %q",
		snapshot.Deployment.Replicas, pods, nodes, claims, snapshot.Deployment.Err)
	return snapshot.Deployment.Found && snapshot.Deployment.Replicas == 0 && pods == 0 && nodes == 0 && claims == 0, state
}

// active reports KEDA's activation: the ScaledObject is Active and the Deployment has replicas.
func (s *scenario) active(context.Context) (bool, string) {
	snapshot := s.obs.Latest()
	state := fmt.Sprintf("Active=%q replicas %d depth %d", snapshot.ScaledObject.Active.Status, snapshot.Deployment.Replicas, snapshot.Queue.Depth)
	return snapshot.ScaledObject.Active.IsTrue() && snapshot.Deployment.Replicas >= 1, state
}

// produce sends count messages and adds them to the messages the table must hold.
func (s *scenario) produce(t *testing.T, count int) {
	t.Logf("producing %d messages to queue %s", count, s.store.names.QueueName)
	sent, err := s.store.Produce(t.Context(), count)
	s.sent += sent
	require.NoError(t, err)
	require.EqualValues(t, count, sent)
}

// scaleOut produces the burst and follows the release from zero to several running pods.
func (s *scenario) scaleOut(t *testing.T) {
	ctx := t.Context()
	s.produce(t, s.plan.Burst)

	t.Logf("waiting up to %s for KEDA to activate the ScaledObject and scale the Deployment from 0", s.timing.Activation())
	require.NoError(t, waitUntil(ctx, s.interval, s.timing.Activation(), "ScaledObject Active with replicas", s.active))

	t.Logf("waiting up to %s for the HPA to decide on more than one replica from the queue metric", s.timing.ScaleOut())
	err := waitUntil(ctx, s.interval, s.timing.ScaleOut(), "an HPA decision above one replica", func(context.Context) (bool, string) {
		highest := s.highestDesired()
		return highest > 1, fmt.Sprintf("highest desired replicas %d", highest)
	})
	require.NoError(t, err, "if the timeline shows the queue empty before the HPA's first decision, one pod drained the burst: raise Plan.Burst or lower Plan.ConsumerConcurrency")

	t.Logf("waiting up to %s for two consumer pods to run", s.timing.PodsRunning(s.target.Nodes))
	err = waitUntil(ctx, s.interval, s.timing.PodsRunning(s.target.Nodes), "two running consumer pods", func(context.Context) (bool, string) {
		running := s.runningPods()
		return running >= 2, fmt.Sprintf("%d consumer pods have run", running)
	})
	require.NoError(t, err)

	if s.target.Nodes {
		t.Log("checking that the pods waited for nodes that Karpenter created")
		unschedulable := 0
		for _, pod := range s.obs.Pods() {
			if pod.Unschedulable {
				unschedulable++
			}
		}
		claims, _ := s.obs.NodeClaims()
		nodes, _ := s.obs.PoolNodes()
		assert.Positive(t, unschedulable, "consumer pods reported Unschedulable (Pending without a node)")
		assert.Positive(t, claims, "NodeClaims of NodePool %s", s.nodePool)
		assert.NotEmpty(t, nodes, "nodes of NodePool %s", s.nodePool)
	}
}

// highestDesired returns the highest desired replica count among the HPA statuses that were
// decided from the queue metric alone, without a rate limit of the HPA behavior.
func (s *scenario) highestDesired() int32 {
	var highest int32
	for _, observation := range s.obs.HPAObservations() {
		if !observation.Checkable() {
			continue
		}
		if want, limitedFrom := observation.Expected(); want == limitedFrom {
			highest = max(highest, observation.Desired)
		}
	}
	return highest
}

// runningPods returns how many consumer pods have been seen Running.
func (s *scenario) runningPods() int {
	running := 0
	for _, pod := range s.obs.Pods() {
		if pod.Running {
			running++
		}
	}
	return running
}

// drain waits until the consumers have emptied the queue and checks the table and the poison
// queue.
func (s *scenario) drain(t *testing.T) {
	s.waitDrained(t)
}

func (s *scenario) waitDrained(t *testing.T) {
	ctx := t.Context()
	stall := s.timing.DrainStall(s.target.Nodes)
	t.Logf("waiting for the consumers to empty queue %s; failing if the count has no new low for %s", s.store.names.QueueName, stall)

	lowest, lastLow := int64(math.MaxInt64), time.Now()
	ticker := time.NewTicker(s.interval)
	defer ticker.Stop()
	for {
		depth, err := s.store.Depth(ctx)
		require.NoError(t, err)
		if depth == 0 {
			break
		}
		if depth < lowest {
			lowest, lastLow = depth, time.Now()
		}
		if time.Since(lastLow) > stall {
			require.Failf(t, "queue stopped draining", "queue %s has held at least %d messages for %s", s.store.names.QueueName, lowest, stall)
		}
		select {
		case <-ctx.Done():
			require.FailNow(t, "stopped waiting for the drain", context.Cause(ctx).Error())
		case <-ticker.C:
		}
	}

	t.Logf("queue empty; counting the rows of table %s", s.store.names.TableName)
	var rows int64
	want := s.baseRows + s.sent
	err := waitUntil(ctx, s.interval, reconcileAllowance, fmt.Sprintf("%d rows", want), func(ctx context.Context) (bool, string) {
		var err error
		rows, err = s.store.Rows(ctx)
		return err == nil && rows >= want, fmt.Sprintf("%d rows, error %v", rows, err)
	})
	assert.NoError(t, err)
	assert.Equal(t, s.sent, rows-s.baseRows, "rows added to table %s against messages sent", s.store.names.TableName)

	poison, err := s.store.PoisonDepth(ctx)
	require.NoError(t, err)
	assert.Zero(t, poison, "messages in poison queue %s", s.store.names.PoisonQueueName)
}

// scaleIn waits for the Deployment to return to zero after the cooldown, and for Karpenter to
// remove the empty nodes.
func (s *scenario) scaleIn(t *testing.T) {
	s.waitScaledIn(t)
}

func (s *scenario) waitScaledIn(t *testing.T) {
	ctx := t.Context()
	t.Logf("waiting up to %s for the Deployment to return to 0 replicas and no pods", s.timing.ScaleIn())
	err := waitUntil(ctx, s.interval, s.timing.ScaleIn(), "0 replicas and no consumer pods", func(context.Context) (bool, string) {
		snapshot := s.obs.Latest()
		pods := s.obs.LivePods()
		return snapshot.Deployment.Found && snapshot.Deployment.Replicas == 0 && pods == 0,
			fmt.Sprintf("replicas %d, pods %d, Active=%q", snapshot.Deployment.Replicas, pods, snapshot.ScaledObject.Active.Status)
	})
	require.NoError(t, err)
	assert.False(t, s.obs.Latest().ScaledObject.Active.IsTrue(), "ScaledObject %s Active after the queue emptied", s.scaledObject)

	if !s.target.Nodes {
		return
	}
	t.Logf("waiting up to %s for Karpenter to remove the empty nodes of NodePool %s", s.timing.NodesGone(), s.nodePool)
	err = waitUntil(ctx, s.interval, s.timing.NodesGone(), "no nodes and no NodeClaims in NodePool "+s.nodePool, func(context.Context) (bool, string) {
		_, nodes := s.obs.PoolNodes()
		_, claims := s.obs.NodeClaims()
		return nodes == 0 && claims == 0, fmt.Sprintf("nodes %d, NodeClaims %d", nodes, claims)
	})
	require.NoError(t, err)

	nodes, _ := s.obs.PoolNodes()
	for _, pod := range s.obs.Pods() {
		if pod.Running {
			assert.Contains(t, nodes, pod.Node, "node of consumer pod %s is not one of NodePool %s's", pod.Name, s.nodePool)
		}
	}
	claims, _ := s.obs.NodeClaims()
	t.Logf("so far: highest desired replicas %d, %d consumer pods ran, NodePool %s had %d nodes from %d NodeClaims",
		s.highestDesired(), s.runningPods(), s.nodePool, len(nodes), claims)
}

// upgrade changes queueLength, maxReplicaCount and activationQueueLength with an upgrade and
// checks that the Deployment and its selector stay as they were.
func (s *scenario) upgrade(t *testing.T) {
	ctx := t.Context()
	before, err := s.deploymentObject(ctx)
	require.NoError(t, err)
	scaledObjectBefore, err := s.dyn.Resource(status.ScaledObjectResource).Namespace(s.namespace).Get(ctx, s.scaledObject, metav1.GetOptions{})
	require.NoError(t, err)

	t.Logf("upgrading release %s to queueLength %d, maxReplicaCount %d, activationQueueLength %d",
		s.release, s.plan.UpgradeQueueLength, s.plan.UpgradeMaxReplicas, s.plan.UpgradeActivation)
	values := s.values(s.plan.UpgradeQueueLength, s.plan.UpgradeMaxReplicas, s.plan.UpgradeActivation)
	inst, err := installer.New(s.installerOptions(t, values)...)
	require.NoError(t, err)
	result, err := inst.Upgrade(ctx)
	require.NoError(t, err)
	assert.Equal(t, 2, result.Revision)

	after, err := s.deploymentObject(ctx)
	require.NoError(t, err)
	assert.Equal(t, before.UID, after.UID, "Deployment %s was replaced", s.deployment)
	assert.Equal(t, before.Spec.Selector, after.Spec.Selector, "Deployment %s selector", s.deployment)
	selector, err := metav1.LabelSelectorAsSelector(after.Spec.Selector)
	require.NoError(t, err)
	assert.True(t, selector.Matches(labels.Set(after.Spec.Template.Labels)), "pod template labels %v match selector %s", after.Spec.Template.Labels, selector)

	scaledObject, err := s.dyn.Resource(status.ScaledObjectResource).Namespace(s.namespace).Get(ctx, s.scaledObject, metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, scaledObjectBefore.GetUID(), scaledObject.GetUID(), "ScaledObject %s was replaced", s.scaledObject)
	maxReplicas, _, _ := unstructured.NestedInt64(scaledObject.Object, "spec", "maxReplicaCount")
	assert.EqualValues(t, s.plan.UpgradeMaxReplicas, maxReplicas)
	metadata := triggerMetadata(scaledObject)
	assert.Equal(t, fmt.Sprint(s.plan.UpgradeQueueLength), metadata["queueLength"])
	assert.Equal(t, fmt.Sprint(s.plan.UpgradeActivation), metadata["activationQueueLength"])

	t.Log("waiting for KEDA to carry the new values into its HPA")
	hpaName := "keda-hpa-" + s.scaledObject
	err = waitUntil(ctx, s.interval, s.timing.Activation(), "HPA "+hpaName+" with the upgraded values", func(ctx context.Context) (bool, string) {
		hpa, err := s.kube.AutoscalingV2().HorizontalPodAutoscalers(s.namespace).Get(ctx, hpaName, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		observation := ObserveHPA(hpa, time.Now())
		return observation.Max == int32(s.plan.UpgradeMaxReplicas) && observation.TargetMilli == int64(s.plan.UpgradeQueueLength)*1000,
			fmt.Sprintf("maxReplicas %d, target %s", observation.Max, milliText(observation.TargetMilli))
	})
	require.NoError(t, err)
}

// triggerMetadata returns the first trigger's metadata of a ScaledObject.
func triggerMetadata(scaledObject *unstructured.Unstructured) map[string]string {
	triggers, _, _ := unstructured.NestedSlice(scaledObject.Object, "spec", "triggers")
	if len(triggers) == 0 {
		return nil
	}
	trigger, _ := triggers[0].(map[string]any)
	metadata, _, _ := unstructured.NestedStringMap(trigger, "metadata")
	return metadata
}

// activationThreshold checks KEDA's activation at the upgraded threshold: a count equal to
// activationQueueLength leaves the Deployment at zero for three polls, and one message more
// activates it. The second half shows that KEDA was polling during the first.
func (s *scenario) activationThreshold(t *testing.T) {
	ctx := t.Context()
	threshold := s.plan.UpgradeActivation
	require.Zero(t, s.obs.Latest().Deployment.Replicas, "the Deployment must be at 0 before the threshold check")

	s.produce(t, threshold)
	depth, err := s.store.Depth(ctx)
	require.NoError(t, err)
	require.EqualValues(t, threshold, depth, "queue count before the inactive window")

	window := s.timing.InactiveWindow()
	t.Logf("watching for %s: a count of %d, equal to activationQueueLength, must not activate the ScaledObject", window, threshold)
	deadline := time.Now().Add(window)
	for time.Now().Before(deadline) {
		snapshot := s.obs.Latest()
		require.False(t, snapshot.ScaledObject.Active.IsTrue(), "ScaledObject %s became Active at a count of %d, not above activationQueueLength %d", s.scaledObject, snapshot.Queue.Depth, threshold)
		require.Zero(t, snapshot.Deployment.Replicas, "Deployment %s scaled from 0 at a count of %d", s.deployment, snapshot.Queue.Depth)
		select {
		case <-ctx.Done():
			require.FailNow(t, "stopped during the inactive window", context.Cause(ctx).Error())
		case <-time.After(s.interval):
		}
	}

	s.produce(t, 1)
	t.Logf("waiting up to %s for a count of %d, one above the threshold, to activate the ScaledObject", s.timing.Activation(), threshold+1)
	require.NoError(t, waitUntil(ctx, s.interval, s.timing.Activation(), "ScaledObject Active with replicas", s.active))

	s.waitDrained(t)
	s.waitScaledIn(t)
}

// hpaFollowedFormula checks every HPA status decided from the queue metric against
// ceil(count / queueLength) clamped to [min, max].
func (s *scenario) hpaFollowedFormula(t *testing.T) {
	checked := 0
	for _, observation := range s.obs.HPAObservations() {
		if !observation.Checkable() {
			continue
		}
		checked++
		assert.NoError(t, observation.Check())
	}
	require.Positive(t, checked, "HPA statuses decided from the queue metric")
	t.Logf("%d HPA statuses agree with ceil(count / queueLength) clamped to [min, max]", checked)
}

// uninstall removes the release and checks that nothing of it is left, including the
// cluster-scoped NodePool and the HPA that KEDA created.
func (s *scenario) uninstall(t *testing.T) {
	ctx := t.Context()
	inst, err := installer.New(s.installerOptions(t, nil)...)
	require.NoError(t, err)
	require.NoError(t, inst.Uninstall(ctx))
	s.installed = false

	byRelease := metav1.ListOptions{LabelSelector: "app.kubernetes.io/instance=" + s.release}
	deployments, err := s.kube.AppsV1().Deployments(s.namespace).List(ctx, byRelease)
	require.NoError(t, err)
	assert.Empty(t, deployments.Items, "Deployments left by release %s", s.release)
	serviceAccounts, err := s.kube.CoreV1().ServiceAccounts(s.namespace).List(ctx, byRelease)
	require.NoError(t, err)
	assert.Empty(t, serviceAccounts.Items, "ServiceAccounts left by release %s", s.release)
	secrets, err := s.kube.CoreV1().Secrets(s.namespace).List(ctx, byRelease)
	require.NoError(t, err)
	assert.Empty(t, secrets.Items, "Secrets left by release %s", s.release)
	releases, err := s.kube.CoreV1().Secrets(s.namespace).List(ctx, metav1.ListOptions{LabelSelector: "owner=helm,name=" + s.release})
	require.NoError(t, err)
	assert.Empty(t, releases.Items, "Helm release records of %s", s.release)
	for _, resource := range []schema.GroupVersionResource{status.ScaledObjectResource, triggerAuthenticationResource} {
		list, err := s.dyn.Resource(resource).Namespace(s.namespace).List(ctx, byRelease)
		require.NoError(t, err)
		assert.Empty(t, list.Items, "%s left by release %s", resource.Resource, s.release)
	}
	if s.nodePool != "" {
		_, err := s.dyn.Resource(status.NodePoolResource).Get(ctx, s.nodePool, metav1.GetOptions{})
		assert.True(t, apierrors.IsNotFound(err), "NodePool %s after uninstall: %v", s.nodePool, err)
	}

	t.Log("waiting for Kubernetes to delete the HPA that KEDA created for the ScaledObject")
	err = waitUntil(ctx, s.interval, reconcileAllowance, "no HPA in namespace "+s.namespace, func(ctx context.Context) (bool, string) {
		hpas, err := s.kube.AutoscalingV2().HorizontalPodAutoscalers(s.namespace).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		return len(hpas.Items) == 0, fmt.Sprintf("%d HPAs", len(hpas.Items))
	})
	assert.NoError(t, err)
}
