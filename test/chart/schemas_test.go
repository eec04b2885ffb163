package chart

// This file validates rendered objects offline the way a kube-apiserver would on create. Core
// kinds are strictly decoded into the k8s.io/api types. Custom resources go through the
// apiextensions-apiserver code: pruning to find unknown fields, defaulting, then the custom
// resource strategy's Validate, which runs the OpenAPI schema, metadata, list-type and CEL
// rules. Pod specs go through the admission plugin's restricted Pod Security checks.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/aks-edw/aks-edw/internal/versions"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	structuraldefaulting "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/defaulting"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/pruning"
	apiextensionsvalidation "k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	"k8s.io/apiextensions-apiserver/pkg/registry/customresource"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
	"sigs.k8s.io/yaml"
)

// karpenterAzureCRDsEnv names the environment variable that points at the Azure Karpenter
// provider's CRD folder when it is not in the default place that loadAzureKarpenterCRDs reads.
const karpenterAzureCRDsEnv = "EDW_KARPENTER_AZURE_CRDS"

// karpenterModule is upstream Karpenter's Go module, which ships the karpenter.sh CRDs that its
// kwok provider (the simulated cluster) installs.
const karpenterModule = "sigs.k8s.io/karpenter"

// coreScheme registers the built-in kinds that the chart renders.
var coreScheme = func() *runtime.Scheme {
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{corev1.AddToScheme, appsv1.AddToScheme} {
		if err := add(scheme); err != nil {
			panic(err)
		}
	}
	return scheme
}()

// strictDecode decodes a built-in object into its k8s.io/api type, failing on unknown or
// duplicate fields and on values of the wrong type, and validates its metadata as the apiserver
// does for every object.
func strictDecode(obj object) (runtime.Object, error) {
	data, err := json.Marshal(obj.Object)
	if err != nil {
		return nil, fmt.Errorf("encode %s %s: %w", obj.GetKind(), obj.GetName(), err)
	}
	codecs := serializer.NewCodecFactory(coreScheme, serializer.EnableStrict)
	decoded, _, err := codecs.UniversalDeserializer().Decode(data, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("%s %s from %s: %w", obj.GetKind(), obj.GetName(), obj.source, err)
	}

	accessor, ok := decoded.(interface{ GetNamespace() string })
	if !ok || accessor.GetNamespace() == "" {
		return nil, fmt.Errorf("%s %s from %s has no namespace", obj.GetKind(), obj.GetName(), obj.source)
	}
	errs := apimachineryvalidation.ValidateObjectMetaAccessor(obj.Unstructured, true, apimachineryvalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
	if len(errs) > 0 {
		return nil, fmt.Errorf("%s %s from %s: %w", obj.GetKind(), obj.GetName(), obj.source, errs.ToAggregate())
	}
	return decoded, nil
}

// crdVersion is one served version of a CustomResourceDefinition, ready to validate objects.
type crdVersion struct {
	file       string
	structural *structuralschema.Structural
	strategy   interface {
		Validate(ctx context.Context, obj runtime.Object) field.ErrorList
	}
}

// crdCatalog maps group/version/kind to the CRD versions that validate it. A kind can have
// several, such as the NodePool of the Azure provider and of upstream Karpenter.
type crdCatalog map[schema.GroupVersionKind][]crdVersion

// add loads every served version of the CRD in file.
func (c crdCatalog) add(file string) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("read CRD: %w", err)
	}
	external := &apiextensionsv1.CustomResourceDefinition{}
	if err := yaml.UnmarshalStrict(data, external); err != nil {
		return fmt.Errorf("parse CRD %s: %w", file, err)
	}
	apiextensionsv1.SetObjectDefaults_CustomResourceDefinition(external)
	crd := &apiextensions.CustomResourceDefinition{}
	if err := apiextensionsv1.Convert_v1_CustomResourceDefinition_To_apiextensions_CustomResourceDefinition(external, crd, nil); err != nil {
		return fmt.Errorf("convert CRD %s: %w", file, err)
	}

	for _, version := range crd.Spec.Versions {
		if !version.Served {
			continue
		}
		gvk := schema.GroupVersionKind{Group: crd.Spec.Group, Version: version.Name, Kind: crd.Spec.Names.Kind}

		openAPI := crd.Spec.Validation
		if version.Schema != nil {
			openAPI = version.Schema
		}
		if openAPI == nil || openAPI.OpenAPIV3Schema == nil {
			return fmt.Errorf("CRD %s version %s has no schema", file, version.Name)
		}
		structural, err := structuralschema.NewStructural(openAPI.OpenAPIV3Schema)
		if err != nil {
			return fmt.Errorf("CRD %s version %s: schema is not structural: %w", file, version.Name, err)
		}
		validator, _, err := apiextensionsvalidation.NewSchemaValidator(openAPI.OpenAPIV3Schema)
		if err != nil {
			return fmt.Errorf("CRD %s version %s: %w", file, version.Name, err)
		}

		subresources := crd.Spec.Subresources
		if version.Subresources != nil {
			subresources = version.Subresources
		}
		var status *apiextensions.CustomResourceSubresourceStatus
		var scale *apiextensions.CustomResourceSubresourceScale
		if subresources != nil {
			status, scale = subresources.Status, subresources.Scale
		}

		namespaced := crd.Spec.Scope == apiextensions.NamespaceScoped
		strategy := customresource.NewStrategy(nil, namespaced, gvk, validator, nil, structural, status, scale, nil)
		c[gvk] = append(c[gvk], crdVersion{file: file, structural: structural, strategy: strategy})
	}
	return nil
}

