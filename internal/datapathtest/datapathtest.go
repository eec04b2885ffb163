// Package datapathtest holds helpers for tests of the data path against a real Azurite. It
// makes unique resource names and clients with the resources created, reads rows and poison
// records back, and builds the producer and consumer binaries for tests that need real
// processes. Only tests import it.
package datapathtest

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azqueue"
	"github.com/stretchr/testify/require"

	"github.com/aks-edw/aks-edw/internal/azurite"
	"github.com/aks-edw/aks-edw/internal/config"
	"github.com/aks-edw/aks-edw/internal/message"
	"github.com/aks-edw/aks-edw/internal/retry"
	"github.com/aks-edw/aks-edw/internal/storage"
)

var counter atomic.Int64

// Names returns storage settings for emulator with a queue, poison queue and table that no
// other test uses. prefix is 2 to 8 lowercase letters naming the test's package.
func Names(t testing.TB, emulator *azurite.Server, prefix string) config.Storage {
	t.Helper()
	suffix := fmt.Sprintf("%d%d", time.Now().UnixNano()%10_000_000, counter.Add(1))
	return config.Storage{
		ConnectionString: emulator.ConnectionString(),
		EndpointSuffix:   config.DefaultEndpointSuffix,
		AuthMode:         config.AuthAuto,
		QueueName:        prefix + "-" + suffix,
		PoisonQueueName:  prefix + "-" + suffix + "-poison",
		TableName:        prefix + suffix,
	}
}

// Clients builds clients for names and creates the queue, poison queue and table.
func Clients(t testing.TB, names config.Storage) *storage.Clients {
	t.Helper()
	clients, err := storage.New(names)
	require.NoError(t, err)
	require.NoError(t, clients.CreateResources(context.Background(), retry.DefaultPolicy(10*time.Second, slog.New(slog.DiscardHandler))))
	return clients
}

// ConsumerConfig returns the consumer defaults for names with --until-empty on, the HTTP
// server on a free loopback port and a short idle timeout so runs end quickly.
func ConsumerConfig(names config.Storage) config.Consumer {
	cfg := config.DefaultConsumer()
	cfg.Storage = names
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.UntilEmpty = true
	cfg.IdleTimeout = time.Second
	cfg.MaxBackoff = 500 * time.Millisecond
	cfg.RetryTimeout = 20 * time.Second
	return cfg
}

// Enqueue sends text to queue as it is.
func Enqueue(t testing.TB, queue *azqueue.QueueClient, text string) {
	t.Helper()
	_, err := queue.EnqueueMessage(context.Background(), text, nil)
	require.NoError(t, err)
}

// EnqueueBody encodes body and sends it to queue.
func EnqueueBody(t testing.TB, queue *azqueue.QueueClient, body message.Body, encoding message.Encoding) {
	t.Helper()
	text, err := message.Encode(body, encoding)
	require.NoError(t, err)
	Enqueue(t, queue, text)
}

// Body returns a valid body with id and the current time as srcStamp.
func Body(id string) message.Body {
	return message.Body{ID: id, Msg: "payload of " + id, SrcStamp: message.FormatStamp(time.Now())}
}

// ApproximateCount returns the queue's approximate message count, visible and invisible.
func ApproximateCount(t testing.TB, queue *azqueue.QueueClient) int32 {
	t.Helper()
	props, err := queue.GetProperties(context.Background(), nil)
	require.NoError(t, err)
	require.NotNil(t, props.ApproximateMessagesCount)
	return *props.ApproximateMessagesCount
}

// Row is the part of a table row the tests read.
type Row struct {
	PartitionKey   string `json:"PartitionKey"`
	RowKey         string `json:"RowKey"`
	Data           string `json:"data"`
	SrcStamp       string `json:"srcStamp"`
	DateStamp      string `json:"dateStamp"`
	MessageID      string `json:"messageId"`
	QueueMessageID string `json:"queueMessageId"`
	DequeueCount   int64  `json:"dequeueCount"`
	Encoding       string `json:"encoding"`
}

