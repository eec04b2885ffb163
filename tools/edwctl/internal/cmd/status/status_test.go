// This file tests the status commands' flag checks, which run before any cluster is contacted.
package status

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/aks-edw/aks-edw/internal/config"
)

func TestCommandsAreRegistered(t *testing.T) {
	commands := NewCommands()

	require.Len(t, commands, 2)
	assert.Equal(t, "status", commands[0].Name())
	assert.Equal(t, "watch", commands[1].Name())
}

func TestInvalidFlagsAreUsageErrors(t *testing.T) {
	cases := []struct {
		name    string
		command int
		args    []string
		message string
	}{
		{"watch interval zero", 1, []string{"--interval", "0s"}, "--interval 0s is not positive"},
		{"status log level unknown", 0, []string{"--log-level", "loud"}, `--log-level: invalid log level "loud"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			command := NewCommands()[tc.command]
			command.SilenceUsage, command.SilenceErrors = true, true
			command.SetArgs(tc.args)

			err := command.Execute()

			require.Error(t, err)
			assert.True(t, config.IsUsage(err), "%v is a usage error", err)
			assert.Contains(t, err.Error(), tc.message)
		})
	}
}
