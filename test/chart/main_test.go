package chart

// This file holds what every chart test shares: the helm binary on PATH, the chart and scenario
// paths, rendering through Terratest's helm module, and the parsed objects that come out of it.

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/gruntwork-io/terratest/modules/helm"
	"github.com/gruntwork-io/terratest/modules/k8s"
	"github.com/gruntwork-io/terratest/modules/logger"
	"github.com/gruntwork-io/terratest/modules/random"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"sigs.k8s.io/yaml"
)

// Scenario names: the ci/<name>-values.yaml files of the chart.
const (
	scenarioAKS  = "aks-workload-identity"
	scenarioKind = "kind-connection-string"
	scenarioSim  = "sim-kwok"
)

// allAPIVersions makes `helm template` behave like a cluster that has every CRD the chart uses.
var allAPIVersions = []string{
	"keda.sh/v1alpha1/ScaledObject",
	"keda.sh/v1alpha1/TriggerAuthentication",
	"karpenter.sh/v1/NodePool",
	"karpenter.azure.com/v1beta1/AKSNodeClass",
}

var (
	repoRoot string
	chartDir string
)

// TestMain finds the repository and puts the go.mod helm tool first on PATH, because Terratest's
// helm module runs the `helm` found there.
func TestMain(m *testing.M) {
	if err := setUp(); err != nil {
		fmt.Fprintf(os.Stderr, "chart tests: %v\n", err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

func setUp() error {
	root, err := findRepoRoot()
	if err != nil {
		return err
	}
	repoRoot = root
	chartDir = filepath.Join(root, "charts", "aks-edw")

	helmPath, err := helmBinary(root)
	if err != nil {
		return err
	}
	return os.Setenv("PATH", filepath.Dir(helmPath)+string(os.PathListSeparator)+os.Getenv("PATH"))
}

// findRepoRoot returns the nearest folder above the working directory that has a go.mod.
func findRepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("get working directory: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod in the working directory or above it: run the tests from the repository")
		}
		dir = parent
	}
}

