package deploy

// This file tests the deploy, destroy and image commands through their flags: flag
// validation, the az commands they lead to (against a fake az on PATH), and the image
// tarball they write.

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/spf13/cobra"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/aks-edw/aks-edw/internal/azcli/azclitest"
	"github.com/aks-edw/aks-edw/internal/config"
	"github.com/aks-edw/aks-edw/internal/deploy"
)

func TestMain(m *testing.M) {
	azclitest.RunIfFake()
	os.Exit(m.Run())
}

// execute runs command with args and returns stdout, stderr and the error.
func execute(t *testing.T, command *cobra.Command, args ...string) (string, string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	command.SetArgs(args)
	command.SetOut(&stdout)
	command.SetErr(&stderr)
	command.SetIn(strings.NewReader(""))
	command.SilenceUsage = true
	command.SilenceErrors = true
	err := command.ExecuteContext(context.Background())
	return stdout.String(), stderr.String(), err
}

// repoFixture writes the files deploy checks for into a temporary repository root.
func repoFixture(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	for _, path := range []string{deploy.DefaultTemplateFile, deploy.ConsumerDockerfile} {
		full := filepath.Join(root, filepath.FromSlash(path))
		require.NoError(t, os.MkdirAll(filepath.Dir(full), 0o755))
		require.NoError(t, os.WriteFile(full, []byte("# fixture\n"), 0o644))
	}
	return root
}

func outputsJSON(t *testing.T, rg string) string {
	t.Helper()
	outputs := map[string]map[string]string{}
	for _, name := range deploy.OutputNames {
		outputs[name] = map[string]string{"type": "String", "value": "value-of-" + name}
	}
	outputs["resourceGroupName"]["value"] = rg
	outputs["clusterName"]["value"] = "aks-edw-abc"
	encoded, err := json.Marshal(outputs)
	require.NoError(t, err)
	return string(encoded)
}

func providersJSON(t *testing.T) string {
	t.Helper()
	var providers []map[string]string
	for _, namespace := range deploy.RequiredProviders {
		providers = append(providers, map[string]string{"namespace": namespace, "registrationState": "Registered"})
	}
	encoded, err := json.Marshal(providers)
	require.NoError(t, err)
	return string(encoded)
}

func TestDeployCommandRunsToCredentials(t *testing.T) {
	rg := "rg-cmd-deploy"
	fake := azclitest.Install(t,
		azclitest.Rule{Args: []string{"version"}, Stdout: `{"azure-cli": "2.77.0"}`},
		azclitest.Rule{Args: []string{"account", "show"}, Stdout: `{"id": "sub", "name": "dev", "tenantId": "tenant", "user": {"name": "someone@example.com", "type": "user"}}`},
		azclitest.Rule{Args: []string{"provider", "list"}, Stdout: providersJSON(t)},
		azclitest.Rule{Args: []string{"group", "exists"}, Stdout: "true"},
		azclitest.Rule{Args: []string{"group", "show"}, Stdout: `{"name": "` + rg + `", "location": "westeurope"}`},
		azclitest.Rule{Args: []string{"deployment", "group", "create"}, Stdout: outputsJSON(t, rg)},
		azclitest.Rule{Args: []string{"aks", "get-credentials"}},
	)
	root := repoFixture(t)
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")

	stdout, stderr, err := execute(t, newDeployCommand(),
		"--resource-group", rg, "--repo-root", root, "--skip-image", "--skip-install",
		"--operator-access=false", "--kubeconfig", kubeconfig,
		"--parameter", "systemNodeCount=3", "-p", "queueName=orders")
	require.NoError(t, err, stderr)

	create, ok := fake.Find(t, "deployment", "group", "create")
	require.True(t, ok)
	assert.Contains(t, create, "baseName=edw")
	assert.Contains(t, create, "queueName=orders")
	assert.Contains(t, create, "systemNodeCount=3")
	assert.NotContains(t, fake.Commands(t), "acr build")
	assert.NotContains(t, fake.Commands(t), "account get-access-token")

	outputsPath := filepath.Join(root, ".work", "deployment-outputs.json")
	assert.FileExists(t, outputsPath)
	assert.Contains(t, stdout, "outputs: "+outputsPath)
	assert.Contains(t, stdout, "kube context: aks-edw-abc")
	assert.Contains(t, stderr, "next: edwctl install --outputs "+outputsPath)
}

func TestDeployCommandRejectsInvalidFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"base name upper case", []string{"--base-name", "EDW"}, `--base-name "EDW" is invalid`},
		{"parameter without value", []string{"--parameter", "queueName"}, `--parameter "queueName" is invalid: write name=value`},
		{"parameter without name", []string{"--parameter", "=x"}, `--parameter "=x" is invalid`},
		{"empty resource group", []string{"--resource-group", ""}, "--resource-group is empty"},
		{"install timeout", []string{"--install-timeout", "0s"}, "--install-timeout 0s is not positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := azclitest.Install(t)
			args := append([]string{"--repo-root", repoFixture(t)}, tt.args...)

			_, _, err := execute(t, newDeployCommand(), args...)

			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
			assert.True(t, config.IsUsage(err), "invalid flags are a usage error (exit status 2)")
			assert.Empty(t, fake.Calls(t), "az must not run with invalid flags")
		})
	}
}

