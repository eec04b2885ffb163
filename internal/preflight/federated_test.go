// This file tests the Azure side of the workload identity checks: which federated credentials
// pass and what each missing or wrong one reports. With a fake az on PATH, it also tests how
// the Azure CLI source finds the identity by client id and lists its credentials.
package preflight

import (
	"context"
	"fmt"
	"os"
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

const (
	testIssuer       = "https://issuer.example/edw/"
	testClientID     = "11111111-2222-3333-4444-555555555555"
	consumerSubject  = "system:serviceaccount:edw:edw-consumer"
	operatorSubject  = "system:serviceaccount:kube-system:keda-operator"
	testGroup        = "rg-edw"
	testIdentity     = "id-edw"
	exchangeAudience = "api://AzureADTokenExchange"
	otherAudience    = "api://other"
)

// staticSource returns fixed credentials, or err.
type staticSource struct {
	credentials []FederatedCredential
	err         error
}

func (s staticSource) FederatedCredentials(context.Context, string, string) (string, []FederatedCredential, error) {
	return testIdentity, s.credentials, s.err
}

func federatedConfig(source FederatedCredentialSource) Config {
	return Config{
		ResourceGroup:        testGroup,
		OIDCIssuerURL:        testIssuer,
		FederatedCredentials: source,
		WorkloadIdentity:     &WorkloadIdentity{ClientID: testClientID, ServiceAccountNamespace: "edw", ServiceAccountName: "edw-consumer"},
	}
}

func TestFederatedCredentialsResults(t *testing.T) {
	consumer := FederatedCredential{Name: "consumer", Issuer: testIssuer, Subject: consumerSubject, Audiences: []string{exchangeAudience}}
	operator := FederatedCredential{Name: "keda-operator", Issuer: testIssuer, Subject: operatorSubject, Audiences: []string{exchangeAudience}}

	cases := []struct {
		name    string
		source  staticSource
		status  Status
		message string
		fix     string
	}{
		{
			name:    "both subjects present",
			source:  staticSource{credentials: []FederatedCredential{consumer, operator}},
			status:  Pass,
			message: "identity id-edw has federated credentials for " + consumerSubject + " and " + operatorSubject,
		},
		{
			name:    "operator credential missing",
			source:  staticSource{credentials: []FederatedCredential{consumer}},
			status:  Fail,
			message: "identity id-edw has no federated credential for " + operatorSubject,
			fix:     "az identity federated-credential create --name keda-operator --identity-name id-edw --resource-group rg-edw --issuer " + testIssuer + " --subject " + operatorSubject + " --audience " + exchangeAudience,
		},
		{
			name: "wrong audience",
			source: staticSource{credentials: []FederatedCredential{consumer,
				{Name: "keda-operator", Issuer: testIssuer, Subject: operatorSubject, Audiences: []string{otherAudience}}}},
			status:  Fail,
			message: "lacks the audience api://AzureADTokenExchange (has api://other)",
			fix:     "--audiences api://AzureADTokenExchange",
		},
		{
			name: "other cluster's issuer",
			source: staticSource{credentials: []FederatedCredential{operator,
				{Name: "consumer", Issuer: "https://issuer.example/old/", Subject: consumerSubject, Audiences: []string{exchangeAudience}}}},
			status:  Fail,
			message: "trusts issuer https://issuer.example/old/, not this cluster's " + testIssuer,
			fix:     "--issuer " + testIssuer,
		},
		{
			name:    "identity not in the group",
			source:  staticSource{err: fmt.Errorf("%w: no identity with client id x", ErrIdentityNotFound)},
			status:  Fail,
			message: "managed identity not found",
		},
		{
			name:    "az unavailable",
			source:  staticSource{err: azcli.ErrNotFound},
			status:  Warn,
			message: "could not read the federated credentials",
			fix:     "az login",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			results := checkFederatedCredentials(context.Background(), federatedConfig(tc.source), []string{consumerSubject, operatorSubject})

			require.Len(t, results, 1, "one line per problem, or one pass line")
			assert.Equal(t, "federated-credentials", results[0].Check)
			assert.Equal(t, tc.status, results[0].Status)
			assert.Contains(t, results[0].Message, tc.message)
			assert.Contains(t, results[0].Fix, tc.fix)
		})
	}
}

func TestFederatedCredentialsOneLinePerMissingSubject(t *testing.T) {
	results := checkFederatedCredentials(context.Background(), federatedConfig(staticSource{}), []string{consumerSubject, operatorSubject})

	require.Len(t, results, 2)
	assert.Contains(t, results[0].Message, consumerSubject)
	assert.Contains(t, results[1].Message, operatorSubject)
}

func TestFederatedCredentialsSkippedWithoutSource(t *testing.T) {
	config := federatedConfig(nil)

	assert.Empty(t, checkFederatedCredentials(context.Background(), config, []string{consumerSubject}))
}

func TestAzureCLICredentialsFindsIdentityByClientID(t *testing.T) {
	fake := azclitest.Install(t,
		azclitest.Rule{
			Args:   []string{"identity", "list"},
			Stdout: `[{"name": "id-other", "clientId": "99999999-0000-0000-0000-000000000000"}, {"name": "id-edw", "clientId": "11111111-2222-3333-4444-555555555555"}]`,
		},
		azclitest.Rule{
			Args:     []string{"identity", "federated-credential", "list"},
			Contains: []string{"id-edw"},
			Stdout:   `[{"name": "consumer", "issuer": "https://issuer.example/edw/", "subject": "system:serviceaccount:edw:edw-consumer", "audiences": ["api://AzureADTokenExchange"]}]`,
		},
	)
	source := AzureCLICredentials{CLI: azcli.New()}

	name, credentials, err := source.FederatedCredentials(context.Background(), testGroup, testClientID)

	require.NoError(t, err)
	assert.Equal(t, testIdentity, name)
	require.Len(t, credentials, 1)
	assert.Equal(t, consumerSubject, credentials[0].Subject)
	assert.Equal(t, []string{exchangeAudience}, credentials[0].Audiences)
	list, ok := fake.Find(t, "identity", "federated-credential", "list")
	require.True(t, ok)
	assert.Equal(t, []string{"identity", "federated-credential", "list", "--identity-name", "id-edw", "--resource-group", "rg-edw", "--output", "json"}, list)
}

func TestAzureCLICredentialsUnknownClientID(t *testing.T) {
	azclitest.Install(t, azclitest.Rule{Args: []string{"identity", "list"}, Stdout: `[]`})
	source := AzureCLICredentials{CLI: azcli.New()}

	_, _, err := source.FederatedCredentials(context.Background(), testGroup, testClientID)

	require.Error(t, err)
	assert.ErrorIs(t, err, ErrIdentityNotFound)
	assert.Contains(t, err.Error(), testClientID)
}
