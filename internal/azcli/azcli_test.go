package azcli_test

// This file tests the az command lines that azcli builds and how it reads their output and
// failures, against a fake az process on PATH that records its arguments.

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/aks-edw/aks-edw/internal/azcli"
	"github.com/aks-edw/aks-edw/internal/azcli/azclitest"
)

func TestMain(m *testing.M) {
	azclitest.RunIfFake()
	os.Exit(m.Run())
}

func TestRunPassesArgumentsUnchanged(t *testing.T) {
	fake := azclitest.Install(t, azclitest.Rule{Args: []string{"group", "show"}, Stdout: "{}"})

	t.Log("An argument with spaces and quotes reaches az as one argument")
	_, err := azcli.New().Run(context.Background(), "group", "show", "--name", `rg "with" spaces`)
	require.NoError(t, err)

	assert.Equal(t, [][]string{{"group", "show", "--name", `rg "with" spaces`}}, fake.Calls(t))
}

func TestFailureCarriesCommandAndReason(t *testing.T) {
	azclitest.Install(t, azclitest.Rule{
		Args:     []string{"deployment", "group", "create"},
		Stderr:   "WARNING: something harmless\nERROR: {\"code\": \"InvalidTemplateDeployment\", \"message\": \"The template deployment failed.\"}\n",
		ExitCode: 1,
	})

	_, err := azcli.New().Run(context.Background(), "deployment", "group", "create", "--resource-group", "rg")

	var failure *azcli.Error
	require.ErrorAs(t, err, &failure)
	assert.Equal(t, 1, failure.ExitCode)
	assert.Equal(t, `ERROR: {"code": "InvalidTemplateDeployment", "message": "The template deployment failed."}`, failure.Reason())
	assert.Contains(t, err.Error(), "az deployment group create failed with exit status 1")
}

func TestReasonFallsBackToLastLines(t *testing.T) {
	failure := &azcli.Error{Stderr: "one\n\ntwo\nthree\nfour\nfive\nsix\n"}
	assert.Equal(t, "two | three | four | five | six", failure.Reason())

	empty := &azcli.Error{}
	assert.Equal(t, "no error output", empty.Reason())
}

func TestMissingBinaryIsErrNotFound(t *testing.T) {
	t.Setenv("PATH", t.TempDir())

	_, err := azcli.New().Run(context.Background(), "version")
	assert.ErrorIs(t, err, azcli.ErrNotFound)
}

func TestRunJSONRejectsOutputThatIsNotJSON(t *testing.T) {
	azclitest.Install(t, azclitest.Rule{Args: []string{"version"}, Stdout: "azure-cli 2.70.0\n"})

	_, err := azcli.New().Version(context.Background())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "az version printed output that is not the expected JSON")
}

func TestVersionReadsAzureCLIEntry(t *testing.T) {
	fake := azclitest.Install(t, azclitest.Rule{Args: []string{"version"}, Stdout: `{"azure-cli": "2.77.0", "azure-cli-core": "2.77.0"}`})

	version, err := azcli.New().Version(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "2.77.0", version)
	assert.Equal(t, [][]string{{"version", "--output", "json"}}, fake.Calls(t))
}

func TestAccountWithoutLoginIsErrNotLoggedIn(t *testing.T) {
	azclitest.Install(t, azclitest.Rule{
		Args:     []string{"account", "show"},
		Stderr:   "ERROR: Please run 'az login' to setup account.\n",
		ExitCode: 1,
	})

	_, err := azcli.New().Account(context.Background())
	assert.ErrorIs(t, err, azcli.ErrNotLoggedIn)
}

func TestAccountDecodesSubscriptionAndUser(t *testing.T) {
	azclitest.Install(t, azclitest.Rule{Args: []string{"account", "show"}, Stdout: `{
		"id": "00000000-0000-0000-0000-000000000001", "name": "dev subscription",
		"tenantId": "00000000-0000-0000-0000-0000000000aa",
		"user": {"name": "someone@example.com", "type": "user"}}`})

	account, err := azcli.New().Account(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "00000000-0000-0000-0000-000000000001", account.SubscriptionID)
	assert.Equal(t, "dev subscription", account.SubscriptionName)
	assert.Equal(t, "00000000-0000-0000-0000-0000000000aa", account.TenantID)
	assert.Equal(t, "user", account.User.Type)
}

func TestProviderStatesAreKeyedByLowerCaseNamespace(t *testing.T) {
	azclitest.Install(t, azclitest.Rule{Args: []string{"provider", "list"}, Stdout: `[
		{"namespace": "Microsoft.ContainerService", "registrationState": "Registered"},
		{"namespace": "Microsoft.Storage", "registrationState": "NotRegistered"}]`})

	states, err := azcli.New().ProviderStates(context.Background())
	require.NoError(t, err)
	assert.Equal(t, map[string]string{
		"microsoft.containerservice": "Registered",
		"microsoft.storage":          "NotRegistered",
	}, states)
}

