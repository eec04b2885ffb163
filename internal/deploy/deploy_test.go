package deploy_test

// This file tests Deploy and Destroy end to end against a fake az process on PATH that
// records every command line. It checks the commands built, the order of the steps, the
// saved outputs and the progress lines, and that a failure stops the run at its step.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/aks-edw/aks-edw/internal/azcli"
	"github.com/aks-edw/aks-edw/internal/azcli/azclitest"
	"github.com/aks-edw/aks-edw/internal/deploy"
)

func TestMain(m *testing.M) {
	azclitest.RunIfFake()
	os.Exit(m.Run())
}

const subscriptionID = "00000000-0000-0000-0000-000000000001"

// deploymentOutputs returns outputs that satisfy the contract, for resource group rg.
func deploymentOutputs(rg string) map[string]map[string]string {
	values := map[string]string{
		"storageAccountName":       "stedwabc",
		"queueName":                "edw-messages",
		"poisonQueueName":          "edw-messages-poison",
		"tableName":                "edwrows",
		"storageEndpointSuffix":    "core.windows.net",
		"registryName":             "credwabc",
		"registryLoginServer":      "credwabc.azurecr.io",
		"clusterName":              "aks-edw-abc",
		"resourceGroupName":        rg,
		"oidcIssuerUrl":            "https://westeurope.oic.prod-aks.azure.com/tenant/issuer/",
		"workloadIdentityClientId": "11111111-1111-1111-1111-111111111111",
		"tenantId":                 "22222222-2222-2222-2222-222222222222",
		"serviceAccountNamespace":  "aks-edw",
		"serviceAccountName":       "aks-edw-consumer",
	}
	outputs := map[string]map[string]string{}
	for name, value := range values {
		outputs[name] = map[string]string{"type": "String", "value": value}
	}
	return outputs
}

func jsonString(t *testing.T, value any) string {
	t.Helper()
	encoded, err := json.Marshal(value)
	require.NoError(t, err)
	return string(encoded)
}

// azureRules returns responses for every command of a successful deployment into a new
// resource group. Rules given first win, so a test overrides one response by passing it in
// front.
func azureRules(t *testing.T, rg string, overrides ...azclitest.Rule) []azclitest.Rule {
	providers := []map[string]string{}
	for _, namespace := range deploy.RequiredProviders {
		providers = append(providers, map[string]string{"namespace": namespace, "registrationState": "Registered"})
	}
	base := []azclitest.Rule{
		{Args: []string{"version"}, Stdout: `{"azure-cli": "2.77.0"}`},
		{Args: []string{"account", "show"}, Stdout: `{"id": "` + subscriptionID + `", "name": "dev", "tenantId": "22222222-2222-2222-2222-222222222222", "user": {"name": "someone@example.com", "type": "user"}}`},
		{Args: []string{"provider", "list"}, Stdout: jsonString(t, providers)},
		{Args: []string{"group", "exists"}, Stdout: "false"},
		{Args: []string{"group", "create"}, Stdout: `{"name": "` + rg + `", "location": "westeurope"}`},
		{Args: []string{"account", "get-access-token"}, Stdout: fakeToken(`{"oid": "33333333-3333-3333-3333-333333333333", "idtyp": "user"}`)},
		{Args: []string{"deployment", "group", "what-if"}, Stdout: "Resource changes: 12 to create.\n"},
		{Args: []string{"deployment", "group", "create"}, Stdout: jsonString(t, deploymentOutputs(rg))},
		{Args: []string{"acr", "build"}, Stdout: "Successfully pushed image\n"},
		{Args: []string{"aks", "get-credentials"}},
	}
	return append(overrides, base...)
}

// fakeInstaller records the requests Deploy sends to the chart installer.
type fakeInstaller struct {
	requests []deploy.InstallRequest
	err      error
}

func (f *fakeInstaller) Install(_ context.Context, req deploy.InstallRequest) error {
	f.requests = append(f.requests, req)
	return f.err
}

// repoFixture writes the files Deploy checks for into a temporary repository root.
func repoFixture(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	for _, path := range []string{deploy.DefaultTemplateFile, deploy.ConsumerDockerfile, deploy.ProducerDockerfile,
		"go.mod", "go.sum", "internal/config/config.go", "src/consumer/main.go", ".work/sim/kube-apiserver"} {
		full := filepath.Join(root, filepath.FromSlash(path))
		require.NoError(t, os.MkdirAll(filepath.Dir(full), 0o755))
		require.NoError(t, os.WriteFile(full, []byte("# fixture\n"), 0o644))
	}
	return root
}

