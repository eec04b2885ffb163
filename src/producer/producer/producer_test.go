// Tests the producer against a real Azurite. It covers the messages it sends (unique ids,
// stamp format, padding, encoding), stopping by count and by duration, the progress line and
// a missing queue. The process test checks that SIGINT stops it cleanly with a summary that
// matches what reached the queue.
package producer_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azqueue"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/aks-edw/aks-edw/internal/azurite"
	"github.com/aks-edw/aks-edw/internal/config"
	"github.com/aks-edw/aks-edw/internal/datapathtest"
	"github.com/aks-edw/aks-edw/internal/message"
	"github.com/aks-edw/aks-edw/internal/storage"
	"github.com/aks-edw/aks-edw/src/producer/producer"
)

var emulator *azurite.Server

func TestMain(m *testing.M) {
	server, err := azurite.Start(context.Background(), azurite.WithInMemory())
	if err != nil {
		fmt.Fprintf(os.Stderr, "starting Azurite: %v\n", err)
		os.Exit(1)
	}
	emulator = server
	code := m.Run()
	_ = server.Stop()
	datapathtest.RemoveBinaries()
	os.Exit(code)
}

func newProducerConfig(t *testing.T) (config.Producer, *storage.Clients) {
	t.Helper()
	names := datapathtest.Names(t, emulator, "prod")
	clients := datapathtest.Clients(t, names)
	cfg := config.DefaultProducer()
	cfg.Storage = names
	cfg.RetryTimeout = 5 * time.Second
	return cfg, clients
}

// drain receives every message of queue and returns their text.
func drain(t *testing.T, queue *azqueue.QueueClient) []string {
	t.Helper()
	return datapathtest.PoisonMessages(t, queue)
}

func TestSendsCountWithUniqueIDs(t *testing.T) {
	for _, encoding := range []message.Encoding{message.Text, message.Base64} {
		t.Run(string(encoding), func(t *testing.T) {
			cfg, clients := newProducerConfig(t)
			cfg.Count = 75
			cfg.Concurrency = 4
			cfg.Encoding = encoding
			cfg.MessageSize = 300

			summary, err := producer.Run(context.Background(), cfg, clients)
			require.NoError(t, err)
			assert.Equal(t, int64(75), summary.Sent)
			assert.Zero(t, summary.Errors)
			assert.False(t, summary.Stopped)

			texts := drain(t, clients.Queue)
			require.Len(t, texts, 75)
			ids := map[string]bool{}
			for _, text := range texts {
				assert.LessOrEqual(t, len(text), 300)
				assert.GreaterOrEqual(t, len(text), 296)
				body, found, err := message.Decode(text, message.Auto)
				require.NoError(t, err)
				assert.Equal(t, encoding, found)
				assert.Regexp(t, `^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-`, body.ID, "UUIDv7")
				assert.Regexp(t, `^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}$`, body.SrcStamp)
				assert.True(t, strings.HasPrefix(body.Msg, "message "))
				ids[body.ID] = true
			}
			assert.Len(t, ids, 75)
		})
	}
}

func TestStopsAfterDuration(t *testing.T) {
	cfg, clients := newProducerConfig(t)
	cfg.Count = 0
	cfg.Duration = 500 * time.Millisecond
	cfg.Rate = 50

	summary, err := producer.Run(context.Background(), cfg, clients)
	require.NoError(t, err)
	assert.Positive(t, summary.Sent)
	assert.False(t, summary.Stopped)
	assert.Equal(t, int32(summary.Sent), datapathtest.ApproximateCount(t, clients.Queue))
}

func TestProgressLine(t *testing.T) {
	cfg, clients := newProducerConfig(t)
	cfg.Count = 20

	var progress bytes.Buffer
	_, err := producer.Run(context.Background(), cfg, clients, producer.WithProgress(&progress, 10*time.Millisecond))
	require.NoError(t, err)
	assert.Contains(t, progress.String(), "\rsent 20/20  errors 0  ")
	assert.True(t, strings.HasSuffix(progress.String(), "\n"))
}

func TestMissingQueueStopsAtOnce(t *testing.T) {
	cfg, clients := newProducerConfig(t)
	cfg.Count = 500
	_, err := clients.Queue.Delete(context.Background(), nil)
	require.NoError(t, err)

	summary, err := producer.Run(context.Background(), cfg, clients)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "QueueNotFound")
	assert.Zero(t, summary.Sent)
	assert.LessOrEqual(t, summary.Errors, int64(cfg.Concurrency), "each worker stops after its first permanent error")
}

func TestProcessStopsOnSIGINT(t *testing.T) {
	cfg, clients := newProducerConfig(t)
	binary := datapathtest.Binary(t, "./src/producer")

	t.Log("Running the producer without a count limit and interrupting it")
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(binary, "--count", "0", "--duration", "1h", "--rate", "200")
	cmd.Env = datapathtest.Env(cfg.Storage)
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	// A killed test binary takes its producer with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	require.NoError(t, cmd.Start())
	require.Eventually(t, func() bool {
		return datapathtest.ApproximateCount(t, clients.Queue) >= 20
	}, time.Minute, 20*time.Millisecond)
	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	require.NoError(t, cmd.Wait(), stderr.String())

	t.Log("The summary counts exactly what reached the queue")
	var sent int
	_, err := fmt.Sscanf(stdout.String(), "sent %d messages in", &sent)
	require.NoError(t, err, stdout.String())
	assert.Contains(t, stdout.String(), ", 0 errors, stopped early")
	assert.Equal(t, int32(sent), datapathtest.ApproximateCount(t, clients.Queue))
}

func TestProcessInvalidRate(t *testing.T) {
	binary := datapathtest.Binary(t, "./src/producer")
	var stderr bytes.Buffer
	cmd := exec.Command(binary, "--rate", "-1")
	cmd.Env = []string{"AZURE_STORAGE_CONNECTION_STRING=UseDevelopmentStorage=true", "AZURE_QUEUE_NAME=orders"}
	cmd.Stderr = &stderr

	err := cmd.Run()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit)
	assert.Equal(t, config.ExitUsage, exit.ExitCode())
	assert.Equal(t, "producer: invalid --rate -1 (EDW_RATE): must be 0 (as fast as possible) or more\n", stderr.String())
}

func TestProcessSASSignatureNotLogged(t *testing.T) {
	binary := datapathtest.Binary(t, "./src/producer")

	t.Log("Running the producer against a closed port until its retries give up")
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(binary, "--queue", "redact", "--count", "1", "--retry-timeout", "2s")
	cmd.Env = []string{"AZURE_STORAGE_CONNECTION_STRING=" + datapathtest.ClosedPortSAS(t)}
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	err := cmd.Run()

	t.Log("A message that was not sent makes the run fail")
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit)
	assert.Equal(t, 1, exit.ExitCode())
	assert.Contains(t, stderr.String(), "1 of 1 messages were not sent")

	t.Log("The retries were logged, without the signature")
	assert.Contains(t, stderr.String(), "retrying storage operation")
	assert.NotContains(t, stderr.String(), "SECRETSIGNATURE")
	assert.NotContains(t, stdout.String(), "SECRETSIGNATURE")
}