// validate runs the create path of a kube-apiserver on a copy of obj against every CRD loaded
// for its kind: unknown fields (which strict field validation rejects), defaulting, then
// validation. It returns one error per CRD that rejects the object.
func (c crdCatalog) validate(obj object) []error {
	gvk := obj.GroupVersionKind()
	versions, ok := c[gvk]
	if !ok {
		return []error{fmt.Errorf("no CRD loaded for %s", gvk)}
	}

	var failures []error
	for _, version := range versions {
		candidate := &unstructured.Unstructured{Object: runtime.DeepCopyJSON(obj.Object)}

		unknown := pruning.PruneWithOptions(candidate.Object, version.structural, true, structuralschema.UnknownFieldPathOptions{TrackUnknownFieldPaths: true})
		if len(unknown) > 0 {
			failures = append(failures, fmt.Errorf("%s %s from %s has fields unknown to %s: %s", gvk.Kind, obj.GetName(), obj.source, filepath.Base(version.file), strings.Join(unknown, ", ")))
			continue
		}

		structuraldefaulting.Default(candidate.Object, version.structural)
		if errs := version.strategy.Validate(context.Background(), candidate); len(errs) > 0 {
			failures = append(failures, fmt.Errorf("%s %s from %s is invalid for %s: %w", gvk.Kind, obj.GetName(), obj.source, filepath.Base(version.file), errs.ToAggregate()))
		}
	}
	return failures
}

var (
	kedaCRDsOnce sync.Once
	kedaCRDs     crdCatalog
	kedaCRDsErr  error

	karpenterCRDsOnce sync.Once
	karpenterCRDs     crdCatalog
	karpenterCRDsErr  error
)

// loadKEDACRDs returns the ScaledObject and TriggerAuthentication CRDs of the KEDA release pinned
// in internal/versions, read from the Go module cache.
func loadKEDACRDs(t *testing.T) crdCatalog {
	t.Helper()
	kedaCRDsOnce.Do(func() {
		dir, err := moduleDir(versions.KEDAModule, versions.KEDA)
		if err != nil {
			kedaCRDsErr = err
			return
		}
		kedaCRDs = crdCatalog{}
		for _, name := range []string{"keda.sh_scaledobjects.yaml", "keda.sh_triggerauthentications.yaml"} {
			if err := kedaCRDs.add(filepath.Join(dir, "config", "crd", "bases", name)); err != nil {
				kedaCRDsErr = err
				return
			}
		}
	})
	require.NoError(t, kedaCRDsErr)
	return kedaCRDs
}

