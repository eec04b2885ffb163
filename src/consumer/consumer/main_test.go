// Starts one Azurite for the consumer's tests and holds their shared helpers. Each test uses
// its own queue, poison queue and table.
package consumer_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aks-edw/aks-edw/internal/azurite"
	"github.com/aks-edw/aks-edw/internal/config"
	"github.com/aks-edw/aks-edw/internal/datapathtest"
	"github.com/aks-edw/aks-edw/internal/logging"
	"github.com/aks-edw/aks-edw/internal/storage"
	"github.com/aks-edw/aks-edw/src/consumer/consumer"
)

var emulator *azurite.Server

func TestMain(m *testing.M) {
	server, err := azurite.Start(context.Background())
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

// syncBuffer is a goroutine-safe log sink whose content tests can search.
type syncBuffer struct {
	mu   sync.Mutex
	data []byte
}

func newSyncBuffer() *syncBuffer { return &syncBuffer{} }

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.data = append(b.data, p...)
	return len(p), nil
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.data)
}

// newConsumer returns a consumer on fresh resources, its clients and its log.
func newConsumer(t *testing.T, adjust func(*config.Consumer)) (*consumer.Consumer, *storage.Clients, *syncBuffer) {
	t.Helper()
	names := datapathtest.Names(t, emulator, "cons")
	clients := datapathtest.Clients(t, names)
	cfg := datapathtest.ConsumerConfig(names)
	if adjust != nil {
		adjust(&cfg)
	}
	require.NoError(t, cfg.Validate())

	logs := newSyncBuffer()
	return consumer.New(cfg, clients, consumer.WithLogger(logging.New(logs, slog.LevelDebug))), clients, logs
}

// newConsumerOn returns another consumer, with default test settings, on the resources of
// clients.
func newConsumerOn(t *testing.T, clients *storage.Clients) *consumer.Consumer {
	t.Helper()
	cfg := datapathtest.ConsumerConfig(clients.Names())
	require.NoError(t, cfg.Validate())
	return consumer.New(cfg, clients)
}

// runUntilEmpty runs c with its --until-empty setting and fails the test if it errs or
// takes over two minutes.
func runUntilEmpty(t *testing.T, c *consumer.Consumer) consumer.Summary {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	summary, err := c.Run(ctx)
	require.NoError(t, err)
	require.NoError(t, ctx.Err(), "the consumer did not stop on an empty queue")
	return summary
}

// startConsumer runs c, which must have UntilEmpty off, in the background until the returned
// stop function is called, which returns Run's result.
func startConsumer(t *testing.T, c *consumer.Consumer) func() (consumer.Summary, error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	type result struct {
		summary consumer.Summary
		err     error
	}
	done := make(chan result, 1)
	go func() {
		summary, err := c.Run(ctx)
		done <- result{summary, err}
	}()
	return func() (consumer.Summary, error) {
		cancel()
		r := <-done
		return r.summary, r.err
	}
}