// helmBinary returns the helm binary to test with: the one in EDW_HELM, else the go.mod tool,
// which `go tool -n` builds once and then finds in Go's build cache.
func helmBinary(root string) (string, error) {
	if path := os.Getenv("EDW_HELM"); path != "" {
		return path, nil
	}
	cmd := exec.Command("go", "tool", "-n", "helm")
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("locate helm with `go tool -n helm`: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	path := strings.TrimSpace(string(out))
	if filepath.Base(path) != "helm" {
		return "", fmt.Errorf("`go tool -n helm` printed %q, expected the path of a binary named helm: set EDW_HELM to a helm binary", path)
	}
	return path, nil
}

// scenarioFile returns the path of the chart's ci/<scenario>-values.yaml.
func scenarioFile(scenario string) string {
	return filepath.Join(chartDir, "ci", scenario+"-values.yaml")
}

// scenarios lists the chart's ci scenarios, so a new ci file is tested without editing a list.
func scenarios(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(chartDir, "ci", "*-values.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, files, "no ci/*-values.yaml in %s", chartDir)

	names := make([]string, 0, len(files))
	for _, file := range files {
		names = append(names, strings.TrimSuffix(filepath.Base(file), "-values.yaml"))
	}
	return names
}

// render describes one `helm template` run.
type render struct {
	// scenario names a ci values file; empty means only the chart's values.yaml and the values below.
	scenario string
	// values are --set expressions, types inferred as helm does.
	values map[string]string
	// stringValues are --set-string expressions.
	stringValues map[string]string
	// jsonValues are --set-json expressions.
	jsonValues map[string]string
	// valuesFiles are extra -f files, after the scenario's.
	valuesFiles []string
	// apiVersions are passed as --api-versions; nil means allAPIVersions, so the CRD check passes.
	apiVersions []string
}

// release is a rendered chart: its release and namespace names and its objects in output order.
type release struct {
	name      string
	namespace string
	objects   []object
}

// object is one rendered manifest and the template it came from.
type object struct {
	source string
	*unstructured.Unstructured
}

// renderE runs `helm template` with a unique release and namespace name and parses its output.
func renderE(t *testing.T, r render) (release, error) {
	t.Helper()
	rel := release{
		name:      "edw-" + strings.ToLower(random.UniqueId()),
		namespace: "ns-" + strings.ToLower(random.UniqueId()),
	}

	var files []string
	if r.scenario != "" {
		files = append(files, scenarioFile(r.scenario))
	}
	files = append(files, r.valuesFiles...)

	apiVersions := r.apiVersions
	if apiVersions == nil {
		apiVersions = allAPIVersions
	}
	var extraArgs []string
	for _, apiVersion := range apiVersions {
		extraArgs = append(extraArgs, "--api-versions", apiVersion)
	}

	options := &helm.Options{
		ValuesFiles:    files,
		SetValues:      r.values,
		SetStrValues:   r.stringValues,
		SetJsonValues:  r.jsonValues,
		KubectlOptions: k8s.NewKubectlOptions("", "", rel.namespace),
		Logger:         logger.Discard,
	}
	out, err := helm.RenderTemplateE(t, options, chartDir, rel.name, nil, extraArgs...)
	if err != nil {
		return rel, err
	}

	objects, err := parseManifests(out)
	if err != nil {
		return rel, err
	}
	rel.objects = objects
	return rel, nil
}

// renderChart is renderE for renders that must succeed.
func renderChart(t *testing.T, r render) release {
	t.Helper()
	rel, err := renderE(t, r)
	require.NoError(t, err, "helm template failed for %+v", r)
	return rel
}

// parseManifests splits helm's output into objects, keeping the `# Source:` line of each.
func parseManifests(out string) ([]object, error) {
	var objects []object
	for _, document := range strings.Split(out, "\n---\n") {
		source := ""
		for _, line := range strings.Split(document, "\n") {
			if rest, ok := strings.CutPrefix(line, "# Source: "); ok {
				source = rest
				break
			}
		}

		// The apiserver decodes JSON with whole numbers as int64, as k8s.io/apimachinery's
		// json.Unmarshal does; a plain YAML decoder would give float64 and hide integer type errors.
		data, err := yaml.YAMLToJSON([]byte(document))
		if err != nil {
			return nil, fmt.Errorf("parse manifest from %s: %w", source, err)
		}
		content := map[string]any{}
		if err := utiljson.Unmarshal(data, &content); err != nil {
			return nil, fmt.Errorf("parse manifest from %s: %w", source, err)
		}
		if len(content) == 0 {
			continue
		}
		objects = append(objects, object{source: source, Unstructured: &unstructured.Unstructured{Object: content}})
	}
	return objects, nil
}

// find returns the only object of the kind, failing the test when there is not exactly one.
func (r release) find(t *testing.T, kind string) object {
	t.Helper()
	found := r.all(kind)
	require.Len(t, found, 1, "expected one %s in the rendered chart, found %d", kind, len(found))
	return found[0]
}

// all returns every object of the kind.
func (r release) all(kind string) []object {
	var found []object
	for _, obj := range r.objects {
		if obj.GetKind() == kind {
			found = append(found, obj)
		}
	}
	return found
}

// kinds returns the kinds of the objects in output order.
func (r release) kinds() []string {
	kinds := make([]string, 0, len(r.objects))
	for _, obj := range r.objects {
		kinds = append(kinds, obj.GetKind())
	}
	return kinds
}

// field returns the value at a dotted path such as "spec.template.spec", failing the test when
// a step is missing. List elements are addressed by index, as in "triggers.0.metadata".
func (o object) field(t *testing.T, path string) any {
	t.Helper()
	value, ok := lookup(o.Object, path)
	require.True(t, ok, "%s %s has no field %s", o.GetKind(), o.GetName(), path)
	return value
}

// has reports whether the object has a value at the dotted path.
func (o object) has(path string) bool {
	_, ok := lookup(o.Object, path)
	return ok
}

func lookup(value any, path string) (any, bool) {
	for _, step := range strings.Split(path, ".") {
		switch node := value.(type) {
		case map[string]any:
			next, ok := node[step]
			if !ok {
				return nil, false
			}
			value = next
		case []any:
			index, err := strconv.Atoi(step)
			if err != nil || index < 0 || index >= len(node) {
				return nil, false
			}
			value = node[index]
		default:
			return nil, false
		}
	}
	return value, true
}