// steppedClock returns a clock that moves one second per reading.
func steppedClock() func() time.Time {
	now := time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC)
	return func() time.Time {
		now = now.Add(time.Second)
		return now
	}
}

func baseConfig(root, rg string) deploy.Config {
	return deploy.Config{
		ResourceGroup:  rg,
		Location:       "westeurope",
		BaseName:       "edw",
		RepoRoot:       root,
		OperatorAccess: true,
		ImageTag:       "20260102150405",
	}
}

func TestDeployRunsEveryStepInOrder(t *testing.T) {
	rg := "rg-deploy-happy"
	fake := azclitest.Install(t, azureRules(t, rg)...)
	root := repoFixture(t)
	installer := &fakeInstaller{}
	var progress bytes.Buffer
	deployer := deploy.New(azcli.New(), deploy.WithOutput(&progress), deploy.WithInstaller(installer), deploy.WithClock(steppedClock()))

	t.Log("Deploying into a resource group that does not exist yet")
	result, err := deployer.Deploy(context.Background(), baseConfig(root, rg))
	require.NoError(t, err, progress.String())

	t.Log("Checking the az commands and their order")
	assert.Equal(t, []string{
		"version", "account show", "provider list", "group exists",
		"group exists", "group create",
		"account get-access-token",
		"deployment group create",
		"acr build",
		"aks get-credentials",
	}, fake.Commands(t))

	create, ok := fake.Find(t, "deployment", "group", "create")
	require.True(t, ok)
	assert.Equal(t, []string{
		"deployment", "group", "create",
		"--resource-group", rg, "--name", "aks-edw", "--template-file", filepath.Join(root, "bicep", "main.bicep"),
		"--parameters", "baseName=edw", "location=westeurope",
		"operatorPrincipalId=33333333-3333-3333-3333-333333333333", "operatorPrincipalType=User",
		"--query", "properties.outputs", "--output", "json",
	}, create)

	build, ok := fake.Find(t, "acr", "build")
	require.True(t, ok)
	contextDir := build[len(build)-1]
	assert.Equal(t, []string{"acr", "build", "--registry", "credwabc", "--image", "aks-edw/consumer:20260102150405",
		"--file", filepath.Join(contextDir, "src", "consumer", "Dockerfile"), contextDir}, build)
	assert.NotEqual(t, root, contextDir, "the build uploads a staged context, not the checkout")
	assert.NoDirExists(t, contextDir, "the staged context is removed after the build")

	credentials, ok := fake.Find(t, "aks", "get-credentials")
	require.True(t, ok)
	assert.Equal(t, []string{"aks", "get-credentials", "--resource-group", rg, "--name", "aks-edw-abc", "--overwrite-existing"}, credentials)

	t.Log("Checking the saved outputs file against what az printed")
	saved, err := os.ReadFile(filepath.Join(root, ".work", "deployment-outputs.json"))
	require.NoError(t, err)
	assert.JSONEq(t, jsonString(t, deploymentOutputs(rg)), string(saved))
	loaded, err := deploy.LoadOutputs(filepath.Join(root, ".work", "deployment-outputs.json"))
	require.NoError(t, err)
	assert.Equal(t, "aks-edw-abc", loaded.Strings()["clusterName"])

	t.Log("Checking what the installer received")
	require.Len(t, installer.requests, 1)
	request := installer.requests[0]
	assert.Equal(t, "credwabc.azurecr.io/aks-edw/consumer:20260102150405", request.ConsumerImage)
	assert.Equal(t, "aks-edw-abc", request.KubeContext)
	assert.Equal(t, filepath.Join(root, ".work", "deployment-outputs.json"), request.OutputsPath)
	assert.Equal(t, "11111111-1111-1111-1111-111111111111", request.Outputs.Strings()["workloadIdentityClientId"])
	assert.Empty(t, request.ProducerImage)

	assert.Equal(t, "credwabc.azurecr.io/aks-edw/consumer:20260102150405", result.ConsumerImage)

	t.Log("Checking that every step printed a timestamped start and end line")
	out := progress.String()
	for _, name := range []string{"preflight", "resource group " + rg, "template parameters", "deployment aks-edw",
		"image build in Azure Container Registry", "cluster credentials", "chart install"} {
		assert.Regexp(t, regexp.MustCompile(`(?m)^\d\d:\d\d:\d\d \[\d/7\] `+regexp.QuoteMeta(name)+` \.\.\.$`), out)
		assert.Regexp(t, regexp.MustCompile(`(?m)^\d\d:\d\d:\d\d \[\d/7\] `+regexp.QuoteMeta(name)+` done in 1s$`), out)
	}
	assert.Contains(t, out, "ok    subscription: dev ("+subscriptionID+")")
}

