package bicep

// This file loads parsed Bicep trees and reads values out of them. pycep-parser turns a
// .bicep file into JSON in which identifiers and string literals are both plain strings,
// so a value is resolved against the file's parameters and variables by name, and
// ${...} interpolations are filled in the same way.

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// Template is one parsed .bicep file.
type Template struct {
	// Path is relative to the bicep directory, with forward slashes (main.bicep,
	// modules/aks.bicep).
	Path string
	Raw  map[string]any
}

// TemplateSet is main.bicep and the modules it calls.
type TemplateSet struct {
	Main    *Template
	Modules map[string]*Template
}

// Resource is one resource declaration with its condition and loop unwrapped.
type Resource struct {
	File        *Template
	Name        string
	Type        string
	Existing    bool
	Conditional bool
	Loop        bool
	Decorators  []any
	Body        map[string]any
}

// Scope resolves identifiers to values inside one template.
type Scope struct {
	Params map[string]any
	Vars   map[string]any
}

// repoRoot returns the module root, found by walking up to go.mod.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatalf("get working directory: %v", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatalf("no go.mod above the test directory")
		}
		dir = parent
	}
}

// parserPython returns the interpreter of the pycep-parser virtualenv, or skips the test.
// EDW_BICEP_PYTHON comes first. Otherwise the virtualenv that the Makefile creates for the
// current requirements file is looked up under EDW_CACHE_DIR.
func parserPython(t *testing.T, root string) string {
	t.Helper()
	if python := os.Getenv("EDW_BICEP_PYTHON"); python != "" {
		if _, err := os.Stat(python); err == nil {
			return python
		}
	}

	requirements, err := os.ReadFile(filepath.Join(root, "tools", "bicep-lint", "requirements-parse.txt"))
	if err != nil {
		t.Fatalf("read the parser requirements: %v", err)
	}
	sum := sha256.Sum256(requirements)
	cache := os.Getenv("EDW_CACHE_DIR")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache", "aks-edw")
	}
	pattern := filepath.Join(cache, "venv", "bicep-parse-py*-"+hex.EncodeToString(sum[:])[:12], "bin", "python")
	matches, _ := filepath.Glob(pattern)
	for _, python := range matches {
		if _, err := os.Stat(filepath.Join(filepath.Dir(filepath.Dir(python)), ".installed")); err == nil {
			return python
		}
	}
	t.Skipf("the pycep-parser virtualenv is missing (looked for %s); create it with `make bicep-venv`", pattern)
	return ""
}

