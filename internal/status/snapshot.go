// Package status reads the state of an aks-edw release in one pass. A Snapshot holds the
// queue's approximate message count and the ScaledObject's conditions. It also holds the desired
// and current replicas of the HPA that KEDA creates, the Deployment's ready replicas, and the
// nodes and NodeClaims of the release's Karpenter NodePool.
//
// A Collector takes Snapshots; Watch takes one every interval until its context ends. A Timeline
// keeps the snapshots as one line each (time, depth, desired, replicas, ready, nodes,
// NodeClaims), which edwctl watch prints live and the end-to-end tests print on failure.
package status

import (
	"time"
)

// Snapshot is the state of a release at one moment. A part that could not be read has Err set
// and its other fields zero; the rest of the snapshot is still filled.
type Snapshot struct {
	Time         time.Time
	Release      string
	Namespace    string
	Queue        Queue
	ScaledObject ScaledObject
	HPA          HPA
	Deployment   Deployment
	NodePool     NodePool
}

// Errors returns the read errors of every part, each prefixed with the part's name.
func (s Snapshot) Errors() []string {
	var out []string
	add := func(part, err string) {
		if err != "" {
			out = append(out, part+": "+err)
		}
	}
	add("queue", s.Queue.Err)
	add("ScaledObject", s.ScaledObject.Err)
	add("HPA", s.HPA.Err)
	add("Deployment", s.Deployment.Err)
	add("NodePool", s.NodePool.Err)
	return out
}

// Queue is the storage queue that the consumer reads.
type Queue struct {
	Name       string
	PoisonName string
	// Depth is the queue's approximate message count, which includes messages that are
	// invisible while consumers work on them. It is -1 when unknown.
	Depth int64
	// PoisonDepth is the poison queue's approximate message count, or -1 when unknown.
	PoisonDepth int64
	// Source names where the storage credentials came from, never the credentials themselves.
	Source string
	Err    string
}

// Condition is one status condition of a custom resource.
type Condition struct {
	// Status is "True", "False" or "Unknown"; empty when the condition is absent.
	Status  string
	Reason  string
	Message string
}

// IsTrue reports whether the condition is present with status True.
func (c Condition) IsTrue() bool { return c.Status == "True" }

// ScaledObject is KEDA's ScaledObject for the consumer.
type ScaledObject struct {
	Name  string
	Found bool
	Ready Condition
	// Active is True while the trigger is above its activation threshold.
	Active   Condition
	Paused   Condition
	Fallback Condition
	// MinReplicas and MaxReplicas are the ScaledObject's bounds.
	MinReplicas int32
	MaxReplicas int32
	// HPAName is the HorizontalPodAutoscaler that KEDA created for it.
	HPAName string
	Err     string
}

// HPA is the HorizontalPodAutoscaler that KEDA manages for the ScaledObject.
type HPA struct {
	Name            string
	Found           bool
	MinReplicas     int32
	MaxReplicas     int32
	CurrentReplicas int32
	DesiredReplicas int32
	// Metric is the external metric's current value as the HPA last read it, e.g. "120" or
	// "24" per pod, or "" when none was read.
	Metric string
	Err    string
}

// Deployment is the consumer Deployment.
type Deployment struct {
	Name  string
	Found bool
	// Replicas is spec.replicas, the count KEDA and the HPA set.
	Replicas  int32
	Ready     int32
	Available int32
	Updated   int32
	Err       string
}

// NodePool is the release's Karpenter NodePool and what it launched.
type NodePool struct {
	Name  string
	Found bool
	// Served is false when the cluster has no karpenter.sh/v1 NodePool API.
	Served     bool
	Nodes      int
	ReadyNodes int
	NodeClaims int
	// LaunchedNodeClaims counts NodeClaims with condition Launched=True.
	LaunchedNodeClaims int
	Err                string
}
