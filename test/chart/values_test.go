package chart

// This file checks that values.yaml and values.schema.json describe the same values. Every value
// has a helm-docs `# --` comment, on itself or on an enclosing object, so the generated README
// lists it with a description. Every value has a schema, every schema object closes its
// properties with additionalProperties: false, and every schema property has a default in
// values.yaml.
//
// NOTE: helm-docs has its own check (--documentation-strict-mode), but v1.14.2 reports every key
// as undocumented, so this file does the check instead.

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// passThroughPaths are schema objects without properties that the chart hands to Kubernetes or
// KEDA unchanged, so their own schemas validate them.
var passThroughPaths = []string{
	"global",
	"consumer.affinity",
	"scaledObject.advanced.horizontalPodAutoscalerConfig.behavior",
}

// valuesEntry is one key of values.yaml.
type valuesEntry struct {
	path       string
	documented bool
	// leaf is true unless the value is a non-empty mapping, whose own keys are the entries
	// that helm-docs lists.
	leaf bool
}

// valuesEntries walks values.yaml's mappings (not list elements) and reports each key with
// whether it or an enclosing key has a `# --` comment.
func valuesEntries(t *testing.T) []valuesEntry {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(chartDir, "values.yaml"))
	require.NoError(t, err)
	var document yaml.Node
	require.NoError(t, yaml.Unmarshal(data, &document))
	require.Len(t, document.Content, 1)

	var entries []valuesEntry
	var walk func(node *yaml.Node, prefix string, documented bool)
	walk = func(node *yaml.Node, prefix string, documented bool) {
		if node.Kind != yaml.MappingNode {
			return
		}
		for i := 0; i+1 < len(node.Content); i += 2 {
			key, value := node.Content[i], node.Content[i+1]
			path := key.Value
			if prefix != "" {
				path = prefix + "." + key.Value
			}
			keyDocumented := documented || hasHelmDocsComment(key.HeadComment)
			leaf := value.Kind != yaml.MappingNode || len(value.Content) == 0
			entries = append(entries, valuesEntry{path: path, documented: keyDocumented, leaf: leaf})
			walk(value, path, keyDocumented)
		}
	}
	walk(document.Content[0], "", false)
	return entries
}

// hasHelmDocsComment reports whether the last comment paragraph above a key starts with `# --`,
// which is what helm-docs reads as the key's description.
func hasHelmDocsComment(comment string) bool {
	paragraphs := strings.Split(comment, "\n\n")
	last := strings.TrimSpace(paragraphs[len(paragraphs)-1])
	return strings.HasPrefix(last, "# --")
}

func loadSchema(t *testing.T) map[string]any {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(chartDir, "values.schema.json"))
	require.NoError(t, err)
	schema := map[string]any{}
	require.NoError(t, json.Unmarshal(data, &schema))
	return schema
}

// resolve follows a local $ref such as "#/definitions/probe".
func resolve(root, node map[string]any) map[string]any {
	ref, ok := node["$ref"].(string)
	if !ok {
		return node
	}
	target := any(root)
	for _, step := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
		target = target.(map[string]any)[step]
	}
	return target.(map[string]any)
}

// schemaObjects returns every object schema under properties, by dotted value path.
func schemaObjects(root map[string]any) map[string]map[string]any {
	objects := map[string]map[string]any{}
	var walk func(node map[string]any, path string)
	walk = func(node map[string]any, path string) {
		node = resolve(root, node)
		if node["type"] == "object" {
			objects[path] = node
		}
		properties, _ := node["properties"].(map[string]any)
		for name, child := range properties {
			childPath := name
			if path != "" {
				childPath = path + "." + name
			}
			walk(child.(map[string]any), childPath)
		}
	}
	walk(root, "")
	return objects
}

func TestEveryValueDocumented(t *testing.T) {
	for _, entry := range valuesEntries(t) {
		if entry.leaf {
			assert.True(t, entry.documented, "values.yaml key %s has no `# --` comment on it or an enclosing key", entry.path)
		}
	}
}

func TestEveryValueHasSchema(t *testing.T) {
	schema := loadSchema(t)
	objects := schemaObjects(schema)

	for _, entry := range valuesEntries(t) {
		parent, name := "", entry.path
		if i := strings.LastIndex(entry.path, "."); i >= 0 {
			parent, name = entry.path[:i], entry.path[i+1:]
		}
		object, ok := objects[parent]
		require.True(t, ok, "values.yaml key %s: no object schema for %q", entry.path, parent)
		properties, hasProperties := object["properties"].(map[string]any)
		if !hasProperties {
			// A map such as labels or limits: its entries are checked by additionalProperties.
			continue
		}
		assert.Contains(t, properties, name, "values.yaml key %s has no schema", entry.path)
	}
}

func TestSchemaClosesEveryObject(t *testing.T) {
	schema := loadSchema(t)

	for path, object := range schemaObjects(schema) {
		additional, hasAdditional := object["additionalProperties"]
		if _, hasProperties := object["properties"]; hasProperties {
			assert.Equal(t, false, additional, "schema object %q must set additionalProperties: false", path)
			continue
		}
		if slices.Contains(passThroughPaths, path) {
			continue
		}
		assert.True(t, hasAdditional, "schema map %q must give additionalProperties a schema for its entries", path)
		assert.IsType(t, map[string]any{}, additional, "schema map %q", path)
	}

	t.Log("Object schemas inside lists and definitions close their properties too")
	definitions := schema["definitions"].(map[string]any)
	for name, raw := range definitions {
		definition := raw.(map[string]any)
		if _, hasProperties := definition["properties"]; hasProperties {
			assert.Equal(t, false, definition["additionalProperties"], "definition %s", name)
		}
	}
}

func TestEverySchemaPropertyHasDefault(t *testing.T) {
	schema := loadSchema(t)
	var paths []string
	for _, entry := range valuesEntries(t) {
		paths = append(paths, entry.path)
	}

	for path, object := range schemaObjects(schema) {
		properties, _ := object["properties"].(map[string]any)
		for name := range properties {
			childPath := name
			if path != "" {
				childPath = path + "." + name
			}
			if childPath == "global" {
				continue
			}
			assert.Contains(t, paths, childPath, "schema property %s has no default in values.yaml", childPath)
		}
	}
}