// loadUpstreamKarpenterCRDs returns upstream Karpenter's NodePool CRD from the module of the
// release pinned in internal/versions, which the simulated cluster installs.
func loadUpstreamKarpenterCRDs(t *testing.T) crdCatalog {
	t.Helper()
	karpenterCRDsOnce.Do(func() {
		dir, err := moduleDir(karpenterModule, versions.Karpenter)
		if err != nil {
			karpenterCRDsErr = err
			return
		}
		karpenterCRDs = crdCatalog{}
		karpenterCRDsErr = karpenterCRDs.add(filepath.Join(dir, "pkg", "apis", "crds", "karpenter.sh_nodepools.yaml"))
	})
	require.NoError(t, karpenterCRDsErr)
	return karpenterCRDs
}

// loadAzureKarpenterCRDs returns the NodePool and AKSNodeClass CRDs that AKS node
// autoprovisioning installs, or skips the test when their folder is absent.
func loadAzureKarpenterCRDs(t *testing.T) crdCatalog {
	t.Helper()
	dir := os.Getenv(karpenterAzureCRDsEnv)
	if dir == "" {
		dir = filepath.Join(repoRoot, "..", "shared", "crds", "karpenter-provider-azure")
	}
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("skipping validation against the Azure Karpenter provider's CRDs: %s not found; set %s to a folder with karpenter.sh_nodepools.yaml and karpenter.azure.com_aksnodeclasses.yaml from github.com/Azure/karpenter-provider-azure/pkg/apis/crds", dir, karpenterAzureCRDsEnv)
	}

	catalog := crdCatalog{}
	for _, name := range []string{"karpenter.sh_nodepools.yaml", "karpenter.azure.com_aksnodeclasses.yaml"} {
		require.NoError(t, catalog.add(filepath.Join(dir, name)))
	}
	return catalog
}

// moduleDir downloads a module version into the module cache, if it is not there yet, and
// returns its folder. It runs outside the repository so the repository's go.sum is not touched.
func moduleDir(module, version string) (string, error) {
	scratch, err := os.MkdirTemp("", "chart-moddownload-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(scratch)

	cmd := exec.Command("go", "mod", "download", "-json", module+"@"+version)
	cmd.Dir = scratch
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go mod download %s@%s failed (the module proxy must be reachable once to fill the module cache): %w: %s", module, version, err, strings.TrimSpace(stderr.String()))
	}
	var info struct {
		Dir   string
		Error string
	}
	if err := json.Unmarshal(out, &info); err != nil {
		return "", fmt.Errorf("parse go mod download output for %s@%s: %w", module, version, err)
	}
	if info.Error != "" || info.Dir == "" {
		return "", fmt.Errorf("go mod download %s@%s: %s", module, version, info.Error)
	}
	return info.Dir, nil
}

// restrictedEvaluator runs the Pod Security admission plugin's checks.
var restrictedEvaluator = func() policy.Evaluator {
	evaluator, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
	if err != nil {
		panic(err)
	}
	return evaluator
}()

// restrictedViolations returns the restricted-profile checks (latest version) that the pod
// fails, formatted as the admission plugin formats them.
func restrictedViolations(pod *corev1.Pod) string {
	results := restrictedEvaluator.EvaluatePod(api.LevelVersion{Level: api.LevelRestricted, Version: api.LatestVersion()}, &pod.ObjectMeta, &pod.Spec)
	aggregate := policy.AggregateCheckResults(results)
	if aggregate.Allowed {
		return ""
	}
	return aggregate.ForbiddenDetail()
}
