// Package scenario is the end-to-end scaling scenario of aks-edw, written once and run on three
// clusters: the simulated cluster (kwok nodes, Karpenter's kwok provider, host consumer
// processes), kind (real containers, no Karpenter) and AKS (node autoprovisioning, workload
// identity).
//
// A Target describes what differs between the clusters: the kubeconfig, how this process and
// the pods reach the queue, the chart values, whether Karpenter provides nodes, and how long the
// cluster takes to start a pod. Run installs the chart with the installer library into a
// namespace of its own, labelled to enforce the Pod Security restricted level, and sends a
// burst. It checks each stage: KEDA activates, and the HorizontalPodAutoscaler's desired
// replicas follow ceil(count / queueLength) clamped to [min, max]. Pods wait for nodes that
// Karpenter creates, and the consumers drain the queue into the table. After the cooldown the
// Deployment and the nodes go back to zero. Then Run checks the activation threshold, an
// upgrade with changed values, and that uninstall removes every object including the
// cluster-scoped NodePool.
// RequireMissingCRDsRejected checks that an install on a cluster without KEDA fails in
// preflight and in the chart, naming the missing CustomResourceDefinitions.
//
// The scenario asserts states and never durations. Every wait has a deadline derived from the
// release's own pollingInterval, cooldownPeriod, consolidateAfter and termination grace period,
// plus the target's pod start-up allowance. When a step fails, the scenario prints the timeline
// (queue depth, activity, desired and ready replicas, nodes and NodeClaims, one line per poll),
// every HPA status and every consumer pod.
package scenario