func TestDeployWithWhatIfAsksFirst(t *testing.T) {
	tests := []struct {
		name       string
		answer     string
		yes        bool
		wantCreate bool
		wantErr    string
	}{
		{name: "accepted", answer: "y\n", wantCreate: true},
		{name: "declined", answer: "n\n", wantErr: "deployment cancelled: nothing was changed"},
		{name: "empty answer", answer: "\n", wantErr: "deployment cancelled"},
		{name: "assume yes", yes: true, wantCreate: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rg := "rg-whatif-" + strings.ReplaceAll(tt.name, " ", "-")
			fake := azclitest.Install(t, azureRules(t, rg)...)
			root := repoFixture(t)
			var progress bytes.Buffer
			deployer := deploy.New(azcli.New(), deploy.WithOutput(&progress), deploy.WithInput(strings.NewReader(tt.answer), true))

			cfg := baseConfig(root, rg)
			cfg.WhatIf, cfg.AssumeYes, cfg.SkipInstall, cfg.SkipImage = true, tt.yes, true, true
			_, err := deployer.Deploy(context.Background(), cfg)

			_, created := fake.Find(t, "deployment", "group", "create")
			assert.Equal(t, tt.wantCreate, created)
			_, whatIf := fake.Find(t, "deployment", "group", "what-if")
			assert.True(t, whatIf)
			assert.Contains(t, progress.String(), "Resource changes: 12 to create.")
			if tt.wantErr == "" {
				require.NoError(t, err, progress.String())
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
			assert.True(t, errors.Is(err, deploy.ErrCancelled))
		})
	}
}

func TestDeployWhatIfWithoutTerminalNeedsYes(t *testing.T) {
	rg := "rg-whatif-no-tty"
	fake := azclitest.Install(t, azureRules(t, rg)...)
	var progress bytes.Buffer
	deployer := deploy.New(azcli.New(), deploy.WithOutput(&progress), deploy.WithInput(strings.NewReader(""), false))

	cfg := baseConfig(repoFixture(t), rg)
	cfg.WhatIf, cfg.SkipInstall, cfg.SkipImage = true, true, true
	_, err := deployer.Deploy(context.Background(), cfg)

	require.Error(t, err)
	assert.Contains(t, err.Error(), "pass --yes")
	_, created := fake.Find(t, "deployment", "group", "create")
	assert.False(t, created)
}

func TestPreflightReportsEveryMissingPiece(t *testing.T) {
	rg := "rg-preflight"
	azclitest.Install(t, azureRules(t, rg,
		azclitest.Rule{Args: []string{"provider", "list"}, Stdout: `[
			{"namespace": "Microsoft.ContainerService", "registrationState": "Registered"},
			{"namespace": "Microsoft.ContainerRegistry", "registrationState": "Registered"},
			{"namespace": "Microsoft.Storage", "registrationState": "NotRegistered"},
			{"namespace": "Microsoft.ManagedIdentity", "registrationState": "Registering"}]`},
		azclitest.Rule{Args: []string{"feature", "show"}, Stdout: `{"properties": {"state": "NotRegistered"}}`},
	)...)
	root := repoFixture(t)
	require.NoError(t, os.Remove(filepath.Join(root, "src", "consumer", "Dockerfile")))
	deployer := deploy.New(azcli.New(), deploy.WithRequiredFeatures(deploy.Feature{Namespace: "Microsoft.ContainerService", Name: "SomePreview"}))

	cfg := baseConfig(root, rg)
	cfg.Location = ""
	report := deployer.Preflight(context.Background(), cfg)

	var failed []string
	for _, finding := range report.Findings {
		if !finding.OK {
			failed = append(failed, finding.String())
		}
	}
	assert.Equal(t, []string{
		"FAIL  consumer Dockerfile: " + filepath.Join(root, "src", "consumer", "Dockerfile") + " not found; fix: run edwctl from the repository root, or pass --repo-root with the path of the aks-edw checkout",
		"FAIL  chart installer: not linked into this build; fix: pass --skip-install, then run `edwctl install --outputs " + filepath.Join(root, ".work", "deployment-outputs.json") + "` after the deployment",
		"FAIL  provider Microsoft.Storage: NotRegistered; fix: az provider register --namespace Microsoft.Storage --wait",
		"FAIL  provider Microsoft.ManagedIdentity: Registering; fix: az provider register --namespace Microsoft.ManagedIdentity --wait",
		"FAIL  provider Microsoft.OperationalInsights: not listed; fix: az provider register --namespace Microsoft.OperationalInsights --wait",
		"FAIL  feature Microsoft.ContainerService/SomePreview: NotRegistered; fix: az feature register --namespace Microsoft.ContainerService --name SomePreview, wait until az feature show reports Registered, then az provider register --namespace Microsoft.ContainerService",
		"FAIL  resource group rg-preflight: does not exist, and no region was given to create it in; fix: pass --location with an Azure region that offers AKS, such as --location westeurope (az account list-locations -o table lists them)",
	}, failed)
	assert.Equal(t, 7, report.Failed())
}

