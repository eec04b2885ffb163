// Tests the local run end to end with the pinned Azurite: the summary of a full run, the
// rejection of invalid options, and that an interrupted run stops Azurite and still reports.
package local_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/aks-edw/aks-edw/internal/config"
	"github.com/aks-edw/aks-edw/internal/local"
	"github.com/aks-edw/aks-edw/internal/message"
)

// processesUsing returns the pids whose command line mentions dir.
func processesUsing(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	require.NoError(t, err)
	var pids []string
	for _, entry := range entries {
		cmdline, err := os.ReadFile(filepath.Join("/proc", entry.Name(), "cmdline"))
		if err != nil {
			continue
		}
		if strings.Contains(string(cmdline), dir) {
			pids = append(pids, entry.Name())
		}
	}
	return pids
}

func TestRunFullSummary(t *testing.T) {
	dataDir := t.TempDir()
	options := local.DefaultOptions()
	options.Count = 200
	options.Encoding = message.Base64
	options.DataDir = dataDir

	summary, err := local.Run(context.Background(), options)
	require.NoError(t, err)

	assert.Equal(t, int64(200), summary.Sent)
	assert.Equal(t, int64(200), summary.Processed)
	assert.Equal(t, int64(200), summary.Rows)
	assert.Zero(t, summary.Poisoned)
	assert.False(t, summary.Interrupted)
	assert.Positive(t, summary.ConsumeDuration)

	text := summary.String()
	for _, label := range []string{"sent       200 (", "processed  200 (", "rows       200", "poisoned   0", "messages/s", "duration "} {
		assert.Contains(t, text, label)
	}
	assert.Empty(t, processesUsing(t, dataDir), "Azurite still runs after Run returned")
}

func TestRunRejectsInvalidOptions(t *testing.T) {
	cases := []struct {
		name    string
		adjust  func(*local.Options)
		wantErr string
	}{
		{"zero count", func(o *local.Options) { o.Count = 0 }, "invalid --count 0: must be 1 or more"},
		{"zero concurrency", func(o *local.Options) { o.Concurrency = 0 }, "invalid --concurrency 0: must be 1 to 1024"},
		{"huge concurrency", func(o *local.Options) { o.Concurrency = 100_000_000 }, "invalid --concurrency 100000000: must be 1 to 1024"},
		{"auto encoding", func(o *local.Options) { o.Encoding = message.Auto }, `invalid --encoding "auto": use text or base64`},
		{"oversized messages", func(o *local.Options) { o.MessageSize = 70000 }, "invalid --message-size 70000"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			options := local.DefaultOptions()
			tc.adjust(&options)
			summary, err := local.Run(context.Background(), options)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.wantErr)
			assert.True(t, config.IsUsage(err))
			assert.Zero(t, summary.Duration, "a run that never started has nothing to print")
		})
	}
}

// cancelOnProgress cancels the run at the first progress line with a message sent.
type cancelOnProgress struct{ cancel context.CancelFunc }

func (w cancelOnProgress) Write(p []byte) (int, error) {
	if strings.HasPrefix(string(p), "\rsent ") && !strings.HasPrefix(string(p), "\rsent 0/") {
		w.cancel()
	}
	return len(p), nil
}

func TestRunInterruptedStopsAzurite(t *testing.T) {
	dataDir := t.TempDir()
	options := local.DefaultOptions()
	options.Count = 1_000_000
	options.DataDir = dataDir

	t.Log("Cancelling the run once the producer reports progress, as Ctrl-C does")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	options.Progress = cancelOnProgress{cancel}
	summary, err := local.Run(ctx, options)
	require.ErrorIs(t, err, local.ErrInterrupted)

	assert.True(t, summary.Interrupted)
	assert.Positive(t, summary.Sent)
	assert.Less(t, summary.Sent, int64(options.Count))
	assert.Zero(t, summary.Rows, "the consumer does not start after an interrupt")
	assert.Contains(t, summary.String(), "interrupted before the end")
	assert.Empty(t, processesUsing(t, dataDir), "Azurite still runs after an interrupted run")
}
