package installer

import (
	"strings"

	"sigs.k8s.io/yaml"
)

// redactedValue replaces every value of a Secret in printed manifests.
const redactedValue = "REDACTED"

// RedactSecrets returns manifest with the values under data and stringData of every Secret
// replaced by REDACTED, so that a dry run can be printed or logged without the connection
// string. Other documents, and the "# Source:" comments Helm puts before each, are kept as they
// are.
func RedactSecrets(manifest string) string {
	documents := strings.Split(manifest, "\n---")
	for index, document := range documents {
		documents[index] = redactDocument(document)
	}
	return strings.Join(documents, "\n---")
}

func redactDocument(document string) string {
	var object map[string]any
	if err := yaml.Unmarshal([]byte(document), &object); err != nil || object["kind"] != "Secret" {
		return document
	}
	for _, field := range []string{"data", "stringData"} {
		values, ok := object[field].(map[string]any)
		if !ok {
			continue
		}
		for key := range values {
			values[key] = redactedValue
		}
	}
	redacted, err := yaml.Marshal(object)
	if err != nil {
		// NOTE: a document that decoded always encodes again; dropping it is the safe fallback.
		return "\n# Secret omitted: could not be redacted\n"
	}

	// Keep the separator and comment lines before the object, such as Helm's
	// "# Source: chart/x.yaml".
	var header []string
	for _, line := range strings.Split(document, "\n") {
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || trimmed == "---" || strings.HasPrefix(trimmed, "#") {
			header = append(header, line)
			continue
		}
		break
	}
	return strings.Join(header, "\n") + "\n" + string(redacted)
}
