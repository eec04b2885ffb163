// Package chart tests the Helm chart in charts/aks-edw without a cluster. Each test renders the
// chart with `helm template` through Terratest's helm module and checks the objects field by
// field.
//
// The rendered objects are also validated offline against their real schemas. Core kinds are
// strictly decoded into the k8s.io/api types, and pod specs go through the restricted Pod
// Security checks. KEDA's and Karpenter's custom resources go through the apiextensions-apiserver
// code that a kube-apiserver runs on create, with the CRDs of the pinned KEDA and Karpenter
// versions. Invalid values must fail with the value named, and `helm lint --strict` must pass on
// every scenario in charts/aks-edw/ci.
//
// The helm binary is the go.mod tool (`go tool helm`), built once by Go and cached. The Azure
// Karpenter provider's CRDs (NodePool, AKSNodeClass) are read from the folder in
// EDW_KARPENTER_AZURE_CRDS, else from a shared CRD folder beside the repository. When neither
// exists, the tests that need them skip and print the folder they looked for.
package chart
