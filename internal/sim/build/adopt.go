package build

import (
	"context"
	"debug/buildinfo"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// prebuiltNames maps a cached binary name to its name in a prebuild directory: go build names
// etcd's binary after its main package directory, "server".
var prebuiltNames = map[string]string{"etcd": "server"}

// adoptPrebuilt links or copies the component's binaries from the prebuild directory into the
// cache when every one of them matches the pins. It returns false, without error, when a binary
// is missing or does not match, so the caller builds the component instead.
func (b *Builder) adoptPrebuilt(ctx context.Context, c component) (bool, error) {
	var sources []binarySource
	for _, s := range controlPlaneSources() {
		if s.component.key() == c.key() {
			sources = append(sources, s)
		}
	}
	for _, s := range sources {
		if err := b.checkPrebuilt(ctx, s); err != nil {
			if !errors.Is(err, os.ErrNotExist) {
				b.logger.Info("prebuilt binary not adopted", "binary", s.output, "dir", b.prebuildDir, "reason", err)
			}
			return false, nil
		}
	}

	staging, err := b.stagingDir(c)
	if err != nil {
		return false, err
	}
	for _, s := range sources {
		if err := linkOrCopy(b.prebuiltPath(s), filepath.Join(staging, s.output)); err != nil {
			os.RemoveAll(staging)
			return false, fmt.Errorf("adopt %s: %w", s.output, err)
		}
	}
	if err := b.install(c, staging, "adopted from "+b.prebuildDir); err != nil {
		os.RemoveAll(staging)
		return false, err
	}
	fmt.Fprintf(b.progress, "adopted  %-12s from %s\n", c.name, b.prebuildDir)
	return true, nil
}

func (b *Builder) prebuiltPath(s binarySource) string {
	name := s.output
	if pre, ok := prebuiltNames[name]; ok {
		name = pre
	}
	return filepath.Join(b.prebuildDir, name)
}

// checkPrebuilt verifies a prebuilt binary: its embedded build information names the expected
// main package and module version, and its version output contains the pinned version.
func (b *Builder) checkPrebuilt(ctx context.Context, s binarySource) error {
	path := b.prebuiltPath(s)
	info, err := buildinfo.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read build information of %s: %w", path, err)
	}
	if info.Path != s.pkg {
		return fmt.Errorf("%w: %s was built from %s, want %s", errNotAdoptable, path, info.Path, s.pkg)
	}
	if info.Main.Path != s.module || info.Main.Version != s.version {
		return fmt.Errorf("%w: %s was built from %s@%s, want %s@%s",
			errNotAdoptable, path, info.Main.Path, info.Main.Version, s.module, s.version)
	}
	if len(s.versionArgs) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, s.versionArgs...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%w: %s %s: %v", errNotAdoptable, path, strings.Join(s.versionArgs, " "), err)
	}
	want := strings.TrimPrefix(s.version, "v")
	if !strings.Contains(string(out), want) {
		return fmt.Errorf("%w: %s reports %q, want %s", errNotAdoptable, path, strings.TrimSpace(string(out)), s.version)
	}
	return nil
}

// linkOrCopy hard-links src to dst, copying when the two are on different file systems.
func linkOrCopy(src, dst string) error {
	if err := os.Link(src, dst); err == nil {
		return nil
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
