//go:build e2eaks

// This file runs the scaling scenario on AKS. It deploys bicep/main.bicep into a new resource
// group with names unique to the run: node autoprovisioning, the KEDA add-on, workload
// identity, and a registry that builds the consumer image. Then it installs the chart with
// workload identity and checks that pods and autoprovisioned nodes scale out and back in. A
// deferred cleanup deletes the resource group, also when the test fails.
//
// The check that an install without the KEDA CRDs fails runs on the sim and kind only: every
// cluster the Bicep templates create has the KEDA add-on and node autoprovisioning.
//
// It needs the Azure CLI logged in (az login) to a subscription where the signed-in principal
// may create resource groups and role assignments, and EDW_E2E_LOCATION set to an Azure region.
// The signed-in principal gets the operator data roles (send to the queue, read the queue, the
// poison queue and the table) that the test uses to produce and count. NOTE: it was never run
// where it was written (no Azure access there); it is compiled with
// `go vet -tags e2eaks ./test/e2e/...` in CI. Run it with `make e2e-aks`; a run creates an AKS
// cluster and VMs, which cost money until the cleanup has deleted them.
package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gruntwork-io/terratest/modules/random"
	"github.com/stretchr/testify/require"

	"github.com/aks-edw/aks-edw/internal/azcli"
	"github.com/aks-edw/aks-edw/internal/azurite"
	"github.com/aks-edw/aks-edw/internal/deploy"
	"github.com/aks-edw/aks-edw/internal/installer"
	"github.com/aks-edw/aks-edw/test/e2e/scenario"
)

// locationEnv names the Azure region the test deploys to.
const locationEnv = "EDW_E2E_LOCATION"

// destroyTimeout bounds the deletion of the resource group, which waits for the cluster and
// its VMs to be deleted.
const destroyTimeout = 45 * time.Minute

func TestAKSScaling(t *testing.T) {
	location := os.Getenv(locationEnv)
	require.NotEmpty(t, location, "%s is empty: set it to an Azure region, for example %s=westeurope", locationEnv, locationEnv)
	repoRoot, err := azurite.RepoRoot()
	require.NoError(t, err)

	cli := azcli.New()
	account, err := cli.Account(t.Context())
	require.NoError(t, err, "the AKS test needs the Azure CLI logged in: run az login")
	t.Logf("subscription %s (%s), signed in as %s", account.SubscriptionName, account.SubscriptionID, account.User.Name)

	id := strings.ToLower(random.UniqueId())
	group := "rg-aks-edw-e2e-" + id
	dir := t.TempDir()
	deployer := deploy.New(cli, deploy.WithOutput(testOutput{t}), deploy.WithInput(strings.NewReader(""), false))

	defer func() {
		t.Logf("deleting resource group %s", group)
		ctx, cancel := context.WithTimeout(context.WithoutCancel(t.Context()), destroyTimeout)
		defer cancel()
		err := deployer.Destroy(ctx, deploy.DestroyConfig{ResourceGroup: group, AssumeYes: true, Wait: true})
		if err != nil {
			t.Errorf("delete resource group %s: %v (delete it yourself: az group delete --name %s --yes)", group, err, group)
		}
	}()

	t.Logf("deploying bicep/main.bicep into resource group %s in %s", group, location)
	result, err := deployer.Deploy(t.Context(), deploy.Config{
		ResourceGroup:  group,
		Location:       location,
		BaseName:       "e" + id,
		RepoRoot:       repoRoot,
		OperatorAccess: true,
		AssumeYes:      true,
		ImageTag:       "e2e-" + id,
		OutputsPath:    filepath.Join(dir, "deployment-outputs.json"),
		Kubeconfig:     filepath.Join(dir, "kubeconfig"),
		SkipInstall:    true,
	})
	require.NoError(t, err)

	outputs, err := installer.ReadOutputs(result.OutputsPath)
	require.NoError(t, err)
	values := outputs.Values("aks-edw/consumer")
	repository, tag, found := strings.Cut(result.ConsumerImage[strings.LastIndex(result.ConsumerImage, "/")+1:], ":")
	require.True(t, found, "consumer image %q has no tag", result.ConsumerImage)
	values["image"] = map[string]any{
		"repository": result.ConsumerImage[:strings.LastIndex(result.ConsumerImage, "/")+1] + repository,
		"tag":        tag,
	}

	scenario.Run(t, scenario.Target{
		Name:        "aks",
		Kubeconfig:  filepath.Join(dir, "kubeconfig"),
		KubeContext: result.KubeContext,
		Storage: scenario.Storage{
			AccountName:    outputs.StorageAccountName,
			EndpointSuffix: outputs.StorageEndpointSuffix,
		},
		// The workload identity's roles are scoped to these resources and its federated
		// credential to this namespace and the ServiceAccount in values.
		Queue:       outputs.QueueName,
		Table:       outputs.TableName,
		Namespace:   outputs.ServiceAccountNamespace,
		ValuesFiles: []string{filepath.Join(repoRoot, "charts", "aks-edw", "ci", "aks-workload-identity-values.yaml")},
		Values:      values,
		ChartPath:   filepath.Join(repoRoot, "charts", "aks-edw"),
		Nodes:       true,
		// Node autoprovisioning creates a VM, which boots and joins the cluster before the
		// image is pulled from the registry: several minutes, more in a busy region.
		PodStartup:   10 * time.Minute,
		NodeTeardown: 10 * time.Minute,
		Consumers:    "containers on nodes that AKS node autoprovisioning creates",
		ConsumerLogs: containerLogs(filepath.Join(dir, "kubeconfig"), result.KubeContext),
	}, scenario.DefaultPlan())
}

// testOutput sends the deployer's progress lines to the test log.
type testOutput struct{ t *testing.T }

func (w testOutput) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
