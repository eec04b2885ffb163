package preflight

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// ParseManifest decodes a multi-document YAML manifest, as Helm renders it, into objects.
// Empty documents are skipped.
func ParseManifest(manifest string) ([]*unstructured.Unstructured, error) {
	decoder := utilyaml.NewYAMLOrJSONDecoder(bytes.NewBufferString(manifest), 4096)
	var objects []*unstructured.Unstructured
	for index := 0; ; index++ {
		object := &unstructured.Unstructured{}
		err := decoder.Decode(&object.Object)
		if errors.Is(err, io.EOF) {
			return objects, nil
		}
		if err != nil {
			return nil, fmt.Errorf("decode document %d of the rendered manifest: %w", index, err)
		}
		if len(object.Object) == 0 {
			continue
		}
		objects = append(objects, object)
	}
}

// ConfigFromManifest derives the preflight configuration from the chart's rendered objects:
// the kinds to be served, the NodePool's node class, and the workload identity wiring. It reads
// the objects rather than the values, so it follows whatever the templates render.
func ConfigFromManifest(namespace string, objects []*unstructured.Unstructured) Config {
	config := Config{Namespace: namespace}

	seen := map[schema.GroupVersionKind]bool{}
	rendered := map[schema.GroupKind]map[string]bool{}
	var consumerAccount string
	accounts := map[string]map[string]string{}
	var usesIdentityLabel bool
	var keda *WorkloadIdentity

	for _, object := range objects {
		gvk := object.GroupVersionKind()
		if !seen[gvk] {
			seen[gvk] = true
			config.Kinds = append(config.Kinds, gvk)
		}
		if rendered[gvk.GroupKind()] == nil {
			rendered[gvk.GroupKind()] = map[string]bool{}
		}
		rendered[gvk.GroupKind()][object.GetName()] = true

		switch gvk.GroupKind() {
		case schema.GroupKind{Group: "karpenter.sh", Kind: "NodePool"}:
			ref, found, _ := unstructured.NestedStringMap(object.Object, "spec", "template", "spec", "nodeClassRef")
			if found {
				config.NodeClassRef = &NodeClassRef{Group: ref["group"], Kind: ref["kind"], Name: ref["name"]}
			}
		case schema.GroupKind{Kind: "ServiceAccount"}:
			accounts[object.GetName()] = object.GetAnnotations()
		case schema.GroupKind{Group: "apps", Kind: "Deployment"}:
			name, _, _ := unstructured.NestedString(object.Object, "spec", "template", "spec", "serviceAccountName")
			consumerAccount = name
			labels, _, _ := unstructured.NestedStringMap(object.Object, "spec", "template", "metadata", "labels")
			usesIdentityLabel = usesIdentityLabel || labels[UseLabel] == "true"
		case schema.GroupKind{Group: "keda.sh", Kind: "TriggerAuthentication"}:
			provider, _, _ := unstructured.NestedString(object.Object, "spec", "podIdentity", "provider")
			if provider == "azure-workload" {
				identityID, _, _ := unstructured.NestedString(object.Object, "spec", "podIdentity", "identityId")
				keda = &WorkloadIdentity{KEDAOperator: true, KEDAIdentityID: identityID}
			}
		}
	}

	if ref := config.NodeClassRef; ref != nil {
		ref.Rendered = rendered[schema.GroupKind{Group: ref.Group, Kind: ref.Kind}][ref.Name]
	}

	if consumerAccount == "" && len(accounts) == 1 {
		for name := range accounts {
			consumerAccount = name
		}
	}
	if consumerAccount == "" {
		consumerAccount = "default"
	}
	clientID := accounts[consumerAccount][ClientIDAnnotation]
	if usesIdentityLabel || clientID != "" || keda != nil {
		identity := &WorkloadIdentity{
			ServiceAccountNamespace: namespace,
			ServiceAccountName:      consumerAccount,
			ClientID:                clientID,
		}
		if keda != nil {
			identity.KEDAOperator = true
			identity.KEDAIdentityID = keda.KEDAIdentityID
		}
		config.WorkloadIdentity = identity
	}
	return config
}
