package installer

import (
	"fmt"
	"os"

	"helm.sh/helm/v3/pkg/strvals"
	"sigs.k8s.io/yaml"
)

// ValueSources are the inputs to the chart values, listed from lowest to highest precedence.
// The chart's own values.yaml lies below all of them.
type ValueSources struct {
	// Outputs are the infrastructure deployment's outputs; any explicit value wins over them.
	Outputs *Outputs
	// DefaultRepository is the chart's default image.repository, whose last path element
	// Outputs keeps as the image name in the deployment's registry.
	DefaultRepository string
	// Files are values files (-f), later files winning over earlier ones.
	Files []string
	// Values are values set by a program, such as a test, as a nested map.
	Values map[string]any
	// Set are --set expressions (key.path=value, types inferred).
	Set []string
	// SetString are --set-string expressions (values kept as strings).
	SetString []string
}

// Merge returns the values from every source, each source overriding the ones before it.
func (s ValueSources) Merge() (map[string]any, error) {
	base := map[string]any{}
	if s.Outputs != nil {
		base = mergeValues(base, s.Outputs.Values(s.DefaultRepository))
	}

	for _, file := range s.Files {
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("read values file: %w", err)
		}
		fileValues := map[string]any{}
		if err := yaml.Unmarshal(data, &fileValues); err != nil {
			return nil, fmt.Errorf("values file %s is not valid YAML: %w", file, err)
		}
		base = mergeValues(base, fileValues)
	}

	if s.Values != nil {
		base = mergeValues(base, s.Values)
	}

	for _, expression := range s.Set {
		if err := strvals.ParseInto(expression, base); err != nil {
			return nil, fmt.Errorf("invalid --set %q: %w (expected key.path=value)", expression, err)
		}
	}
	for _, expression := range s.SetString {
		if err := strvals.ParseIntoString(expression, base); err != nil {
			return nil, fmt.Errorf("invalid --set-string %q: %w (expected key.path=value)", expression, err)
		}
	}
	return base, nil
}

// mergeValues merges override into base recursively and returns base. Maps merge key by key;
// any other value in override replaces the one in base. override's maps are copied, so later
// edits of the result do not change the caller's map.
func mergeValues(base, override map[string]any) map[string]any {
	for key, value := range override {
		overrideMap, overrideIsMap := value.(map[string]any)
		if !overrideIsMap {
			base[key] = value
			continue
		}
		baseMap, baseIsMap := base[key].(map[string]any)
		if !baseIsMap {
			baseMap = map[string]any{}
		}
		base[key] = mergeValues(baseMap, overrideMap)
	}
	return base
}

// lookupString returns the string at keys in values, or "" when any step is missing.
func lookupString(values map[string]any, keys ...string) string {
	var node any = values
	for _, key := range keys {
		m, ok := node.(map[string]any)
		if !ok {
			return ""
		}
		node = m[key]
	}
	value, _ := node.(string)
	return value
}