func TestPreflightStopsWhenAzCannotRun(t *testing.T) {
	tests := []struct {
		name    string
		rules   []azclitest.Rule
		noAz    bool
		wantFix string
	}{
		{name: "az missing", noAz: true, wantFix: "install the Azure CLI"},
		{name: "not logged in", rules: []azclitest.Rule{
			{Args: []string{"version"}, Stdout: `{"azure-cli": "2.77.0"}`},
			{Args: []string{"account", "show"}, Stderr: "ERROR: Please run 'az login' to setup account.\n", ExitCode: 1},
		}, wantFix: "az login, then az account set --subscription"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.noAz {
				t.Setenv("PATH", t.TempDir())
			} else {
				azclitest.Install(t, tt.rules...)
			}
			var progress bytes.Buffer
			deployer := deploy.New(azcli.New(), deploy.WithOutput(&progress), deploy.WithInstaller(&fakeInstaller{}))

			_, err := deployer.Deploy(context.Background(), baseConfig(repoFixture(t), "rg-no-az"))

			require.Error(t, err)
			assert.Regexp(t, `^preflight: 1 of \d preflight checks failed; run the fix commands above`, err.Error())
			assert.Contains(t, progress.String(), tt.wantFix)
			assert.NotContains(t, progress.String(), "provider", "checks that need a working az are left out")
		})
	}
}

func TestDeployStopsAtFirstFailure(t *testing.T) {
	tests := []struct {
		name         string
		override     azclitest.Rule
		wantErr      string
		wantLastCall string
	}{
		{
			name:         "deployment fails",
			override:     azclitest.Rule{Args: []string{"deployment", "group", "create"}, Stderr: "ERROR: (InvalidTemplateDeployment) The template deployment 'aks-edw' is not valid.\n", ExitCode: 1},
			wantErr:      "deployment aks-edw: az deployment group create failed with exit status 1: ERROR: (InvalidTemplateDeployment)",
			wantLastCall: "deployment group create",
		},
		{
			name:         "outputs missing",
			override:     azclitest.Rule{Args: []string{"deployment", "group", "create"}, Stdout: `{"clusterName": {"type": "String", "value": "aks-edw-abc"}}`},
			wantErr:      "deployment outputs storageAccountName, queueName",
			wantLastCall: "deployment group create",
		},
		{
			name:         "image build fails",
			override:     azclitest.Rule{Args: []string{"acr", "build"}, Stderr: "ERROR: The registry credwabc was not found.\n", ExitCode: 1},
			wantErr:      "image build in Azure Container Registry: az acr build failed",
			wantLastCall: "acr build",
		},
		{
			name:         "object id lookup fails",
			override:     azclitest.Rule{Args: []string{"account", "get-access-token"}, Stderr: "ERROR: AADSTS700082: The refresh token has expired.\n", ExitCode: 1},
			wantErr:      "pass --operator-access=false",
			wantLastCall: "account get-access-token",
		},
		{
			name:         "credentials fail",
			override:     azclitest.Rule{Args: []string{"aks", "get-credentials"}, Stderr: "ERROR: (ResourceNotFound) The Resource 'Microsoft.ContainerService/managedClusters/aks-edw-abc' was not found.\n", ExitCode: 1},
			wantErr:      "cluster credentials: az aks get-credentials failed",
			wantLastCall: "aks get-credentials",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rg := "rg-fail-" + strings.ReplaceAll(tt.name, " ", "-")
			fake := azclitest.Install(t, azureRules(t, rg, tt.override)...)
			installer := &fakeInstaller{}
			var progress bytes.Buffer
			deployer := deploy.New(azcli.New(), deploy.WithOutput(&progress), deploy.WithInstaller(installer))

			_, err := deployer.Deploy(context.Background(), baseConfig(repoFixture(t), rg))

			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
			commands := fake.Commands(t)
			assert.Equal(t, tt.wantLastCall, commands[len(commands)-1], "no az command may run after the failed step")
			assert.Empty(t, installer.requests)
			assert.Regexp(t, `(?m)^\d\d:\d\d:\d\d \[\d/7\] .* FAILED after `, progress.String())
		})
	}
}

