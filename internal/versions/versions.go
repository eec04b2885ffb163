// Package versions pins the upstream components that the simulated cluster builds and that the
// chart tests read CRDs from. Each value is a Go module version served by the module proxy. The
// build cache is keyed by these, so changing one rebuilds only that component.
package versions

const (
	// Kubernetes is the k8s.io/kubernetes release for kube-apiserver, kube-controller-manager,
	// kube-scheduler and kubectl. Every k8s.io staging module is pinned to the matching v0.x.y.
	Kubernetes = "v1.36.3"

	// KubernetesStaging is the version of the k8s.io staging modules that match Kubernetes.
	KubernetesStaging = "v0.36.3"

	// Etcd is the go.etcd.io/etcd/server/v3 release.
	Etcd = "v3.6.8"

	// Kwok is the sigs.k8s.io/kwok release for kwok and kwokctl.
	Kwok = "v0.8.0"

	// KEDA is the github.com/kedacore/keda/v2 release for the operator, the metrics adapter
	// and the ScaledObject and TriggerAuthentication CRDs.
	// NOTE: v2.21.1 needs Go 1.27.4 or newer, so the pin stays at v2.21.0 on Go 1.26.
	KEDA = "v2.21.0"

	// KEDAModule is KEDA's Go module path.
	KEDAModule = "github.com/kedacore/keda/v2"

	// Karpenter is the sigs.k8s.io/karpenter release whose kwok provider runs in the simulation.
	Karpenter = "v1.14.1"
)