// Rows returns every row of table.
func Rows(t testing.TB, table *aztables.Client) []Row {
	t.Helper()
	var rows []Row
	pager := table.NewListEntitiesPager(nil)
	for pager.More() {
		page, err := pager.NextPage(context.Background())
		require.NoError(t, err)
		for _, entity := range page.Entities {
			var row Row
			require.NoError(t, json.Unmarshal(entity, &row))
			rows = append(rows, row)
		}
	}
	return rows
}

// PoisonMessages receives every message of the poison queue, leaves them invisible for a
// minute, and returns their text.
func PoisonMessages(t testing.TB, poison *azqueue.QueueClient) []string {
	t.Helper()
	var texts []string
	count := int32(32)
	visibility := int32(60)
	for {
		response, err := poison.DequeueMessages(context.Background(), &azqueue.DequeueMessagesOptions{NumberOfMessages: &count, VisibilityTimeout: &visibility})
		require.NoError(t, err)
		if len(response.Messages) == 0 {
			return texts
		}
		for _, m := range response.Messages {
			texts = append(texts, *m.MessageText)
		}
	}
}

// PoisonRecords is PoisonMessages decoded as poison records.
func PoisonRecords(t testing.TB, poison *azqueue.QueueClient) []message.PoisonRecord {
	t.Helper()
	var records []message.PoisonRecord
	for _, text := range PoisonMessages(t, poison) {
		record, err := message.DecodePoison(text)
		require.NoError(t, err)
		records = append(records, record)
	}
	return records
}

var (
	buildMu    sync.Mutex
	buildCache = map[string]string{}
	buildDir   string
)

// Binary builds the main package pkg (for example "./src/consumer", relative to the
// repository root) once per test process and returns the executable's path.
func Binary(t testing.TB, pkg string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if path, ok := buildCache[pkg]; ok {
		return path
	}

	root, err := azurite.RepoRoot()
	require.NoError(t, err)
	if buildDir == "" {
		buildDir, err = os.MkdirTemp("", "datapath-bin-")
		require.NoError(t, err)
	}
	path := filepath.Join(buildDir, filepath.Base(pkg))

	t.Logf("Building %s", pkg)
	cmd := exec.Command("go", "build", "-o", path, pkg)
	cmd.Dir = root
	output, err := cmd.CombinedOutput()
	require.NoError(t, err, "go build %s: %s", pkg, output)
	buildCache[pkg] = path
	return path
}

// RemoveBinaries deletes what Binary built. Call it from TestMain after the tests.
func RemoveBinaries() {
	buildMu.Lock()
	defer buildMu.Unlock()
	if buildDir != "" {
		_ = os.RemoveAll(buildDir)
	}
}

// Env returns the environment for a producer or consumer process that uses names.
func Env(names config.Storage, extra ...string) []string {
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + os.Getenv("HOME"),
		"AZURE_STORAGE_CONNECTION_STRING=" + names.ConnectionString,
		"AZURE_QUEUE_NAME=" + names.QueueName,
		"EDW_POISON_QUEUE_NAME=" + names.PoisonQueueName,
		"AZURE_TABLE_NAME=" + names.TableName,
	}
	return append(env, extra...)
}

// SASSignature is the signature in ClosedPortSAS's connection string, for tests that check
// it never reaches a log line or an error.
const SASSignature = "SECRETSIGNATUREdoNotLog0123456789%3D"

// ClosedPortSAS returns a SAS connection string whose endpoints point at a loopback port
// that was free a moment ago, so every request fails with "connection refused".
func ClosedPortSAS(t testing.TB) string {
	t.Helper()
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := listener.Addr().String()
	require.NoError(t, listener.Close())

	return fmt.Sprintf("QueueEndpoint=http://%[1]s/devstoreaccount1;TableEndpoint=http://%[1]s/devstoreaccount1;"+
		"SharedAccessSignature=sv=2023-11-03&ss=qt&srt=sco&sp=rwdlacup&se=2099-01-01T00:00:00Z&sig=%[2]s",
		addr, SASSignature)
}