func TestDeployReportsInstallerFailure(t *testing.T) {
	rg := "rg-install-fails"
	azclitest.Install(t, azureRules(t, rg)...)
	installer := &fakeInstaller{err: errors.New("keda-operator pod has no AZURE_FEDERATED_TOKEN_FILE")}
	deployer := deploy.New(azcli.New(), deploy.WithOutput(&bytes.Buffer{}), deploy.WithInstaller(installer))

	_, err := deployer.Deploy(context.Background(), baseConfig(repoFixture(t), rg))

	require.Error(t, err)
	assert.Equal(t, "chart install: keda-operator pod has no AZURE_FEDERATED_TOKEN_FILE", err.Error())
}

func TestDeployAsServicePrincipalWithProducerAndParameters(t *testing.T) {
	rg := "rg-sp"
	fake := azclitest.Install(t, azureRules(t, rg,
		azclitest.Rule{Args: []string{"account", "show"}, Stdout: `{"id": "` + subscriptionID + `", "name": "ci", "tenantId": "t", "user": {"name": "44444444-4444-4444-4444-444444444444", "type": "servicePrincipal"}}`},
		azclitest.Rule{Args: []string{"group", "exists"}, Stdout: "true"},
		azclitest.Rule{Args: []string{"group", "show"}, Stdout: `{"name": "rg-sp", "location": "northeurope"}`},
		azclitest.Rule{Args: []string{"account", "get-access-token"}, Stdout: fakeToken(`{"oid": "55555555-5555-5555-5555-555555555555"}`)},
	)...)
	root := repoFixture(t)
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")

	cfg := baseConfig(root, rg)
	cfg.Location = ""
	cfg.BuildProducer = true
	cfg.SkipInstall = true
	cfg.Kubeconfig = kubeconfig
	cfg.Parameters = map[string]string{"enableContainerInsights": "true", "baseName": "override"}
	var progress bytes.Buffer
	result, err := deploy.New(azcli.New(), deploy.WithOutput(&progress)).Deploy(context.Background(), cfg)
	require.Error(t, err, "Microsoft.Insights is not registered in the fake, so preflight fails")
	assert.Contains(t, progress.String(), "az provider register --namespace Microsoft.Insights --wait")
	assert.Nil(t, result)

	t.Log("Registering Microsoft.Insights and deploying again")
	fake = azclitest.Install(t, azureRules(t, rg,
		azclitest.Rule{Args: []string{"account", "show"}, Stdout: `{"id": "` + subscriptionID + `", "name": "ci", "tenantId": "t", "user": {"name": "44444444-4444-4444-4444-444444444444", "type": "servicePrincipal"}}`},
		azclitest.Rule{Args: []string{"provider", "list"}, Stdout: jsonString(t, append(registered(), map[string]string{"namespace": "Microsoft.Insights", "registrationState": "Registered"}))},
		azclitest.Rule{Args: []string{"group", "exists"}, Stdout: "true"},
		azclitest.Rule{Args: []string{"group", "show"}, Stdout: `{"name": "rg-sp", "location": "northeurope"}`},
		azclitest.Rule{Args: []string{"account", "get-access-token"}, Stdout: fakeToken(`{"oid": "55555555-5555-5555-5555-555555555555"}`)},
	)...)
	result, err = deploy.New(azcli.New(), deploy.WithOutput(&progress)).Deploy(context.Background(), cfg)
	require.NoError(t, err, progress.String())

	create, _ := fake.Find(t, "deployment", "group", "create")
	assert.Equal(t, []string{"baseName=override", "enableContainerInsights=true",
		"operatorPrincipalId=55555555-5555-5555-5555-555555555555", "operatorPrincipalType=ServicePrincipal"},
		between(create, "--parameters", "--query"), "caller parameters override baseName, and no location is passed for an existing group")
	assert.NotContains(t, fake.Commands(t), "group create")

	builds := 0
	for _, args := range fake.Calls(t) {
		if slices.Equal(args[:2], []string{"acr", "build"}) {
			builds++
		}
	}
	assert.Equal(t, 2, builds)
	assert.Equal(t, "credwabc.azurecr.io/aks-edw/producer:20260102150405", result.ProducerImage)

	credentials, _ := fake.Find(t, "aks", "get-credentials")
	assert.Equal(t, kubeconfig, credentials[len(credentials)-1])
	assert.Contains(t, progress.String(), "next: edwctl install --outputs")
}

