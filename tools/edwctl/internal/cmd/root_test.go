package cmd

// This file tests edwctl's exit statuses through Main: usage errors exit 2 and point to the
// command's help, and status against an API server that nothing listens on exits 1 with one
// line that names the server.

import (
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// runMain runs Main with args and returns the exit status and what it wrote to stdout and
// stderr.
func runMain(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	stdoutFile, err := os.Create(filepath.Join(t.TempDir(), "stdout"))
	require.NoError(t, err)
	stderrFile, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	require.NoError(t, err)

	savedStdout, savedStderr := os.Stdout, os.Stderr
	os.Stdout, os.Stderr = stdoutFile, stderrFile
	status := Main(args)
	os.Stdout, os.Stderr = savedStdout, savedStderr

	read := func(file *os.File) string {
		_, err := file.Seek(0, io.SeekStart)
		require.NoError(t, err)
		content, err := io.ReadAll(file)
		require.NoError(t, err)
		require.NoError(t, file.Close())
		return string(content)
	}
	return status, read(stdoutFile), read(stderrFile)
}

// closedPortKubeconfig writes a kubeconfig whose server is a loopback port that was just
// closed, so connections to it are refused.
func closedPortKubeconfig(t *testing.T) (path, server string) {
	t.Helper()
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	server = "https://" + listener.Addr().String()
	require.NoError(t, listener.Close())

	path = filepath.Join(t.TempDir(), "kubeconfig")
	content := `apiVersion: v1
kind: Config
clusters:
- name: closed
  cluster: {server: "` + server + `"}
users:
- name: nobody
  user: {token: none}
contexts:
- name: closed
  context: {cluster: closed, user: nobody}
current-context: closed
`
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
	return path, server
}

func TestUsageErrorsExitTwo(t *testing.T) {
	cases := []struct {
		name     string
		args     []string
		expected []string
	}{
		{name: "unknown flag", args: []string{"status", "--bogus"}, expected: []string{"unknown flag: --bogus", "run 'edwctl status --help'"}},
		{name: "bad flag value", args: []string{"watch", "--interval", "soon"}, expected: []string{`invalid argument "soon"`, "run 'edwctl watch --help'"}},
		{name: "extra argument", args: []string{"status", "extra"}, expected: []string{`"extra"`, "run 'edwctl status --help'"}},
		{name: "unknown command", args: []string{"bogus"}, expected: []string{`unknown command "bogus"`, "run 'edwctl --help'"}},
		{name: "unknown nested flag", args: []string{"sim", "up", "--bogus"}, expected: []string{"unknown flag: --bogus", "run 'edwctl sim up --help'"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, _, stderr := runMain(t, tc.args...)

			assert.Equal(t, ExitUsage, status)
			for _, expected := range tc.expected {
				assert.Contains(t, stderr, expected)
			}
		})
	}
}

func TestStatusUnreachableClusterExitsOne(t *testing.T) {
	t.Log("Pointing status at a loopback port where nothing listens")
	kubeconfig, server := closedPortKubeconfig(t)

	status, stdout, stderr := runMain(t, "status", "--kubeconfig", kubeconfig, "--no-secret-read")

	assert.Equal(t, 1, status)
	assert.Empty(t, stdout)
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	require.Len(t, lines, 1, stderr)
	assert.Contains(t, lines[0], "API server unreachable: "+server)
	assert.Contains(t, lines[0], "connection refused")
	assert.Contains(t, lines[0], "check --kubeconfig and --context")
	assert.NotContains(t, lines[0], "not found")
}
