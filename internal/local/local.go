// Package local runs the whole data path on this machine. It starts Azurite, creates the
// queue, poison queue and table, and runs the producer for a number of messages, then the
// consumer until the queue is empty. It counts the rows and stops Azurite at the end, also
// when the context is cancelled (Ctrl-C).
package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"github.com/aks-edw/aks-edw/internal/azurite"
	"github.com/aks-edw/aks-edw/internal/config"
	"github.com/aks-edw/aks-edw/internal/message"
	"github.com/aks-edw/aks-edw/internal/retry"
	"github.com/aks-edw/aks-edw/internal/storage"
	"github.com/aks-edw/aks-edw/src/consumer/consumer"
	"github.com/aks-edw/aks-edw/src/producer/producer"
)

// Names of the resources the local run creates in its own Azurite.
const (
	QueueName       = "edw-local"
	PoisonQueueName = "edw-local-poison"
	TableName       = "edwlocal"
)

// Options are the settings of a local run.
type Options struct {
	// Count is the number of messages the producer sends.
	Count int
	// Concurrency is the producer's and the consumer's worker count.
	Concurrency int
	// Encoding is the producer's message encoding, text or base64.
	Encoding message.Encoding
	// MessageSize pads each message to this many bytes; 0 means no padding.
	MessageSize int
	// Logger receives the producer's, the consumer's and Azurite's progress logs.
	Logger *slog.Logger
	// Progress, when set, receives the producer's status line, for a terminal.
	Progress io.Writer
	// DataDir keeps Azurite's files there. Empty means a temporary directory removed at the
	// end.
	DataDir string
}

// DefaultOptions returns 1000 text messages with 16 workers.
func DefaultOptions() Options {
	return Options{Count: 1000, Concurrency: 16, Encoding: message.Text}
}

// Validate checks the options and returns a *config.UsageError naming the flag to fix.
func (o Options) Validate() error {
	switch {
	case o.Count < 1:
		return config.Invalid("invalid --count %d: must be 1 or more", o.Count)
	case o.Concurrency < 1 || o.Concurrency > config.MaxConcurrency:
		return config.Invalid("invalid --concurrency %d: must be 1 to %d", o.Concurrency, config.MaxConcurrency)
	case o.Encoding != message.Text && o.Encoding != message.Base64:
		return config.Invalid("invalid --encoding %q: use text or base64", o.Encoding)
	case o.MessageSize < 0 || o.MessageSize > message.MaxSize:
		return config.Invalid("invalid --message-size %d: must be 0 to %d", o.MessageSize, message.MaxSize)
	}
	return nil
}

// ErrInterrupted is the error of a run that the context cancelled (Ctrl-C or SIGTERM). The
// summary returned with it contains the partial counts.
var ErrInterrupted = errors.New("interrupted (Ctrl-C or SIGTERM) before the end: the counts above are partial")

// Summary is the outcome of a local run. Duration is zero when the run failed before it
// counted the rows, and then the summary is not worth printing.
type Summary struct {
	Sent      int64
	Processed int64
	Rows      int64
	Poisoned  int64
	// ProduceDuration is the producer's run. ConsumeDuration runs from the consumer's start
	// to its last message, without the idle wait that ends it. Duration is the whole run,
	// Azurite's start and stop included.
	ProduceDuration time.Duration
	ConsumeDuration time.Duration
	Duration        time.Duration
	Interrupted     bool
}

// String formats the summary as a small table.
func (s Summary) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "sent       %d (%.0f messages/s)\n", s.Sent, perSecond(s.Sent, s.ProduceDuration))
	fmt.Fprintf(&b, "processed  %d (%.0f messages/s)\n", s.Processed, perSecond(s.Processed, s.ConsumeDuration))
	fmt.Fprintf(&b, "rows       %d\n", s.Rows)
	fmt.Fprintf(&b, "poisoned   %d\n", s.Poisoned)
	fmt.Fprintf(&b, "duration   %s (produce %s, consume %s)\n", s.Duration.Round(time.Millisecond),
		s.ProduceDuration.Round(time.Millisecond), s.ConsumeDuration.Round(time.Millisecond))
	if s.Interrupted {
		b.WriteString("interrupted before the end\n")
	}
	return b.String()
}

