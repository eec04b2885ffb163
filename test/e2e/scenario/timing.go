package scenario

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"

	"github.com/aks-edw/aks-edw/internal/status"
)

// Intervals of the controllers that the chart does not set, at their upstream defaults.
const (
	// hpaSyncPeriod is kube-controller-manager's --horizontal-pod-autoscaler-sync-period
	// default: the HPA reads the metric and decides replicas this often.
	hpaSyncPeriod = 15 * time.Second
	// karpenterBatchMaxDuration is Karpenter's BATCH_MAX_DURATION default: the longest it
	// collects pending pods before it creates NodeClaims for them.
	karpenterBatchMaxDuration = 10 * time.Second
	// karpenterDisruptionPoll is how often Karpenter's disruption controller looks for empty
	// or underutilized nodes (10 s in Karpenter v1.14).
	karpenterDisruptionPoll = 10 * time.Second
	// reconcileAllowance covers one controller reconcile and its API writes, and one queue
	// call, on a loaded machine. It is the only allowance not derived from a setting.
	reconcileAllowance = 30 * time.Second
)

// Timing holds the release's settings that bound how long each scaling step may take, read
// from the objects the controllers act on, and the target's pod and node start-up allowances.
type Timing struct {
	// PollingInterval and CooldownPeriod are the ScaledObject's.
	PollingInterval time.Duration
	CooldownPeriod  time.Duration
	// ConsolidateAfter is the NodePool's spec.disruption.consolidateAfter, 0 without a NodePool.
	ConsolidateAfter time.Duration
	// TerminationGrace is the consumer pods' terminationGracePeriodSeconds.
	TerminationGrace time.Duration
	// VisibilityTimeout is the consumer's; a message whose consumer stopped mid-way becomes
	// visible again after it.
	VisibilityTimeout time.Duration
	// PodStartup and NodeTeardown come from the target.
	PodStartup   time.Duration
	NodeTeardown time.Duration
}

// Activation bounds the time from the queue count rising above the activation threshold to
// KEDA marking the ScaledObject Active and scaling the Deployment from 0. That happens at the
// next poll, and a second poll is allowed because the count may land just after a poll.
func (t Timing) Activation() time.Duration { return 2*t.PollingInterval + reconcileAllowance }

// ScaleOut bounds the time from activation to the HPA's first decision from the metric. KEDA
// creates the HPA at install, and the HPA computes on its first sync after the replicas rise
// above 0.
func (t Timing) ScaleOut() time.Duration {
	return t.PollingInterval + 2*hpaSyncPeriod + reconcileAllowance
}

// PodsRunning bounds the time from a pod's creation until it runs, with a node from
// Karpenter's next batch when the target has Nodes.
func (t Timing) PodsRunning(nodes bool) time.Duration {
	bound := t.PodStartup + reconcileAllowance
	if nodes {
		bound += karpenterBatchMaxDuration
	}
	return bound
}

// DrainStall bounds how long the queue count may go without a new low while messages remain.
// A pod may still be starting and the HPA may be between syncs. A message whose consumer was
// stopped comes back only after the visibility timeout.
func (t Timing) DrainStall(nodes bool) time.Duration {
	return t.PodsRunning(nodes) + t.VisibilityTimeout + t.PollingInterval + hpaSyncPeriod
}

// ScaleIn bounds the time from the queue becoming empty until the Deployment has no pods. KEDA
// scales to zero once the trigger has been inactive for the cooldown, counted from its last
// active poll. Each pod may then take its termination grace period to stop.
func (t Timing) ScaleIn() time.Duration {
	return t.CooldownPeriod + 2*t.PollingInterval + t.TerminationGrace + reconcileAllowance
}

// NodesGone bounds the time from the last consumer pod's exit until Karpenter has removed the
// pool's empty nodes and their NodeClaims.
func (t Timing) NodesGone() time.Duration {
	return t.ConsolidateAfter + karpenterDisruptionPoll + t.NodeTeardown + reconcileAllowance
}

// InactiveWindow is how long the scenario watches a queue at the activation threshold to
// show that KEDA does not activate: long enough for three polls.
func (t Timing) InactiveWindow() time.Duration { return 3 * t.PollingInterval }

// String lists the settings and the derived bounds, for the test log.
func (t Timing) String() string {
	return fmt.Sprintf("pollingInterval %s, cooldownPeriod %s, consolidateAfter %s, terminationGrace %s, visibilityTimeout %s, pod start-up %s, node teardown %s; "+
		"bounds: activation %s, scale-out %s, pods running %s, drain stall %s, scale-in %s, nodes gone %s",
		t.PollingInterval, t.CooldownPeriod, t.ConsolidateAfter, t.TerminationGrace, t.VisibilityTimeout, t.PodStartup, t.NodeTeardown,
		t.Activation(), t.ScaleOut(), t.PodsRunning(true), t.DrainStall(true), t.ScaleIn(), t.NodesGone())
}

// readTiming reads the Timing of the release from its ScaledObject, Deployment and NodePool.
func readTiming(ctx context.Context, dyn dynamic.Interface, deployment *appsv1.Deployment, namespace, scaledObject, nodePool string, target Target) (Timing, error) {
	timing := Timing{PodStartup: target.PodStartup, NodeTeardown: target.NodeTeardown}
	if timing.NodeTeardown <= 0 {
		timing.NodeTeardown = target.PodStartup
	}

	so, err := dyn.Resource(status.ScaledObjectResource).Namespace(namespace).Get(ctx, scaledObject, metav1.GetOptions{})
	if err != nil {
		return timing, fmt.Errorf("read ScaledObject %s/%s: %w", namespace, scaledObject, err)
	}
	// KEDA's defaults apply when the chart leaves a field out: 30 s polling, 300 s cooldown.
	timing.PollingInterval = secondsField(so, 30, "spec", "pollingInterval")
	timing.CooldownPeriod = secondsField(so, 300, "spec", "cooldownPeriod")

	grace := int64(30)
	if seconds := deployment.Spec.Template.Spec.TerminationGracePeriodSeconds; seconds != nil {
		grace = *seconds
	}
	timing.TerminationGrace = time.Duration(grace) * time.Second
	timing.VisibilityTimeout = 30 * time.Second
	for _, container := range deployment.Spec.Template.Spec.Containers {
		for _, env := range container.Env {
			if env.Name != "EDW_VISIBILITY_TIMEOUT" {
				continue
			}
			if parsed, err := time.ParseDuration(env.Value); err == nil {
				timing.VisibilityTimeout = parsed
			}
		}
	}

	if nodePool != "" {
		pool, err := dyn.Resource(status.NodePoolResource).Get(ctx, nodePool, metav1.GetOptions{})
		if err != nil {
			return timing, fmt.Errorf("read NodePool %s: %w", nodePool, err)
		}
		value, _, _ := unstructured.NestedString(pool.Object, "spec", "disruption", "consolidateAfter")
		parsed, err := time.ParseDuration(value)
		if err != nil {
			return timing, fmt.Errorf("NodePool %s has consolidateAfter %q, which the scenario cannot wait for: set nodePool.disruption.consolidateAfter to a duration such as 10s", nodePool, value)
		}
		timing.ConsolidateAfter = parsed
	}
	return timing, nil
}

func secondsField(object *unstructured.Unstructured, fallback int64, fields ...string) time.Duration {
	seconds, found, err := unstructured.NestedInt64(object.Object, fields...)
	if !found || err != nil {
		seconds = fallback
	}
	return time.Duration(seconds) * time.Second
}
