// Tests the local command's output on invalid flags: the error alone, without an all-zero
// summary before it.
package local_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/aks-edw/aks-edw/internal/config"
	"github.com/aks-edw/aks-edw/tools/edwctl/internal/cmd/local"
)

func TestInvalidFlagsPrintNoSummary(t *testing.T) {
	cases := []struct {
		name string
		args []string
	}{
		{"zero count", []string{"--count", "0"}},
		{"huge concurrency", []string{"--concurrency", "100000000"}},
		{"oversized messages", []string{"--message-size", "70000"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			command := local.NewCommands()[0]
			// The root command sets these, and the test runs the command without it.
			command.SilenceUsage = true
			command.SilenceErrors = true
			var stdout bytes.Buffer
			command.SetOut(&stdout)
			command.SetErr(&bytes.Buffer{})
			command.SetArgs(tc.args)

			err := command.ExecuteContext(context.Background())
			require.Error(t, err)
			assert.True(t, config.IsUsage(err))
			assert.Empty(t, stdout.String())
		})
	}
}
