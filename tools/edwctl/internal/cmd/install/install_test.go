// This file tests the lifecycle commands' flag handling without a cluster. Invalid flags are
// usage errors that name the flag. Preflight against an unreachable API server prints one failed
// line and skips the rest.
package install

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/aks-edw/aks-edw/internal/config"
)

// closedKubeconfig writes a kubeconfig whose API server is a loopback port where nothing
// listens.
func closedKubeconfig(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kubeconfig")
	content := `apiVersion: v1
kind: Config
clusters:
- name: closed
  cluster: {server: "https://127.0.0.1:1"}
users:
- name: nobody
  user: {token: none}
contexts:
- name: closed
  context: {cluster: closed, user: nobody}
current-context: closed
`
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
	return path
}

func findCommand(t *testing.T, name string) *cobra.Command {
	t.Helper()
	for _, command := range NewCommands() {
		if command.Name() == name {
			return command
		}
	}
	t.Fatalf("no %s command", name)
	return nil
}

func run(t *testing.T, name string, args ...string) (string, error) {
	t.Helper()
	command := findCommand(t, name)
	// The root command sets these for every subcommand.
	command.SilenceUsage, command.SilenceErrors = true, true
	var out bytes.Buffer
	command.SetOut(&out)
	command.SetErr(&out)
	command.SetArgs(args)
	err := command.Execute()
	return out.String(), err
}

func TestCommandsAreRegistered(t *testing.T) {
	var names []string
	for _, command := range NewCommands() {
		names = append(names, command.Name())
	}
	assert.Equal(t, []string{"preflight", "install", "upgrade", "uninstall"}, names)
}

func TestPreflightUnreachableCluster(t *testing.T) {
	output, err := run(t, "preflight", "--kubeconfig", closedKubeconfig(t), "--outputs", "",
		"--set", "auth.mode=connectionString", "--set", "storage.queueName=orders", "--set", "storage.tableName=orderrows",
		"--set-string", "auth.connectionString.value=UseDevelopmentStorage=true")

	require.Error(t, err)
	assert.Contains(t, err.Error(), "1 check(s) failed")
	lines := strings.Split(strings.TrimSpace(output), "\n")
	require.Len(t, lines, 2, output)
	assert.True(t, strings.HasPrefix(lines[0], "FAIL cluster: API server https://127.0.0.1:1 unreachable"), lines[0])
	assert.Contains(t, lines[0], "fix: check --kubeconfig and --context")
	assert.Equal(t, "skip other checks: not run because the API server is unreachable", lines[1])
}

func TestInvalidFlagsAreUsageErrors(t *testing.T) {
	kubeconfig := closedKubeconfig(t)
	cases := []struct {
		name    string
		command string
		args    []string
		message string
	}{
		{"outputs file missing", "install", []string{"--outputs", "/no/such/outputs.json"}, "--outputs /no/such/outputs.json"},
		{"install timeout zero", "install", []string{"--timeout", "0s"}, "--timeout 0s is not positive"},
		{"uninstall timeout negative", "uninstall", []string{"--timeout", "-1m"}, "--timeout -1m0s is not positive"},
		{"log level unknown", "preflight", []string{"--log-level", "loud"}, `--log-level: invalid log level "loud"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := run(t, tc.command, append([]string{"--kubeconfig", kubeconfig}, tc.args...)...)

			require.Error(t, err)
			assert.True(t, config.IsUsage(err), "%v is a usage error", err)
			assert.Contains(t, err.Error(), tc.message)
		})
	}
}

func TestInvalidSetExpressionNamesIt(t *testing.T) {
	_, err := run(t, "install", "--kubeconfig", closedKubeconfig(t), "--outputs", "", "--set", "storage.queueName")

	require.Error(t, err)
	assert.Contains(t, err.Error(), `invalid --set "storage.queueName"`)
}

func TestMissingKubeconfigNamesFix(t *testing.T) {
	t.Log("Pointing HOME and KUBECONFIG at an empty directory so no kubeconfig exists")
	t.Setenv("HOME", t.TempDir())
	t.Setenv("KUBECONFIG", "")
	values := []string{"--outputs", "", "--set", "auth.mode=connectionString", "--set", "storage.queueName=orders",
		"--set", "storage.tableName=orderrows", "--set-string", "auth.connectionString.value=UseDevelopmentStorage=true"}

	for _, args := range [][]string{
		append([]string{"--dry-run"}, values...),
		append([]string{"--skip-preflight"}, values...),
	} {
		t.Run(args[0], func(t *testing.T) {
			_, err := run(t, "install", args...)

			require.Error(t, err)
			assert.Contains(t, err.Error(), "no kubeconfig found")
			assert.NotContains(t, err.Error(), "KUBERNETES_MASTER")
			assert.NotContains(t, err.Error(), "localhost:8080")
		})
	}
}
