package scenario

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
)

// Target is a cluster that the scenario runs on, with everything the scenario cannot find out
// from the cluster itself.
type Target struct {
	// Name identifies the cluster kind in logs and in the names of test resources: sim, kind or
	// aks.
	Name string

	// Kubeconfig is the kubeconfig file of the cluster, and KubeContext the context in it
	// (empty means the file's current context).
	Kubeconfig  string
	KubeContext string

	// Storage is how this test process reaches the queue and the table, to create them,
	// produce messages and count rows.
	Storage Storage

	// Queue and Table name existing resources for the scenario to use instead of creating its
	// own: on AKS the infrastructure creates them and scopes the workload identity's roles to
	// them. The scenario then neither creates nor deletes them, and requires the queue to be
	// empty at the start. Empty means a new queue, poison queue and table per run.
	Queue string
	Table string

	// Namespace is the release namespace. Empty means a new namespace per run; on AKS it must
	// be the namespace of the workload identity's federated credential subject. Either way
	// the scenario creates it, labelled to enforce Pod Security restricted, and deletes it at
	// the end, so it must not exist yet.
	Namespace string

	// PodConnectionString is the connection string that the consumer pods and KEDA use, as seen
	// from inside the cluster. The scenario stores it in a Secret of its own and sets
	// auth.connectionString.existingSecret. Leave it empty for workload identity, where Values
	// carry auth.mode and the identity's client ID. It is a secret and is never logged.
	PodConnectionString string

	// ValuesFiles are the chart values files for this cluster (for example
	// charts/aks-edw/ci/sim-kwok-values.yaml), and Values are values over them (image, storage
	// account, identity). The scenario sets the queue, table, scaling and auth values over both.
	ValuesFiles []string
	Values      map[string]any

	// ChartPath is the chart directory; empty means charts/aks-edw found from the working
	// directory upwards.
	ChartPath string

	// Nodes reports that Karpenter provides nodes for the consumer pods (the chart's NodePool is
	// on), so the scenario expects NodeClaims and nodes to come and go with the pods.
	Nodes bool

	// PodStartup is how long this cluster may take from a consumer pod's creation until the
	// pod runs and its consumer reads the queue, including a new node when Nodes is true. It is
	// a property of the cluster (VM boot on AKS, image pull on kind), not of the chart, so the
	// target states it.
	PodStartup time.Duration

	// NodeTeardown is how long this cluster may take to delete an empty node once Karpenter
	// has decided to remove it. Zero means PodStartup.
	NodeTeardown time.Duration

	// Consumers describes what backs the consumer pods with running processes, for the log,
	// for example "the simulated cluster's pod runner (one host process per Running pod)".
	Consumers string

	// ConsumerLogs, when set, returns the consumer logs of the pods in namespace, printed when
	// the scenario fails.
	ConsumerLogs func(ctx context.Context, namespace string) string
}

// Storage locates the storage account for the test process: a connection string, or an account
// name with an Azure credential.
type Storage struct {
	// ConnectionString is a secret and is never logged.
	ConnectionString string
	AccountName      string
	// EndpointSuffix defaults to core.windows.net.
	EndpointSuffix string
	// Credential authenticates with AccountName; nil means azidentity's
	// DefaultAzureCredential, for example an az login.
	Credential azcore.TokenCredential
}

// validate reports the first missing field, naming it and the fix.
func (t Target) validate() error {
	switch {
	case t.Name == "":
		return errors.New("scenario target has no Name: set it to sim, kind or aks")
	case t.Kubeconfig == "":
		return fmt.Errorf("scenario target %s has no Kubeconfig: set it to the cluster's kubeconfig file", t.Name)
	case t.Storage.ConnectionString == "" && t.Storage.AccountName == "":
		return fmt.Errorf("scenario target %s has no Storage: set a connection string or an account name", t.Name)
	case (t.Queue == "") != (t.Table == ""):
		return fmt.Errorf("scenario target %s sets only one of Queue (%q) and Table (%q): set both to use existing resources, or neither", t.Name, t.Queue, t.Table)
	case t.PodStartup <= 0:
		return fmt.Errorf("scenario target %s has PodStartup %s: set how long the cluster may take to start a consumer pod, for example 2m", t.Name, t.PodStartup)
	}
	return nil
}