func TestDeploymentCreateCommandAndOutputs(t *testing.T) {
	fake := azclitest.Install(t, azclitest.Rule{
		Args:   []string{"deployment", "group", "create"},
		Stdout: `{"clusterName": {"type": "String", "value": "aks-edw-abc"}, "systemNodeCount": {"type": "Int", "value": 2}}`,
	})

	outputs, err := azcli.New().DeploymentCreate(context.Background(), azcli.Deployment{
		ResourceGroup: "rg-test",
		Name:          "aks-edw",
		TemplateFile:  "bicep/main.bicep",
		Parameters:    map[string]string{"queueName": "q", "baseName": "edw"},
	})
	require.NoError(t, err)

	t.Log("Parameters are sorted by name so that the command line is stable")
	assert.Equal(t, [][]string{{
		"deployment", "group", "create",
		"--resource-group", "rg-test", "--name", "aks-edw", "--template-file", "bicep/main.bicep",
		"--parameters", "baseName=edw", "queueName=q",
		"--query", "properties.outputs", "--output", "json",
	}}, fake.Calls(t))
	assert.Equal(t, map[string]string{"clusterName": "aks-edw-abc"}, outputs.Strings())
	assert.Equal(t, "Int", outputs["systemNodeCount"].Type)
}

func TestStreamCopiesOutputAsItArrives(t *testing.T) {
	azclitest.Install(t, azclitest.Rule{Args: []string{"acr", "build"}, Stdout: "Step 1/5\n", Stderr: "Run ID: ca1 was successful\n"})

	var log bytes.Buffer
	err := azcli.New().ACRBuild(context.Background(), &log, "credw", "aks-edw-consumer:1", "src/consumer/Dockerfile", ".")
	require.NoError(t, err)
	assert.Contains(t, log.String(), "Step 1/5")
	assert.Contains(t, log.String(), "Run ID: ca1 was successful")
}

func TestGroupCommands(t *testing.T) {
	fake := azclitest.Install(t,
		azclitest.Rule{Args: []string{"group", "exists"}, Stdout: "false\n"},
		azclitest.Rule{Args: []string{"group", "create"}, Stdout: `{"name": "rg-test", "location": "westeurope"}`},
		azclitest.Rule{Args: []string{"group", "delete"}},
	)
	ctx := context.Background()
	cli := azcli.New()

	exists, err := cli.GroupExists(ctx, "rg-test")
	require.NoError(t, err)
	assert.False(t, exists)
	require.NoError(t, cli.GroupCreate(ctx, "rg-test", "westeurope", map[string]string{"managed-by": "edwctl", "app": "aks-edw"}))
	require.NoError(t, cli.GroupDelete(ctx, "rg-test", false))

	assert.Equal(t, [][]string{
		{"group", "exists", "--name", "rg-test", "--output", "json"},
		{"group", "create", "--name", "rg-test", "--location", "westeurope", "--tags", "app=aks-edw", "managed-by=edwctl", "--output", "json"},
		{"group", "delete", "--name", "rg-test", "--yes", "--no-wait"},
	}, fake.Calls(t))
}

// fakeToken returns a JWT-shaped string with the given claims and a dummy signature.
func fakeToken(claims string) string {
	encode := base64.RawURLEncoding.EncodeToString
	return encode([]byte(`{"alg":"RS256","typ":"JWT"}`)) + "." + encode([]byte(claims)) + ".c2lnbmF0dXJl"
}

func TestSignedInTokenClaims(t *testing.T) {
	tests := []struct {
		name    string
		stdout  string
		want    azcli.TokenClaims
		wantErr string
	}{
		{name: "user", stdout: fakeToken(`{"oid": "33333333-3333-3333-3333-333333333333", "idtyp": "user"}`) + "\n",
			want: azcli.TokenClaims{ObjectID: "33333333-3333-3333-3333-333333333333", IdentityType: "user"}},
		{name: "app without idtyp", stdout: fakeToken(`{"oid": "55555555-5555-5555-5555-555555555555"}`),
			want: azcli.TokenClaims{ObjectID: "55555555-5555-5555-5555-555555555555"}},
		{name: "no oid", stdout: fakeToken(`{"sub": "x"}`), wantErr: "has no oid claim"},
		{name: "not a JWT", stdout: "secret-looking-text", wantErr: "not a JWT"},
		{name: "claims not JSON", stdout: "a." + base64.RawURLEncoding.EncodeToString([]byte("{oops")) + ".c", wantErr: "not JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := azclitest.Install(t, azclitest.Rule{Args: []string{"account", "get-access-token"}, Stdout: tt.stdout})

			claims, err := azcli.New().SignedInTokenClaims(context.Background())

			assert.Equal(t, [][]string{{"account", "get-access-token", "--query", "accessToken", "--output", "tsv"}}, fake.Calls(t))
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				assert.NotContains(t, err.Error(), strings.TrimSpace(tt.stdout), "the token never appears in an error")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, claims)
		})
	}
}

func TestCanceledContextStopsTheCommand(t *testing.T) {
	azclitest.Install(t, azclitest.Rule{Args: []string{"version"}, Stdout: "{}"})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()

	_, err := azcli.New().Run(ctx, "version")
	assert.True(t, errors.Is(err, context.Canceled), "got %v", err)
}