// parseDirs parses every .bicep file below each directory in one parser run and returns
// the trees per directory, keyed by path relative to that directory.
func parseDirs(t *testing.T, dirs ...string) map[string]map[string]*Template {
	t.Helper()
	root := repoRoot(t)
	python := parserPython(t, root)

	args := append([]string{filepath.Join(root, "tools", "bicep-lint", "bicep_lint.py"), "parse", "--json"}, dirs...)
	cmd := exec.Command(python, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("bicep_lint.py parse failed: %v\n%s", err, stderr.String())
	}

	var parsed struct {
		Files map[string]map[string]any `json:"files"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &parsed); err != nil {
		t.Fatalf("decode the parsed trees: %v", err)
	}

	result := make(map[string]map[string]*Template, len(dirs))
	for _, dir := range dirs {
		result[dir] = map[string]*Template{}
	}
	for path, tree := range parsed.Files {
		for _, dir := range dirs {
			rel, err := filepath.Rel(dir, path)
			if err != nil || strings.HasPrefix(rel, "..") {
				continue
			}
			rel = filepath.ToSlash(rel)
			result[dir][rel] = &Template{Path: rel, Raw: tree}
		}
	}
	return result
}

// loadSet parses one bicep directory and returns main.bicep with its modules.
func loadSet(t *testing.T, dir string) *TemplateSet {
	t.Helper()
	return newSet(t, parseDirs(t, dir)[dir])
}

func newSet(t *testing.T, templates map[string]*Template) *TemplateSet {
	t.Helper()
	main, ok := templates["main.bicep"]
	if !ok {
		t.Fatalf("main.bicep was not parsed; parsed files: %v", keys(templates))
	}
	set := &TemplateSet{Main: main, Modules: map[string]*Template{}}
	for path, template := range templates {
		if path != "main.bicep" {
			set.Modules[path] = template
		}
	}
	return set
}

// All returns main.bicep and the modules, sorted by path.
func (s *TemplateSet) All() []*Template {
	all := []*Template{s.Main}
	for _, path := range keys(s.Modules) {
		all = append(all, s.Modules[path])
	}
	return all
}

func (tpl *Template) section(name string) map[string]any {
	section, _ := tpl.Raw[name].(map[string]any)
	return section
}

// Resources returns the file's resource declarations, sorted by symbolic name.
func (tpl *Template) Resources() []Resource {
	section := tpl.section("resources")
	var resources []Resource
	for _, name := range keys(section) {
		raw, _ := section[name].(map[string]any)
		resource := Resource{File: tpl, Name: name}
		resource.Type, _ = raw["type"].(string)
		resource.Existing, _ = raw["existing"].(bool)
		resource.Decorators, _ = raw["decorators"].([]any)
		resource.Body, resource.Conditional, resource.Loop = unwrapConfig(raw["config"])
		resources = append(resources, resource)
	}
	return resources
}

// ModuleCalls returns the `module` declarations of the file, keyed by module path, with
// their params.
func (tpl *Template) ModuleCalls() map[string]map[string]any {
	calls := map[string]map[string]any{}
	for _, raw := range tpl.section("modules") {
		module, _ := raw.(map[string]any)
		path, _ := lookup(module, "detail.path").(string)
		body, _, _ := unwrapConfig(module["config"])
		params, _ := body["params"].(map[string]any)
		calls[path] = params
	}
	return calls
}

// unwrapConfig strips the condition and loop wrappers that pycep puts around a resource or
// module body.
func unwrapConfig(raw any) (body map[string]any, conditional, loop bool) {
	config, _ := raw.(map[string]any)
	for {
		if _, ok := config["loop_type"]; ok {
			loop = true
		}
		if condition, ok := config["condition"]; ok {
			if condition != nil {
				conditional = true
			}
			inner, ok := config["config"].(map[string]any)
			if !ok {
				return config, conditional, loop
			}
			config = inner
			continue
		}
		return config, conditional, loop
	}
}

// ScopeOf returns the scope of a template: parameter defaults, overridden by the values that
// main.bicep passes when the template is a module, resolved in main.bicep's scope.
func (s *TemplateSet) ScopeOf(tpl *Template) Scope {
	scope := Scope{Params: map[string]any{}, Vars: map[string]any{}}
	for name, raw := range tpl.section("parameters") {
		param, _ := raw.(map[string]any)
		scope.Params[name] = param["default"]
	}
	for name, raw := range tpl.section("variables") {
		variable, _ := raw.(map[string]any)
		scope.Vars[name] = variable["value"]
	}
	if tpl == s.Main {
		return scope
	}

	mainScope := s.ScopeOf(s.Main)
	for name, value := range s.Main.ModuleCalls()[tpl.Path] {
		scope.Params[name] = mainScope.Resolve(value)
	}
	return scope
}

var interpolation = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// Resolve returns value with identifiers replaced by the parameter or variable they name
// and simple ${name} interpolations filled in. Anything else is returned as it is.
func (sc Scope) Resolve(value any) any {
	return sc.resolve(value, 0)
}

func (sc Scope) resolve(value any, depth int) any {
	if depth > 10 {
		return value
	}
	text, ok := value.(string)
	if !ok {
		return value
	}
	if param, ok := sc.Params[text]; ok {
		return sc.resolve(param, depth+1)
	}
	if variable, ok := sc.Vars[text]; ok {
		return sc.resolve(variable, depth+1)
	}
	return interpolation.ReplaceAllStringFunc(text, func(match string) string {
		name := interpolation.FindStringSubmatch(match)[1]
		if resolved, ok := sc.resolve(name, depth+1).(string); ok && resolved != name {
			return resolved
		}
		return match
	})
}

// IsParam reports whether value is a bare reference to one of the scope's parameters.
func (sc Scope) IsParam(value any) bool {
	text, ok := value.(string)
	if !ok {
		return false
	}
	_, isParam := sc.Params[text]
	return isParam
}

// lookup walks a dotted path through nested maps. A missing step returns nil.
func lookup(value any, path string) any {
	for _, step := range strings.Split(path, ".") {
		object, ok := value.(map[string]any)
		if !ok {
			return nil
		}
		value, ok = object[step]
		if !ok {
			return nil
		}
	}
	return value
}

// accessorNames flattens a property or nested-resource accessor chain (a.b.c, a::b::c) into
// its identifiers.
func accessorNames(value any) []string {
	switch v := value.(type) {
	case string:
		return []string{v}
	case map[string]any:
		operands, ok := lookup(v, "operator.operands").(map[string]any)
		if !ok {
			return nil
		}
		return append(accessorNames(operands["operand_1"]), accessorNames(operands["operand_2"])...)
	}
	return nil
}

// functionName returns the pycep name of a function call value (guid, unique_string, ...),
// or "" when value is not a function call.
func functionName(value any) string {
	name, _ := lookup(value, "function.type").(string)
	return name
}

// containsFunction reports whether a function with the given pycep name is called anywhere
// inside value.
func containsFunction(value any, name string) bool {
	switch v := value.(type) {
	case map[string]any:
		if functionName(v) == name {
			return true
		}
		for _, inner := range v {
			if containsFunction(inner, name) {
				return true
			}
		}
	case []any:
		for _, inner := range v {
			if containsFunction(inner, name) {
				return true
			}
		}
	}
	return false
}

func jsonText(value any) string {
	encoded, err := json.Marshal(value)
	if err != nil {
		return fmt.Sprintf("%v", value)
	}
	return string(encoded)
}

func keys[V any](m map[string]V) []string {
	names := make([]string, 0, len(m))
	for name := range m {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}
