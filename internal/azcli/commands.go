package azcli

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
)

// Account is the signed-in account and its default subscription (`az account show`).
type Account struct {
	SubscriptionID   string `json:"id"`
	SubscriptionName string `json:"name"`
	TenantID         string `json:"tenantId"`
	User             struct {
		// Name is a user principal name, or the application (client) ID of a service
		// principal.
		Name string `json:"name"`
		// Type is "user" or "servicePrincipal".
		Type string `json:"type"`
	} `json:"user"`
}

// ErrNotLoggedIn means az has no signed-in account.
var ErrNotLoggedIn = errors.New("the Azure CLI is not logged in")

// Version returns the azure-cli version (`az version`).
func (c *CLI) Version(ctx context.Context) (string, error) {
	var versions map[string]any
	if err := c.RunJSON(ctx, &versions, "version"); err != nil {
		return "", err
	}
	version, ok := versions["azure-cli"].(string)
	if !ok {
		return "", fmt.Errorf("az version printed no azure-cli version")
	}
	return version, nil
}

// Account returns the signed-in account, or an error wrapping ErrNotLoggedIn.
func (c *CLI) Account(ctx context.Context) (Account, error) {
	var account Account
	err := c.RunJSON(ctx, &account, "account", "show")
	var failure *Error
	if errors.As(err, &failure) && strings.Contains(strings.ToLower(failure.Stderr), "az login") {
		return Account{}, fmt.Errorf("%w: %s", ErrNotLoggedIn, failure.Reason())
	}
	return account, err
}

// ProviderStates returns the registration state (Registered, NotRegistered, Registering, ...)
// of every resource provider namespace of the subscription (`az provider list`).
func (c *CLI) ProviderStates(ctx context.Context) (map[string]string, error) {
	var providers []struct {
		Namespace string `json:"namespace"`
		State     string `json:"registrationState"`
	}
	err := c.RunJSON(ctx, &providers, "provider", "list", "--query", "[].{namespace:namespace, registrationState:registrationState}")
	if err != nil {
		return nil, err
	}
	states := make(map[string]string, len(providers))
	for _, provider := range providers {
		// Namespaces are case-insensitive in Azure Resource Manager.
		states[strings.ToLower(provider.Namespace)] = provider.State
	}
	return states, nil
}

// FeatureState returns the state (Registered, NotRegistered, Pending, ...) of a preview
// feature (`az feature show`).
func (c *CLI) FeatureState(ctx context.Context, namespace, feature string) (string, error) {
	var state struct {
		Properties struct {
			State string `json:"state"`
		} `json:"properties"`
	}
	err := c.RunJSON(ctx, &state, "feature", "show", "--namespace", namespace, "--name", feature)
	return state.Properties.State, err
}

// GroupExists reports whether the resource group exists (`az group exists`).
func (c *CLI) GroupExists(ctx context.Context, name string) (bool, error) {
	var exists bool
	err := c.RunJSON(ctx, &exists, "group", "exists", "--name", name)
	return exists, err
}

// Group is a resource group.
type Group struct {
	Name     string            `json:"name"`
	Location string            `json:"location"`
	Tags     map[string]string `json:"tags"`
}

// GroupShow returns the resource group (`az group show`).
func (c *CLI) GroupShow(ctx context.Context, name string) (Group, error) {
	var group Group
	err := c.RunJSON(ctx, &group, "group", "show", "--name", name)
	return group, err
}

// GroupCreate creates the resource group, or updates its tags when it exists.
func (c *CLI) GroupCreate(ctx context.Context, name, location string, tags map[string]string) error {
	args := []string{"group", "create", "--name", name, "--location", location}
	if len(tags) > 0 {
		args = append(args, "--tags")
		args = append(args, keyValues(tags)...)
	}
	var group Group
	return c.RunJSON(ctx, &group, args...)
}

// GroupDelete deletes the resource group and everything in it. With wait false it returns
// once Azure accepted the request.
func (c *CLI) GroupDelete(ctx context.Context, name string, wait bool) error {
	args := []string{"group", "delete", "--name", name, "--yes"}
	if !wait {
		args = append(args, "--no-wait")
	}
	_, err := c.Run(ctx, args...)
	return err
}

// Resource is one resource in a resource group.
type Resource struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

// GroupResources lists the resources in the resource group (`az resource list`).
func (c *CLI) GroupResources(ctx context.Context, group string) ([]Resource, error) {
	var resources []Resource
	err := c.RunJSON(ctx, &resources, "resource", "list", "--resource-group", group, "--query", "[].{name:name, type:type}")
	return resources, err
}

// Deployment names one resource group deployment of a Bicep or ARM template.
type Deployment struct {
	ResourceGroup string
	Name          string
	TemplateFile  string
	// Parameters are passed as --parameters name=value, sorted by name.
	Parameters map[string]string
}

