package build

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// moduleCopyRecipe builds commands inside a writable copy of their own module, using the
// module's go.mod and go.sum exactly as released (including its replace directives).
type moduleCopyRecipe struct {
	component component
	module    string
	version   string
	// binaries maps a main package directory inside the module to the cached binary name.
	binaries map[string]string
	ldflags  string
	// crds are CRD manifests, relative to the module root, copied into the component's crds/.
	crds    []string
	patches []sourcePatch
}

// sourcePatch replaces one exact line fragment in the module copy before building. The build
// fails when old does not occur exactly once, so a new upstream release cannot silently skip it.
type sourcePatch struct {
	file   string
	old    string
	new    string
	reason string
}

func (r moduleCopyRecipe) build(ctx context.Context, b *Builder, _ []component) error {
	m, err := b.downloadModule(ctx, r.module, r.version)
	if err != nil {
		return err
	}

	workDir := b.workDir(r.component.key())
	src := filepath.Join(workDir, "src")
	if err := os.RemoveAll(workDir); err != nil {
		return fmt.Errorf("clean %s: %w", workDir, err)
	}
	fmt.Fprintf(b.progress, "copy     %s@%s to %s\n", r.module, r.version, src)
	if err := copyTree(m.Dir, src); err != nil {
		return fmt.Errorf("copy %s@%s out of the module cache: %w", r.module, r.version, err)
	}
	for _, p := range r.patches {
		if err := p.apply(src); err != nil {
			return fmt.Errorf("patch %s@%s: %w", r.module, r.version, err)
		}
		fmt.Fprintf(b.progress, "patch    %s: %s\n", p.file, p.reason)
	}

	staging, err := b.stagingDir(r.component)
	if err != nil {
		return err
	}
	defer os.RemoveAll(staging)

	out := filepath.Join(workDir, "out")
	if err := os.MkdirAll(out, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", out, err)
	}
	pkgs := make([]string, 0, len(r.binaries))
	for pkg := range r.binaries {
		pkgs = append(pkgs, pkg)
	}
	slices.Sort(pkgs)
	args := append([]string{"build", "-v", "-trimpath", "-ldflags", r.ldflags, "-o", out + string(os.PathSeparator)}, pkgs...)
	label := fmt.Sprintf("%s %s (%s)", r.component.name, r.version, strings.Join(pkgs, ", "))
	if err := b.runGoBuild(ctx, label, src, buildLogPath(workDir), nil, args...); err != nil {
		return err
	}
	for _, pkg := range pkgs {
		built := filepath.Join(out, filepath.Base(pkg))
		if err := os.Rename(built, filepath.Join(staging, r.binaries[pkg])); err != nil {
			return fmt.Errorf("move %s into the cache: %w", r.binaries[pkg], err)
		}
	}

	crdDir := filepath.Join(staging, "crds")
	if err := os.MkdirAll(crdDir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", crdDir, err)
	}
	for _, crd := range r.crds {
		data, err := os.ReadFile(filepath.Join(src, crd))
		if err != nil {
			return fmt.Errorf("read CRD from %s@%s: %w", r.module, r.version, err)
		}
		if err := os.WriteFile(filepath.Join(crdDir, filepath.Base(crd)), data, 0o644); err != nil {
			return fmt.Errorf("copy CRD %s: %w", crd, err)
		}
	}

	recipe := "copy of " + r.module + "@" + r.version
	for _, p := range r.patches {
		recipe += "; patched " + p.file + ": " + p.reason
	}
	return b.install(r.component, staging, recipe)
}

func (p sourcePatch) apply(root string) error {
	path := filepath.Join(root, p.file)
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if n := strings.Count(string(data), p.old); n != 1 {
		return fmt.Errorf("%s: expected exactly one occurrence of %q, found %d; update the patch for this release", p.file, p.old, n)
	}
	return os.WriteFile(path, []byte(strings.Replace(string(data), p.old, p.new, 1)), 0o644)
}

// copyTree copies a module directory, making every copy writable (the module cache is read-only).
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o644)
	})
}