func perSecond(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// Run performs a local run and returns its summary. It returns an error when a step fails,
// ErrInterrupted when ctx is cancelled, or an error when the table does not hold one row per
// message sent.
func Run(ctx context.Context, o Options) (Summary, error) {
	if err := o.Validate(); err != nil {
		return Summary{}, err
	}
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	start := time.Now()
	var summary Summary

	logger.Info("starting Azurite")
	// Azurite outlives ctx until the deferred Stop, so an interrupted run can still count rows.
	var azuriteOptions []azurite.Option
	if o.DataDir != "" {
		azuriteOptions = append(azuriteOptions, azurite.WithDataDir(o.DataDir))
	}
	emulator, err := azurite.Start(context.WithoutCancel(ctx), azuriteOptions...)
	if err != nil {
		return summary, err
	}
	defer func() {
		if err := emulator.Stop(); err != nil {
			logger.Warn("stopping Azurite failed", "pid", emulator.PID(), "error", err)
		}
	}()

	names := config.Storage{
		ConnectionString: emulator.ConnectionString(),
		EndpointSuffix:   config.DefaultEndpointSuffix,
		AuthMode:         config.AuthAuto,
		QueueName:        QueueName,
		PoisonQueueName:  PoisonQueueName,
		TableName:        TableName,
	}
	clients, err := storage.New(names)
	if err != nil {
		return summary, err
	}
	if err := clients.CreateResources(ctx, retry.DefaultPolicy(30*time.Second, logger)); err != nil {
		return summary, err
	}
	logger.Info("created queue, poison queue and table", "queue", QueueName, "poisonQueue", PoisonQueueName, "table", TableName)

	producerConfig := config.DefaultProducer()
	producerConfig.Storage = names
	producerConfig.Count = o.Count
	producerConfig.Concurrency = o.Concurrency
	producerConfig.Encoding = o.Encoding
	producerConfig.MessageSize = o.MessageSize
	producerOptions := []producer.Option{producer.WithLogger(logger)}
	if o.Progress != nil {
		producerOptions = append(producerOptions, producer.WithProgress(o.Progress, 250*time.Millisecond))
	}
	sent, err := producer.Run(ctx, producerConfig, clients, producerOptions...)
	summary.Sent = sent.Sent
	summary.ProduceDuration = sent.Duration
	if err != nil {
		return summary, err
	}

	if ctx.Err() == nil {
		consumerConfig := config.DefaultConsumer()
		consumerConfig.Storage = names
		consumerConfig.Concurrency = o.Concurrency
		consumerConfig.HTTPAddr = "127.0.0.1:0"
		consumerConfig.UntilEmpty = true
		consumerConfig.IdleTimeout = 2 * time.Second
		consumerConfig.MaxBackoff = time.Second
		consumed, err := consumer.New(consumerConfig, clients, consumer.WithLogger(logger)).Run(ctx)
		summary.Processed = consumed.Processed
		summary.Poisoned = consumed.Poisoned
		summary.ConsumeDuration = consumed.Busy
		if err != nil {
			return summary, err
		}
	}

	// The counts use a context of their own so an interrupted run still reports them.
	countCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	summary.Rows, err = countRows(countCtx, clients.Table)
	if err != nil {
		return summary, err
	}
	summary.Duration = time.Since(start)
	summary.Interrupted = ctx.Err() != nil
	if summary.Interrupted {
		return summary, ErrInterrupted
	}

	if summary.Rows+summary.Poisoned != summary.Sent {
		return summary, fmt.Errorf("row count mismatch: %d rows and %d poisoned messages for %d messages sent, so messages were lost or duplicated; the consumer's log above names the failures",
			summary.Rows, summary.Poisoned, summary.Sent)
	}
	return summary, nil
}

// countRows counts the table's rows, reading only their keys.
func countRows(ctx context.Context, table *aztables.Client) (int64, error) {
	selectKeys := "RowKey"
	pager := table.NewListEntitiesPager(&aztables.ListEntitiesOptions{Select: &selectKeys})
	var rows int64
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return rows, fmt.Errorf("counting the rows of table %s: %s", TableName, retry.Describe(err))
		}
		rows += int64(len(page.Entities))
	}
	return rows, nil
}