func (d Deployment) args(verb ...string) []string {
	args := append([]string{"deployment", "group"}, verb...)
	args = append(args, "--resource-group", d.ResourceGroup, "--name", d.Name, "--template-file", d.TemplateFile)
	if len(d.Parameters) > 0 {
		args = append(args, "--parameters")
		args = append(args, keyValues(d.Parameters)...)
	}
	return args
}

// Outputs are a deployment's outputs in the shape of `az deployment group show --query
// properties.outputs`: {"name": {"type": "String", "value": ...}}.
type Outputs map[string]OutputValue

// OutputValue is one deployment output.
type OutputValue struct {
	Type  string `json:"type"`
	Value any    `json:"value"`
}

// DeploymentWhatIf prints the changes the deployment would make to w (`az deployment group
// what-if`), without making them.
func (c *CLI) DeploymentWhatIf(ctx context.Context, w io.Writer, d Deployment) error {
	return c.Stream(ctx, w, d.args("what-if")...)
}

// DeploymentCreate runs the deployment, waits for it and returns its outputs.
func (c *CLI) DeploymentCreate(ctx context.Context, d Deployment) (Outputs, error) {
	var outputs Outputs
	args := append(d.args("create"), "--query", "properties.outputs")
	if err := c.RunJSON(ctx, &outputs, args...); err != nil {
		return nil, err
	}
	return outputs, nil
}

// ACRBuild builds an image from a Dockerfile in Azure Container Registry and pushes it
// (`az acr build`), copying the build log to w. No local Docker engine is needed.
func (c *CLI) ACRBuild(ctx context.Context, w io.Writer, registry, image, dockerfile, contextDir string) error {
	return c.Stream(ctx, w, "acr", "build", "--registry", registry, "--image", image, "--file", dockerfile, contextDir)
}

// AKSGetCredentials merges the cluster's user credentials into kubeconfig, or into the
// default kubeconfig when kubeconfig is empty, and makes the cluster the current context.
func (c *CLI) AKSGetCredentials(ctx context.Context, group, cluster, kubeconfig string) error {
	args := []string{"aks", "get-credentials", "--resource-group", group, "--name", cluster, "--overwrite-existing"}
	if kubeconfig != "" {
		args = append(args, "--file", kubeconfig)
	}
	_, err := c.Run(ctx, args...)
	return err
}

// TokenClaims are the claims of the signed-in principal's access token that deploy needs.
type TokenClaims struct {
	// ObjectID is the principal's Microsoft Entra object ID (the oid claim).
	ObjectID string `json:"oid"`
	// IdentityType is "user" or "app" (the optional idtyp claim), or empty.
	IdentityType string `json:"idtyp"`
}

// SignedInTokenClaims returns the object ID of the signed-in principal, read from the claims
// of its access token for Azure Resource Manager (`az account get-access-token`). Unlike
// `az ad signed-in-user show` this needs no Microsoft Graph permission, so it works for CI
// service principals and managed identities too. The token is a secret: it stays in this
// function and is never logged or put into an error.
func (c *CLI) SignedInTokenClaims(ctx context.Context) (TokenClaims, error) {
	stdout, err := c.Run(ctx, "account", "get-access-token", "--query", "accessToken", "--output", "tsv")
	if err != nil {
		return TokenClaims{}, err
	}
	parts := strings.Split(strings.TrimSpace(string(stdout)), ".")
	if len(parts) != 3 {
		return TokenClaims{}, errors.New("az account get-access-token printed something that is not a JWT")
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return TokenClaims{}, errors.New("the access token's claims are not base64url")
	}
	var claims TokenClaims
	if err := json.Unmarshal(payload, &claims); err != nil {
		return TokenClaims{}, errors.New("the access token's claims are not JSON")
	}
	if claims.ObjectID == "" {
		return TokenClaims{}, errors.New("the access token has no oid claim")
	}
	return claims, nil
}

// keyValues returns name=value pairs sorted by name, so that command lines are stable.
func keyValues(values map[string]string) []string {
	names := make([]string, 0, len(values))
	for name := range values {
		names = append(names, name)
	}
	sort.Strings(names)
	pairs := make([]string, 0, len(names))
	for _, name := range names {
		pairs = append(pairs, name+"="+values[name])
	}
	return pairs
}

// Strings returns the string value of every output of type String.
func (o Outputs) Strings() map[string]string {
	values := map[string]string{}
	for name, output := range o {
		if value, ok := output.Value.(string); ok && strings.EqualFold(output.Type, "String") {
			values[name] = value
		}
	}
	return values
}

// MarshalIndent returns the outputs as indented JSON, the format of the outputs file.
func (o Outputs) MarshalIndent() ([]byte, error) {
	return json.MarshalIndent(o, "", "  ")
}
