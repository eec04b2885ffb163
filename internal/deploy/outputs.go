package deploy

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/aks-edw/aks-edw/internal/azcli"
)

// DefaultOutputsPath is the file, relative to the repository root, that Deploy saves the
// deployment outputs to.
const DefaultOutputsPath = ".work/deployment-outputs.json"

// OutputNames are the outputs of bicep/main.bicep that the next steps read: the deployment
// outputs contract. Every one is a string.
var OutputNames = []string{
	"storageAccountName",
	"queueName",
	"poisonQueueName",
	"tableName",
	"storageEndpointSuffix",
	"registryName",
	"registryLoginServer",
	"clusterName",
	"resourceGroupName",
	"oidcIssuerUrl",
	"workloadIdentityClientId",
	"tenantId",
	"serviceAccountNamespace",
	"serviceAccountName",
}

// Outputs are deployment outputs in the shape of `az deployment group show --query
// properties.outputs`.
type Outputs = azcli.Outputs

// CheckOutputs returns an error naming every contract output that is missing, not a string
// or empty.
func CheckOutputs(outputs Outputs) error {
	values := outputs.Strings()
	var missing []string
	for _, name := range OutputNames {
		if values[name] == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("deployment outputs %s are missing, empty or not strings; bicep/main.bicep and edwctl are out of step", strings.Join(missing, ", "))
	}
	return nil
}

// SaveOutputs writes the outputs as indented JSON to path, creating its directory. The file
// holds names and IDs only, no secret.
func SaveOutputs(path string, outputs Outputs) error {
	encoded, err := outputs.MarshalIndent()
	if err != nil {
		return fmt.Errorf("encode deployment outputs: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("create the directory of %s: %w", path, err)
	}
	if err := os.WriteFile(path, append(encoded, '\n'), 0o644); err != nil {
		return fmt.Errorf("write deployment outputs to %s: %w", path, err)
	}
	return nil
}

// LoadOutputs reads an outputs file written by SaveOutputs (or by `az deployment group show
// --query properties.outputs`) and checks it against the contract.
func LoadOutputs(path string) (Outputs, error) {
	content, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read deployment outputs: %w; run `edwctl deploy` first, or write the file with `az deployment group show --resource-group RG --name aks-edw --query properties.outputs > %s`", err, path)
	}
	var outputs Outputs
	if err := json.Unmarshal(content, &outputs); err != nil {
		return nil, fmt.Errorf("deployment outputs file %s is not valid JSON: %w", path, err)
	}
	if err := CheckOutputs(outputs); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return outputs, nil
}

// extraOutputs returns the names of outputs that are not in the contract, sorted.
func extraOutputs(outputs Outputs) []string {
	var extra []string
	for name := range outputs {
		if !slices.Contains(OutputNames, name) {
			extra = append(extra, name)
		}
	}
	slices.Sort(extra)
	return extra
}
