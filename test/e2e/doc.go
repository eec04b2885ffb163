// Package e2e runs the end-to-end scaling scenario (package scenario) on three clusters, each
// behind its own build tag so that `go test ./...` runs none of them:
//
//   - e2esim: the simulated cluster that `edwctl sim up` started (make e2e-sim);
//   - e2ekind: a kind cluster that the test creates and deletes (make e2e; needs Docker or
//     Podman);
//   - e2eaks: an AKS deployment that the test creates with the Bicep templates and deletes
//     (make e2e-aks; needs an az login and a subscription).
package e2e
