// Tests for the build cache: source patches must match exactly once, the cache counts a
// component only once its marker is written, Locate names what is missing, and a real go build
// through runGoBuild reports the packages it compiled.
package build

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSourcePatchApply(t *testing.T) {
	cases := []struct {
		name    string
		content string
		wantErr string
		want    string
	}{
		{name: "one occurrence", content: `addr := fmt.Sprintf(":%v", port)`, want: `addr := fmt.Sprintf("127.0.0.1:%v", port)`},
		{name: "missing", content: `addr := "x"`, wantErr: "found 0"},
		{name: "twice", content: "addr := fmt.Sprintf(\":%v\", port)\naddr := fmt.Sprintf(\":%v\", port)", wantErr: "found 2"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			require.NoError(t, os.WriteFile(filepath.Join(root, "main.go"), []byte(tc.content), 0o644))
			p := sourcePatch{file: "main.go", old: `fmt.Sprintf(":%v", port)`, new: `fmt.Sprintf("127.0.0.1:%v", port)`}

			err := p.apply(root)
			if tc.wantErr != "" {
				assert.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			got, err := os.ReadFile(filepath.Join(root, "main.go"))
			require.NoError(t, err)
			assert.Equal(t, tc.want, string(got))
		})
	}
}

func TestGoBuildName(t *testing.T) {
	assert.Equal(t, "kube-apiserver", binarySource{pkg: "k8s.io/kubernetes/cmd/kube-apiserver"}.goBuildName())
	assert.Equal(t, "server", binarySource{pkg: "go.etcd.io/etcd/server/v3"}.goBuildName())
	assert.Equal(t, "kwokctl", binarySource{pkg: "sigs.k8s.io/kwok/cmd/kwokctl"}.goBuildName())
}

func TestMajorMinor(t *testing.T) {
	major, minor, err := majorMinor("v1.36.3")
	require.NoError(t, err)
	assert.Equal(t, "1", major)
	assert.Equal(t, "36", minor)

	_, _, err = majorMinor("latest")
	assert.ErrorContains(t, err, `"latest"`)
}

func TestCacheNeedsMarker(t *testing.T) {
	b := New(WithCacheDir(t.TempDir()))
	c := component{name: "tool", version: "v1.0.0", files: []string{"tool"}}

	staging, err := b.stagingDir(c)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(staging, "tool"), []byte("#!/bin/sh\n"), 0o755))
	assert.False(t, b.cached(c), "a staging directory is not the cache")

	// A directory with the files but no marker is an interrupted build.
	final := b.componentDir(c)
	require.NoError(t, os.MkdirAll(final, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(final, "tool"), []byte("#!/bin/sh\n"), 0o755))
	assert.False(t, b.cached(c), "files without the marker must not count as cached")

	require.NoError(t, b.install(c, staging, "test"))
	assert.True(t, b.cached(c))
	_, err = os.Stat(staging)
	assert.True(t, os.IsNotExist(err), "install moves the staging directory")
}

func TestInstallRejectsMissingOutput(t *testing.T) {
	b := New(WithCacheDir(t.TempDir()))
	c := component{name: "tool", version: "v1.0.0", files: []string{"tool", "crds"}}
	staging, err := b.stagingDir(c)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(staging, "tool"), nil, 0o755))

	err = b.install(c, staging, "test")
	assert.ErrorContains(t, err, "crds")
	assert.False(t, b.cached(c))
}

func TestLocateNamesMissingComponents(t *testing.T) {
	b := New(WithCacheDir(t.TempDir()))

	_, err := b.Locate()
	require.Error(t, err)
	for _, c := range components() {
		assert.ErrorContains(t, err, c.key())
	}
	assert.ErrorContains(t, err, "edwctl sim build")
}

func TestRunGoBuildReportsPackages(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the go tool")
	}
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module example.test/hello\n\ngo 1.21\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "main.go"), []byte("package main\n\nfunc main() {}\n"), 0o644))
	var progress bytes.Buffer
	b := New(WithCacheDir(t.TempDir()), WithProgress(&progress))
	logPath := filepath.Join(dir, "build.log")

	// -a forces a compile even when the go build cache already has the package.
	err := b.runGoBuild(context.Background(), "hello", dir, logPath, nil, "build", "-a", "-v", "-o", filepath.Join(dir, "hello"), ".")
	require.NoError(t, err)

	_, err = os.Stat(filepath.Join(dir, "hello"))
	assert.NoError(t, err)
	assert.Contains(t, progress.String(), "built    hello:")
	assert.NotContains(t, progress.String(), " 0 packages compiled", "-v output must be counted")
	log, err := os.ReadFile(logPath)
	require.NoError(t, err)
	assert.True(t, strings.Contains(string(log), "example.test/hello"), "the log keeps go's output")
}

func TestRunGoBuildFailureShowsLogTail(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the go tool")
	}
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module example.test/broken\n\ngo 1.21\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "main.go"), []byte("package main\n\nfunc main() { undefinedCall() }\n"), 0o644))
	b := New(WithCacheDir(t.TempDir()))

	err := b.runGoBuild(context.Background(), "broken", dir, filepath.Join(dir, "build.log"), nil, "build", "-o", filepath.Join(dir, "broken"), ".")
	require.Error(t, err)
	assert.ErrorContains(t, err, "broken failed")
	assert.ErrorContains(t, err, "undefinedCall")
}
