package installer

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
)

// DefaultOutputsFile is the path, relative to the repository root, of the infrastructure
// deployment's outputs that edwctl deploy writes.
const DefaultOutputsFile = ".work/deployment-outputs.json"

// Outputs are the infrastructure deployment's outputs that the chart values depend on. The file
// has the shape of `az deployment group show --query properties.outputs`:
// {"<name>": {"type": "String", "value": "..."}}.
type Outputs struct {
	StorageAccountName       string
	QueueName                string
	PoisonQueueName          string
	TableName                string
	StorageEndpointSuffix    string
	RegistryName             string
	RegistryLoginServer      string
	ClusterName              string
	ResourceGroupName        string
	OIDCIssuerURL            string
	WorkloadIdentityClientID string
	TenantID                 string
	ServiceAccountNamespace  string
	ServiceAccountName       string
}

// fields maps each output name to its field. ARM keeps the case of the Bicep output names, but
// the lookup ignores case so that a hand-written file with other casing still reads.
func (o *Outputs) fields() map[string]*string {
	return map[string]*string{
		"storageaccountname":       &o.StorageAccountName,
		"queuename":                &o.QueueName,
		"poisonqueuename":          &o.PoisonQueueName,
		"tablename":                &o.TableName,
		"storageendpointsuffix":    &o.StorageEndpointSuffix,
		"registryname":             &o.RegistryName,
		"registryloginserver":      &o.RegistryLoginServer,
		"clustername":              &o.ClusterName,
		"resourcegroupname":        &o.ResourceGroupName,
		"oidcissuerurl":            &o.OIDCIssuerURL,
		"workloadidentityclientid": &o.WorkloadIdentityClientID,
		"tenantid":                 &o.TenantID,
		"serviceaccountnamespace":  &o.ServiceAccountNamespace,
		"serviceaccountname":       &o.ServiceAccountName,
	}
}

// ReadOutputs reads and parses the deployment outputs file at path.
func ReadOutputs(path string) (*Outputs, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read deployment outputs: %w (run edwctl deploy to write it, or pass --outputs with another path)", err)
	}
	outputs, err := ParseOutputs(data)
	if err != nil {
		return nil, fmt.Errorf("deployment outputs %s: %w", path, err)
	}
	return outputs, nil
}

// ParseOutputs parses deployment outputs JSON. Outputs that the chart does not use are ignored;
// a used output whose value is not a string is an error naming it.
func ParseOutputs(data []byte) (*Outputs, error) {
	var raw map[string]struct {
		Type  string          `json:"type"`
		Value json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("invalid JSON: %w (expected the output of az deployment group show --query properties.outputs)", err)
	}

	outputs := &Outputs{}
	fields := outputs.fields()
	for name, output := range raw {
		field, used := fields[strings.ToLower(name)]
		if !used || len(output.Value) == 0 || string(output.Value) == "null" {
			continue
		}
		var value string
		if err := json.Unmarshal(output.Value, &value); err != nil {
			return nil, fmt.Errorf("output %q has type %q, expected a String value", name, output.Type)
		}
		*field = value
	}
	return outputs, nil
}

// ServiceAccountSubject returns the federated credential subject the deployment created for the
// consumer, or "" when the outputs do not name the ServiceAccount.
func (o *Outputs) ServiceAccountSubject() string {
	if o.ServiceAccountNamespace == "" || o.ServiceAccountName == "" {
		return ""
	}
	return "system:serviceaccount:" + o.ServiceAccountNamespace + ":" + o.ServiceAccountName
}

// Values maps the outputs to chart values: the storage names, workload identity with the client
// and tenant ids, the ServiceAccount name, and the image repository in the deployment's
// registry. defaultRepository is the chart's default image.repository; its path without any
// registry host is kept, so aks-edw/consumer becomes <login server>/aks-edw/consumer. Outputs
// that are empty set nothing.
func (o *Outputs) Values(defaultRepository string) map[string]any {
	values := map[string]any{}
	set := func(value string, keys ...string) {
		if value == "" {
			return
		}
		node := values
		for _, key := range keys[:len(keys)-1] {
			child, ok := node[key].(map[string]any)
			if !ok {
				child = map[string]any{}
				node[key] = child
			}
			node = child
		}
		node[keys[len(keys)-1]] = value
	}

	set(o.StorageAccountName, "storage", "accountName")
	set(o.QueueName, "storage", "queueName")
	set(o.PoisonQueueName, "storage", "poisonQueueName")
	set(o.TableName, "storage", "tableName")
	set(o.StorageEndpointSuffix, "storage", "endpointSuffix")

	if o.WorkloadIdentityClientID != "" {
		set("workloadIdentity", "auth", "mode")
		set(o.WorkloadIdentityClientID, "auth", "workloadIdentity", "clientId")
		set(o.TenantID, "auth", "workloadIdentity", "tenantId")
	}
	set(o.ServiceAccountName, "serviceAccount", "name")

	if o.RegistryLoginServer != "" {
		repository := strings.TrimSuffix(o.RegistryLoginServer, "/") + "/" + imagePath(defaultRepository)
		set(repository, "image", "repository")
	}
	return values
}

// imagePath returns repository without its registry host. As in Docker's reference grammar, the
// first path element is a host when it contains a dot or a colon or is localhost.
func imagePath(repository string) string {
	parts := strings.Split(strings.Trim(repository, "/"), "/")
	if len(parts) > 1 && (strings.ContainsAny(parts[0], ".:") || parts[0] == "localhost") {
		parts = parts[1:]
	}
	joined := strings.Join(parts, "/")
	if joined == "" {
		return "aks-edw/consumer"
	}
	return joined
}
