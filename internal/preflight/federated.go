package preflight

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/aks-edw/aks-edw/internal/azcli"
)

// FederatedCredential is one federated identity credential of a user-assigned managed identity.
type FederatedCredential struct {
	Name      string   `json:"name"`
	Issuer    string   `json:"issuer"`
	Subject   string   `json:"subject"`
	Audiences []string `json:"audiences"`
}

// FederatedCredentialSource lists the federated identity credentials of the managed identity
// with a client id in a resource group, and returns the identity's name with them.
type FederatedCredentialSource interface {
	FederatedCredentials(ctx context.Context, resourceGroup, clientID string) (string, []FederatedCredential, error)
}

// ErrIdentityNotFound is returned by a FederatedCredentialSource when the resource group has no
// managed identity with the client id.
var ErrIdentityNotFound = errors.New("managed identity not found")

// AzureCLICredentials reads federated credentials with the Azure CLI, as the signed-in user.
type AzureCLICredentials struct {
	CLI *azcli.CLI
}

// FederatedCredentials finds the identity by client id (az identity list) and lists its
// credentials (az identity federated-credential list).
func (a AzureCLICredentials) FederatedCredentials(ctx context.Context, resourceGroup, clientID string) (string, []FederatedCredential, error) {
	var identities []struct {
		Name     string `json:"name"`
		ClientID string `json:"clientId"`
	}
	if err := a.CLI.RunJSON(ctx, &identities, "identity", "list", "--resource-group", resourceGroup); err != nil {
		return "", nil, err
	}
	name := ""
	for _, identity := range identities {
		if strings.EqualFold(identity.ClientID, clientID) {
			name = identity.Name
		}
	}
	if name == "" {
		return "", nil, fmt.Errorf("%w: no identity with client id %s in resource group %s", ErrIdentityNotFound, clientID, resourceGroup)
	}

	var credentials []FederatedCredential
	err := a.CLI.RunJSON(ctx, &credentials, "identity", "federated-credential", "list", "--identity-name", name, "--resource-group", resourceGroup)
	if err != nil {
		return name, nil, err
	}
	return name, credentials, nil
}

// checkFederatedCredentials checks in Azure that the identity has a federated credential for
// each subject, with the token exchange audience and the cluster's OIDC issuer. Without a
// source, resource group or client id it returns nothing.
func checkFederatedCredentials(ctx context.Context, config Config, subjects []string) []Result {
	identity := config.WorkloadIdentity
	clientID := identity.ExpectedClientID
	if clientID == "" {
		clientID = identity.ClientID
	}
	if config.FederatedCredentials == nil || config.ResourceGroup == "" || clientID == "" {
		return nil
	}

	name, credentials, err := config.FederatedCredentials.FederatedCredentials(ctx, config.ResourceGroup, clientID)
	if errors.Is(err, ErrIdentityNotFound) {
		return []Result{{
			Check:   "federated-credentials",
			Status:  Fail,
			Message: err.Error(),
			Fix:     "pass the deployment outputs of this cluster's resource group, or redeploy the infrastructure (edwctl deploy)",
		}}
	}
	if err != nil {
		return []Result{{
			Check:   "federated-credentials",
			Status:  Warn,
			Message: fmt.Sprintf("could not read the federated credentials of the identity with client id %s in Azure: %v", clientID, err),
			Fix:     fmt.Sprintf("run az login, or compare them yourself: az identity federated-credential list --resource-group %s --identity-name <identity>", config.ResourceGroup),
		}}
	}

	var results []Result
	var found []string
	for _, subject := range subjects {
		result, ok := matchCredential(config, name, subject, credentials)
		if ok {
			found = append(found, subject)
			continue
		}
		results = append(results, result)
	}
	if len(found) == len(subjects) {
		results = append(results, Result{
			Check:   "federated-credentials",
			Status:  Pass,
			Message: fmt.Sprintf("identity %s has federated credentials for %s", name, strings.Join(found, " and ")),
		})
	}
	return results
}

// matchCredential looks for the credential of subject and returns true when it is right, or a
// failed result naming what is wrong and the az command that fixes it.
func matchCredential(config Config, identityName, subject string, credentials []FederatedCredential) (Result, bool) {
	issuer := config.OIDCIssuerURL
	create := fmt.Sprintf("az identity federated-credential create --name %s --identity-name %s --resource-group %s --issuer %s --subject %s --audience %s",
		credentialName(subject), identityName, config.ResourceGroup, orPlaceholder(issuer, "<cluster OIDC issuer URL>"), subject, TokenExchangeAudience)

	for _, credential := range credentials {
		if credential.Subject != subject {
			continue
		}
		if !slices.Contains(credential.Audiences, TokenExchangeAudience) {
			return Result{
				Check:   "federated-credentials",
				Status:  Fail,
				Message: fmt.Sprintf("federated credential %s of identity %s for %s lacks the audience %s (has %s)", credential.Name, identityName, subject, TokenExchangeAudience, strings.Join(credential.Audiences, ", ")),
				Fix:     fmt.Sprintf("az identity federated-credential update --name %s --identity-name %s --resource-group %s --audiences %s", credential.Name, identityName, config.ResourceGroup, TokenExchangeAudience),
			}, false
		}
		if issuer != "" && strings.TrimSuffix(credential.Issuer, "/") != strings.TrimSuffix(issuer, "/") {
			return Result{
				Check:   "federated-credentials",
				Status:  Fail,
				Message: fmt.Sprintf("federated credential %s of identity %s for %s trusts issuer %s, not this cluster's %s", credential.Name, identityName, subject, credential.Issuer, issuer),
				Fix:     fmt.Sprintf("az identity federated-credential update --name %s --identity-name %s --resource-group %s --issuer %s", credential.Name, identityName, config.ResourceGroup, issuer),
			}, false
		}
		return Result{}, true
	}
	return Result{
		Check:   "federated-credentials",
		Status:  Fail,
		Message: fmt.Sprintf("identity %s has no federated credential for %s, so Azure rejects the tokens of that ServiceAccount", identityName, subject),
		Fix:     create,
	}, false
}

// credentialName returns a name for a new credential: the subject's ServiceAccount name.
func credentialName(subject string) string {
	_, name := splitSubject(subject)
	return name
}

func orPlaceholder(value, placeholder string) string {
	if value == "" {
		return placeholder
	}
	return value
}
