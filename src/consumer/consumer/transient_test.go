// Tests that the consumer rides out transient storage failures: HTTP 403 while a new role
// assignment propagates, at startup and while processing, and 503 on receive. A loopback
// proxy in front of Azurite returns the failures, so the real SDK and the real emulator are
// used throughout.
package consumer_test

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/aks-edw/aks-edw/internal/azurite"
	"github.com/aks-edw/aks-edw/internal/config"
	"github.com/aks-edw/aks-edw/internal/datapathtest"
	"github.com/aks-edw/aks-edw/internal/faultproxy"
	"github.com/aks-edw/aks-edw/internal/logging"
	"github.com/aks-edw/aks-edw/internal/message"
	"github.com/aks-edw/aks-edw/internal/storage"
	"github.com/aks-edw/aks-edw/src/consumer/consumer"
)

// baseURL returns scheme://host:port of an Azurite endpoint.
func baseURL(endpoint string) string {
	return strings.TrimSuffix(endpoint, "/"+azurite.AccountName)
}

// proxiedConsumer returns a consumer whose queue and table traffic goes through one fault
// proxy each, with the resources created directly on Azurite.
func proxiedConsumer(t *testing.T, adjust func(*config.Consumer)) (*consumer.Consumer, *storage.Clients, *faultproxy.Proxy, *faultproxy.Proxy, *syncBuffer) {
	t.Helper()
	names := datapathtest.Names(t, emulator, "cons")
	direct := datapathtest.Clients(t, names)

	queueProxy, err := faultproxy.Start(baseURL(emulator.QueueEndpoint))
	require.NoError(t, err)
	t.Cleanup(func() { _ = queueProxy.Close() })
	tableProxy, err := faultproxy.Start(baseURL(emulator.TableEndpoint))
	require.NoError(t, err)
	t.Cleanup(func() { _ = tableProxy.Close() })

	proxied := names
	proxied.ConnectionString = fmt.Sprintf("DefaultEndpointsProtocol=http;AccountName=%s;AccountKey=%s;QueueEndpoint=%s/%s;TableEndpoint=%s/%s;",
		azurite.AccountName, azurite.AccountKey, queueProxy.URL, azurite.AccountName, tableProxy.URL, azurite.AccountName)
	clients, err := storage.New(proxied)
	require.NoError(t, err)

	cfg := datapathtest.ConsumerConfig(proxied)
	if adjust != nil {
		adjust(&cfg)
	}
	require.NoError(t, cfg.Validate())
	logs := newSyncBuffer()
	c := consumer.New(cfg, clients, consumer.WithLogger(logging.New(logs, slog.LevelDebug)))
	return c, direct, queueProxy, tableProxy, logs
}

func TestForbiddenAtStartupRetried(t *testing.T) {
	c, direct, queueProxy, tableProxy, logs := proxiedConsumer(t, nil)
	for i := range 20 {
		datapathtest.EnqueueBody(t, direct.Queue, datapathtest.Body(fmt.Sprintf("rbac-%d", i)), message.Text)
	}

	t.Log("The first requests to the queue and the table get 403 as if the role assignment had not propagated yet")
	queueProxy.FailNext(4, 403, "AuthorizationPermissionMismatch")
	tableProxy.FailNext(4, 403, "AuthorizationPermissionMismatch")

	summary := runUntilEmpty(t, c)
	assert.Equal(t, int64(20), summary.Processed)
	assert.Equal(t, int64(4), queueProxy.Injected())
	assert.Equal(t, int64(4), tableProxy.Injected())
	assert.Len(t, datapathtest.Rows(t, direct.Table), 20)

	retries := strings.Count(logs.String(), `"msg":"retrying storage operation"`)
	assert.Equal(t, 8, retries, "each 403 is logged once as a retry")
	assert.Contains(t, logs.String(), `"reason":"authorization failed (HTTP 403), retried because a new role assignment can take minutes to take effect; with a connection string, check its key or SAS"`)
	assert.Contains(t, logs.String(), `"attempt":4`)
	assert.NotContains(t, logs.String(), azurite.AccountKey[:20], "the account key reached the log")
}

func TestFailuresWhileProcessingRetried(t *testing.T) {
	c, direct, queueProxy, tableProxy, logs := proxiedConsumer(t, func(cfg *config.Consumer) { cfg.UntilEmpty = false })

	t.Log("Starting the consumer, then making row writes fail with 403 and receives with 503")
	stop := startConsumer(t, c)
	require.Eventually(t, func() bool { return strings.Contains(logs.String(), `"msg":"consumer starting"`) }, 30*time.Second, 20*time.Millisecond)
	require.Eventually(t, func() bool { return tableProxy.Forwarded() > 0 }, 30*time.Second, 20*time.Millisecond, "startup check never reached the table")
	tableProxy.FailNext(5, 403, "AuthorizationPermissionMismatch")
	queueProxy.FailNext(3, 503, "ServerBusy")

	for i := range 10 {
		datapathtest.EnqueueBody(t, direct.Queue, datapathtest.Body(fmt.Sprintf("midrun-%d", i)), message.Text)
	}
	require.Eventually(t, func() bool { return c.Summary().Processed == 10 }, time.Minute, 50*time.Millisecond)
	summary, err := stop()
	require.NoError(t, err)

	assert.Zero(t, summary.Failed)
	assert.Zero(t, summary.Poisoned)
	assert.Equal(t, int64(5), tableProxy.Injected())
	assert.Equal(t, int64(3), queueProxy.Injected())
	assert.Len(t, datapathtest.Rows(t, direct.Table), 10)
	assert.Zero(t, datapathtest.ApproximateCount(t, direct.Queue))
	assert.Contains(t, logs.String(), `"operation":"upsert row"`)
	assert.Contains(t, logs.String(), `"reason":"HTTP 503, server error"`)
}

func TestForbiddenBeyondRetryTimeoutFails(t *testing.T) {
	c, _, queueProxy, _, _ := proxiedConsumer(t, func(cfg *config.Consumer) {
		cfg.RetryTimeout = time.Second
	})

	t.Log("403 never stops: after the retry timeout the startup check fails with the fix")
	queueProxy.FailNext(1_000_000, 403, "AuthorizationPermissionMismatch")
	summary, err := c.Run(t.Context())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "access denied")
	assert.Contains(t, err.Error(), "the AccountKey in AZURE_STORAGE_CONNECTION_STRING is wrong", "the test's clients use Azurite's shared key")
	assert.Zero(t, summary.Processed)
	assert.Greater(t, queueProxy.Injected(), int64(1))
}
