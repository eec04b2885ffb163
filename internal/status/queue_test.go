// This file tests the queue depth reader against a real Azurite: the approximate count includes
// invisible messages, a missing queue is an error naming it, and a bad connection string is
// rejected without echoing any part of it.
package status

import (
	"context"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azqueue"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/client-go/rest"

	"github.com/aks-edw/aks-edw/internal/azurite"
)

func TestQueueReaderCountsInvisibleMessages(t *testing.T) {
	ctx := context.Background()
	server, err := azurite.Start(ctx, azurite.WithInMemory())
	require.NoError(t, err)
	defer func() { _ = server.Stop() }()

	t.Log("Enqueue three messages, then receive one so it turns invisible.")
	queue, err := azqueue.NewQueueClientFromConnectionString(server.ConnectionString(), "depth-test", nil)
	require.NoError(t, err)
	_, err = queue.Create(ctx, nil)
	require.NoError(t, err)
	for _, body := range []string{"a", "b", "c"} {
		_, err = queue.EnqueueMessage(ctx, body, nil)
		require.NoError(t, err)
	}
	visibility := int32(60)
	received, err := queue.DequeueMessage(ctx, &azqueue.DequeueMessageOptions{VisibilityTimeout: &visibility})
	require.NoError(t, err)
	require.Len(t, received.Messages, 1)

	reader, err := NewQueueReader(StorageSettings{ConnectionString: server.ConnectionString()}, "depth-test", "depth-test-poison", nil)
	require.NoError(t, err)

	depth, err := reader.ApproximateMessageCount(ctx, "depth-test")
	require.NoError(t, err)
	assert.Equal(t, int64(3), depth, "the approximate count includes the invisible message")

	t.Log("A queue that does not exist is an error that names it.")
	_, err = reader.ApproximateMessageCount(ctx, "no-such-queue")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no-such-queue")
}

func TestQueueReaderErrors(t *testing.T) {
	cases := []struct {
		name     string
		settings StorageSettings
		message  string
		secret   string
	}{
		{name: "no account at all", settings: StorageSettings{}, message: "AZURE_STORAGE_CONNECTION_STRING"},
		{
			name:     "key not base64",
			settings: StorageSettings{ConnectionString: "AccountName=acct;AccountKey=sec%ret-value"},
			message:  "AccountKey is not valid base64",
			secret:   "sec%ret-value",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewQueueReader(tc.settings, "orders", "orders-poison", nil)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.message)
			if tc.secret != "" {
				assert.NotContains(t, err.Error(), tc.secret)
			}
		})
	}
}

func TestWatchStopsOnCancel(t *testing.T) {
	t.Log("Watch against a closed API server still takes snapshots, one per interval, and returns nil on cancel.")
	collector, err := NewCollector(WithRESTConfig(closedAPIServer()), WithQueueNames("orders", ""))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	var timeline Timeline

	go func() {
		for {
			if len(timeline.Points()) >= 2 {
				cancel()
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	err = collector.Watch(ctx, 50*time.Millisecond, func(s Snapshot) { timeline.Add(s) })

	require.NoError(t, err)
	last, ok := timeline.Last()
	require.True(t, ok)
	assert.Contains(t, last.Errors, "Deployment:")
	assert.Equal(t, int64(-1), last.Depth)
}

func TestWatchRejectsZeroInterval(t *testing.T) {
	collector, err := NewCollector(WithRESTConfig(closedAPIServer()))
	require.NoError(t, err)

	err = collector.Watch(context.Background(), 0, func(Snapshot) {})

	require.Error(t, err)
	assert.Contains(t, err.Error(), "not positive")
}

// closedAPIServer points at a loopback port where nothing listens, so every Kubernetes read
// fails at once.
func closedAPIServer() *rest.Config {
	return &rest.Config{Host: "https://127.0.0.1:1"}
}