func TestConfigValidation(t *testing.T) {
	tests := []struct {
		name    string
		change  func(*deploy.Config)
		wantErr string
	}{
		{"empty resource group", func(c *deploy.Config) { c.ResourceGroup = "" }, "--resource-group is empty"},
		{"base name with upper case", func(c *deploy.Config) { c.BaseName = "Edw" }, `--base-name "Edw" is invalid`},
		{"base name too long", func(c *deploy.Config) { c.BaseName = "edwedwedw" }, `--base-name "edwedwedw" is invalid`},
		{"base name with hyphen", func(c *deploy.Config) { c.BaseName = "e-w" }, `--base-name "e-w" is invalid`},
		{"empty image tag", func(c *deploy.Config) { c.ImageTag = "" }, "--image-tag is empty"},
		{"parameter name with equals", func(c *deploy.Config) { c.Parameters = map[string]string{"a=b": "c"} }, `--parameter name "a=b" is invalid`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := azclitest.Install(t)
			cfg := baseConfig(t.TempDir(), "rg-validation")
			tt.change(&cfg)

			require.ErrorContains(t, cfg.Validate(), tt.wantErr)
			_, err := deploy.New(azcli.New(), deploy.WithOutput(&bytes.Buffer{})).Deploy(context.Background(), cfg)
			require.ErrorContains(t, err, tt.wantErr)
			assert.Empty(t, fake.Calls(t), "invalid configuration must stop the run before az runs")
		})
	}
}

func TestDestroy(t *testing.T) {
	resources := `[{"name": "aks-edw-abc", "type": "Microsoft.ContainerService/managedClusters"}, {"name": "stedwabc", "type": "Microsoft.Storage/storageAccounts"}]`
	tests := []struct {
		name        string
		exists      string
		answer      string
		interactive bool
		yes         bool
		wait        bool
		wantDelete  []string
		wantErr     string
		wantOutput  string
	}{
		{name: "typed name", exists: "true", answer: "rg-destroy\n", interactive: true, wait: true,
			wantDelete: []string{"group", "delete", "--name", "rg-destroy", "--yes"}, wantOutput: "aks-edw-abc (Microsoft.ContainerService/managedClusters)"},
		{name: "yes without waiting", exists: "true", yes: true,
			wantDelete: []string{"group", "delete", "--name", "rg-destroy", "--yes", "--no-wait"}, wantOutput: "deletion accepted"},
		{name: "wrong name typed", exists: "true", answer: "rg-other\n", interactive: true,
			wantErr: "deletion cancelled: the name typed does not match rg-destroy"},
		{name: "no terminal", exists: "true", wantErr: "pass --yes"},
		{name: "group missing", exists: "false", yes: true, wantOutput: "nothing to delete"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := azclitest.Install(t, azureRules(t, "rg-destroy",
				azclitest.Rule{Args: []string{"group", "exists"}, Stdout: tt.exists},
				azclitest.Rule{Args: []string{"resource", "list"}, Stdout: resources},
				azclitest.Rule{Args: []string{"group", "delete"}},
			)...)
			outputsPath := filepath.Join(t.TempDir(), "deployment-outputs.json")
			require.NoError(t, os.WriteFile(outputsPath, []byte(jsonString(t, deploymentOutputs("rg-destroy"))), 0o644))
			var progress bytes.Buffer
			deployer := deploy.New(azcli.New(), deploy.WithOutput(&progress), deploy.WithInput(strings.NewReader(tt.answer), tt.interactive))

			err := deployer.Destroy(context.Background(), deploy.DestroyConfig{
				ResourceGroup: "rg-destroy", AssumeYes: tt.yes, Wait: tt.wait, OutputsPath: outputsPath,
			})

			deleteCall, deleted := fake.Find(t, "group", "delete")
			_, statErr := os.Stat(outputsPath)
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				assert.False(t, deleted, "nothing may be deleted without confirmation")
				assert.NoError(t, statErr, "the outputs file stays when nothing was deleted")
				return
			}
			require.NoError(t, err, progress.String())
			assert.Contains(t, progress.String(), tt.wantOutput)
			if tt.wantDelete == nil {
				assert.False(t, deleted)
				return
			}
			assert.Equal(t, tt.wantDelete, deleteCall)
			assert.True(t, os.IsNotExist(statErr), "the outputs file of the deleted group is removed")
		})
	}
}

