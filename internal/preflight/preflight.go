// Package preflight checks that a cluster can take the aks-edw chart before anything is applied.
// It checks that the API server is reachable and that every API kind the chart renders is
// served (KEDA's ScaledObject and TriggerAuthentication, Karpenter's NodePool and its node
// class). It reads the namespace's Pod Security level. With workload identity, it checks the
// federated credential subjects and the KEDA operator's injected token.
//
// Every check runs, even after a failure, so that one run lists everything to fix. Each result
// prints as one line that names the missing thing and the fix.
package preflight

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
)

// Status is the outcome of one check.
type Status int

const (
	// Pass means the check found what the chart needs.
	Pass Status = iota
	// Warn means the install can go ahead, but something will not behave as the chart expects.
	Warn
	// Fail means the install must not go ahead.
	Fail
	// Skip means the check could not run because an earlier check failed (for example, the API
	// server is unreachable).
	Skip
)

// String returns the label that Result.String prints.
func (s Status) String() string {
	switch s {
	case Pass:
		return "ok"
	case Warn:
		return "warn"
	case Fail:
		return "FAIL"
	case Skip:
		return "skip"
	default:
		return fmt.Sprintf("status(%d)", int(s))
	}
}

// Result is the outcome of one check.
type Result struct {
	// Check is a short stable name, such as "crd" or "pod-security".
	Check string
	// Status is the outcome.
	Status Status
	// Message states what the check found, naming the object involved.
	Message string
	// Fix states what to do. It is empty when Status is Pass.
	Fix string
}

// String formats r as one line: status, check, message and, when there is one, the fix.
func (r Result) String() string {
	line := fmt.Sprintf("%-4s %s: %s", r.Status, r.Check, r.Message)
	if r.Fix != "" {
		line += "; fix: " + r.Fix
	}
	return line
}

// Report is the outcome of a preflight run, in check order.
type Report struct {
	Results []Result
}

// Failures returns the results with Status Fail.
func (r Report) Failures() []Result {
	return r.filter(Fail)
}

// Warnings returns the results with Status Warn.
func (r Report) Warnings() []Result {
	return r.filter(Warn)
}

func (r Report) filter(status Status) []Result {
	var out []Result
	for _, result := range r.Results {
		if result.Status == status {
			out = append(out, result)
		}
	}
	return out
}

// Err returns nil when no check failed, else a *FailedError listing the failures.
func (r Report) Err() error {
	failures := r.Failures()
	if len(failures) == 0 {
		return nil
	}
	return &FailedError{Failures: failures}
}

// WriteTo writes one line per result to w.
func (r Report) WriteTo(w io.Writer) (int64, error) {
	var written int64
	for _, result := range r.Results {
		n, err := fmt.Fprintln(w, result.String())
		written += int64(n)
		if err != nil {
			return written, err
		}
	}
	return written, nil
}

// FailedError is returned when at least one check failed. Its message holds one line per
// failure, so callers can print it as it is.
type FailedError struct {
	Failures []Result
}

func (e *FailedError) Error() string {
	lines := make([]string, 0, len(e.Failures)+1)
	lines = append(lines, fmt.Sprintf("preflight failed (%d of the checks), nothing was applied:", len(e.Failures)))
	for _, failure := range e.Failures {
		lines = append(lines, "  "+failure.String())
	}
	return strings.Join(lines, "\n")
}

// IsFailed reports whether err is, or wraps, a *FailedError.
func IsFailed(err error) bool {
	var failed *FailedError
	return errors.As(err, &failed)
}

// Config describes what the chart will create and what it relies on. ConfigFromManifest builds
// it from the rendered chart.
type Config struct {
	// Namespace is the release namespace.
	Namespace string
	// CreateNamespace reports that the installer creates Namespace when it is missing.
	CreateNamespace bool
	// Kinds lists every API kind the chart renders, each of which the cluster must serve.
	Kinds []schema.GroupVersionKind
	// NodeClassRef is the NodePool's node class, or nil when the chart renders no NodePool.
	NodeClassRef *NodeClassRef
	// WorkloadIdentity is set when the consumer or KEDA authenticates with Azure workload
	// identity, and nil otherwise.
	WorkloadIdentity *WorkloadIdentity
	// ResourceGroup, ClusterName and OIDCIssuerURL, when known (from the deployment outputs),
	// fill in the az commands that the fixes show.
	ResourceGroup string
	ClusterName   string
	OIDCIssuerURL string
	// FederatedCredentials, when set with ResourceGroup, checks in Azure that the identity has
	// a federated credential for the consumer's and the KEDA operator's ServiceAccounts.
	FederatedCredentials FederatedCredentialSource
}

// NodeClassRef is the node class that a NodePool's spec.template.spec.nodeClassRef names.
type NodeClassRef struct {
	Group string
	Kind  string
	Name  string
	// Rendered reports that the chart itself creates this node class.
	Rendered bool
}

// WorkloadIdentity is the workload identity wiring the chart renders.
type WorkloadIdentity struct {
	// ServiceAccountNamespace and ServiceAccountName are the consumer pods' ServiceAccount.
	ServiceAccountNamespace string
	ServiceAccountName      string
	// ClientID is the ServiceAccount's azure.workload.identity/client-id annotation.
	ClientID string
	// KEDAOperator reports that a TriggerAuthentication uses podIdentity provider
	// azure-workload, so KEDA's operator requests tokens for the identity itself.
	KEDAOperator bool
	// KEDAIdentityID is that TriggerAuthentication's podIdentity.identityId, if any.
	KEDAIdentityID string

	// ExpectedSubject is the federated credential subject recorded by the infrastructure
	// deployment (from its outputs file), or empty when unknown.
	ExpectedSubject string
	// ExpectedClientID is the identity's client id from the deployment outputs, or empty.
	ExpectedClientID string
}

// Subject returns the federated credential subject of the consumer's ServiceAccount.
func (w WorkloadIdentity) Subject() string {
	return ServiceAccountSubject(w.ServiceAccountNamespace, w.ServiceAccountName)
}

// ServiceAccountSubject returns the token subject Kubernetes issues for a ServiceAccount, which
// is the subject a federated identity credential must match.
func ServiceAccountSubject(namespace, name string) string {
	return "system:serviceaccount:" + namespace + ":" + name
}

// Run runs every check against the cluster at restConfig and returns the report. It returns an
// error only when the clients cannot be built; check failures are in the report.
func Run(ctx context.Context, restConfig *rest.Config, config Config) (Report, error) {
	clients, err := newClients(restConfig)
	if err != nil {
		return Report{}, err
	}

	var report Report
	add := func(results ...Result) { report.Results = append(report.Results, results...) }

	reachable := checkReachable(ctx, clients)
	add(reachable)
	if reachable.Status == Fail {
		add(Result{Check: "other checks", Status: Skip, Message: "not run because the API server is unreachable"})
		return report, nil
	}

	add(checkKinds(ctx, clients, config)...)
	if config.NodeClassRef != nil {
		add(checkNodeClass(ctx, clients, config)...)
	}
	add(checkPodSecurity(ctx, clients, config))
	if config.WorkloadIdentity != nil {
		add(checkWorkloadIdentity(ctx, clients, config)...)
	}
	return report, nil
}