func TestDeployCommandWithoutRepoRoot(t *testing.T) {
	azclitest.Install(t)
	t.Chdir(t.TempDir())

	_, _, err := execute(t, newDeployCommand())

	require.Error(t, err)
	assert.Contains(t, err.Error(), "no bicep/main.bicep in")
	assert.True(t, config.IsUsage(err))
}

func TestDestroyCommandWithYes(t *testing.T) {
	rg := "rg-cmd-destroy"
	fake := azclitest.Install(t,
		azclitest.Rule{Args: []string{"version"}, Stdout: `{"azure-cli": "2.77.0"}`},
		azclitest.Rule{Args: []string{"account", "show"}, Stdout: `{"id": "sub", "name": "dev", "tenantId": "tenant", "user": {"name": "someone@example.com", "type": "user"}}`},
		azclitest.Rule{Args: []string{"group", "exists"}, Stdout: "true"},
		azclitest.Rule{Args: []string{"resource", "list"}, Stdout: `[{"name": "aks-edw-abc", "type": "Microsoft.ContainerService/managedClusters"}]`},
		azclitest.Rule{Args: []string{"group", "delete"}},
	)
	root := repoFixture(t)

	_, stderr, err := execute(t, newDestroyCommand(), "-g", rg, "--repo-root", root, "--yes", "--wait=false")
	require.NoError(t, err, stderr)

	deleteCall, ok := fake.Find(t, "group", "delete")
	require.True(t, ok)
	assert.Equal(t, []string{"group", "delete", "--name", rg, "--yes", "--no-wait"}, deleteCall)
}

func TestDestroyCommandWithoutTerminalNeedsYes(t *testing.T) {
	fake := azclitest.Install(t,
		azclitest.Rule{Args: []string{"version"}, Stdout: `{"azure-cli": "2.77.0"}`},
		azclitest.Rule{Args: []string{"account", "show"}, Stdout: `{"id": "sub", "name": "dev", "tenantId": "tenant", "user": {"name": "someone@example.com", "type": "user"}}`},
		azclitest.Rule{Args: []string{"group", "exists"}, Stdout: "true"},
		azclitest.Rule{Args: []string{"resource", "list"}, Stdout: `[]`},
	)

	_, _, err := execute(t, newDestroyCommand(), "-g", "rg-cmd-destroy", "--repo-root", repoFixture(t))

	require.Error(t, err)
	assert.Contains(t, err.Error(), "pass --yes")
	_, deleted := fake.Find(t, "group", "delete")
	assert.False(t, deleted)
}

func TestImageCommandBuildsLoadableTarball(t *testing.T) {
	root := repoRoot(t)
	output := filepath.Join(t.TempDir(), "hello.tar")
	caBundle := firstHostCABundle(t)

	t.Log("Building the test program with go build and packing it")
	stdout, stderr, err := execute(t, newImageCommand(),
		"--component", "consumer", "--package", "./tools/edwctl/internal/cmd/deploy/testdata/hello",
		"--repo-root", root, "--tag", "test", "--output", output, "--ca-bundle", caBundle)
	require.NoError(t, err, stderr)
	assert.Contains(t, stdout, output+" aks-edw/consumer:test sha256:")

	tag, err := name.NewTag("aks-edw/consumer:test")
	require.NoError(t, err)
	img, err := tarball.ImageFromPath(output, &tag)
	require.NoError(t, err)
	configFile, err := img.ConfigFile()
	require.NoError(t, err)
	assert.Equal(t, []string{"/usr/local/bin/consumer"}, configFile.Config.Entrypoint)
	assert.Equal(t, "65532:65532", configFile.Config.User)
	assert.Equal(t, runtime.GOARCH, configFile.Architecture)
	assert.Contains(t, configFile.Config.ExposedPorts, "8080/tcp")
}

func TestImageCommandRejectsUnknownComponent(t *testing.T) {
	_, _, err := execute(t, newImageCommand(), "--component", "worker")

	require.Error(t, err)
	assert.Contains(t, err.Error(), `--component "worker" is invalid`)
	assert.True(t, config.IsUsage(err))
}

func TestSplitImage(t *testing.T) {
	tests := []struct {
		image, repository, tag, wantErr string
	}{
		{image: "credw.azurecr.io/aks-edw/consumer:20260102", repository: "credw.azurecr.io/aks-edw/consumer", tag: "20260102"},
		{image: "localhost:5000/aks-edw/consumer:dev", repository: "localhost:5000/aks-edw/consumer", tag: "dev"},
		{image: "localhost:5000/aks-edw/consumer", wantErr: "has no tag"},
		{image: "consumer:", wantErr: "has no tag"},
	}
	for _, tt := range tests {
		t.Run(tt.image, func(t *testing.T) {
			repository, tag, err := splitImage(tt.image)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.repository, repository)
			assert.Equal(t, tt.tag, tag)
		})
	}
}

func TestParseParametersKeepsLastValue(t *testing.T) {
	parameters, err := parseParameters([]string{"a=1", "b=x=y", "a=2", " c =3"})
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"a": "2", "b": "x=y", "c": "3"}, parameters)
}

func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	require.NoError(t, err)
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		require.NotEqual(t, dir, filepath.Dir(dir), "no go.mod above the test directory")
		dir = filepath.Dir(dir)
	}
}

func firstHostCABundle(t *testing.T) string {
	t.Helper()
	for _, path := range []string{"/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/cert.pem"} {
		if _, err := os.Stat(path); err == nil {
			return path
		}
	}
	t.Skip("no CA bundle on this host")
	return ""
}