func TestDestroyKeepsOutputsOfAnotherGroup(t *testing.T) {
	azclitest.Install(t, azureRules(t, "rg-destroy",
		azclitest.Rule{Args: []string{"group", "exists"}, Stdout: "true"},
		azclitest.Rule{Args: []string{"resource", "list"}, Stdout: "[]"},
		azclitest.Rule{Args: []string{"group", "delete"}},
	)...)
	outputsPath := filepath.Join(t.TempDir(), "deployment-outputs.json")
	require.NoError(t, os.WriteFile(outputsPath, []byte(jsonString(t, deploymentOutputs("rg-still-there"))), 0o644))

	err := deploy.New(azcli.New(), deploy.WithOutput(&bytes.Buffer{})).Destroy(context.Background(),
		deploy.DestroyConfig{ResourceGroup: "rg-destroy", AssumeYes: true, OutputsPath: outputsPath})

	require.NoError(t, err)
	assert.FileExists(t, outputsPath)
}

func TestLoadOutputsNamesWhatIsMissing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outputs.json")
	outputs := deploymentOutputs("rg")
	delete(outputs, "oidcIssuerUrl")
	outputs["tenantId"] = map[string]string{"type": "Int", "value": "7"}
	require.NoError(t, os.WriteFile(path, []byte(jsonString(t, outputs)), 0o644))

	_, err := deploy.LoadOutputs(path)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "deployment outputs oidcIssuerUrl, tenantId are missing, empty or not strings")

	_, err = deploy.LoadOutputs(filepath.Join(t.TempDir(), "absent.json"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "run `edwctl deploy` first")
}

// fakeToken returns a JWT-shaped string with the given claims and a dummy signature.
func fakeToken(claims string) string {
	encode := base64.RawURLEncoding.EncodeToString
	return encode([]byte(`{"alg":"RS256","typ":"JWT"}`)) + "." + encode([]byte(claims)) + ".c2lnbmF0dXJl"
}

func registered() []map[string]string {
	var providers []map[string]string
	for _, namespace := range deploy.RequiredProviders {
		providers = append(providers, map[string]string{"namespace": namespace, "registrationState": "Registered"})
	}
	return providers
}

// between returns the arguments after the first start and before the first end.
func between(args []string, start, end string) []string {
	from := slices.Index(args, start)
	to := slices.Index(args, end)
	if from < 0 || to < from {
		return nil
	}
	return args[from+1 : to]
}

func TestStageBuildContextCopiesOnlyWhatDockerfilesNeed(t *testing.T) {
	root := repoFixture(t)

	dir, cleanup, err := deploy.StageBuildContext(root)
	require.NoError(t, err)

	for _, path := range []string{"go.mod", "go.sum", "internal/config/config.go", "src/consumer/main.go", "src/consumer/Dockerfile"} {
		assert.FileExists(t, filepath.Join(dir, filepath.FromSlash(path)))
	}
	assert.NoDirExists(t, filepath.Join(dir, ".work"))
	assert.NoDirExists(t, filepath.Join(dir, "bicep"))

	cleanup()
	assert.NoDirExists(t, dir)
}

func TestStageBuildContextNamesMissingPath(t *testing.T) {
	root := repoFixture(t)
	require.NoError(t, os.Remove(filepath.Join(root, "go.sum")))

	_, _, err := deploy.StageBuildContext(root)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "copy go.sum into the image build context")
}
