// Package consumer turns queue messages into table rows. It receives batches of up to 32
// messages with a visibility timeout and processes them on a bounded number of workers:
// decode, upsert the row keyed by the message id, then delete. Undecodable and over-delivered
// messages go to the poison queue. The consumer backs off while the queue is empty, drains
// in-flight work on shutdown, and serves /healthz, /readyz and /metrics.
package consumer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azqueue"

	"github.com/aks-edw/aks-edw/internal/config"
	"github.com/aks-edw/aks-edw/internal/retry"
	"github.com/aks-edw/aks-edw/internal/storage"
)

// Consumer is one consumer process's state.
type Consumer struct {
	cfg     config.Consumer
	clients *storage.Clients
	logger  *slog.Logger
	policy  retry.Policy
	metrics *Metrics

	ready    atomic.Bool
	addr     atomic.Value // string: the HTTP server's address once it listens
	inFlight atomic.Int64

	processed   atomic.Int64
	poisoned    atomic.Int64
	failed      atomic.Int64
	redelivered atomic.Int64

	// started and lastHandled are Unix nanoseconds: when Run started, and when the last
	// message was processed or poisoned.
	started     atomic.Int64
	lastHandled atomic.Int64
}

// Summary counts what a run did.
type Summary struct {
	Processed int64
	Poisoned  int64
	Failed    int64
	// Redelivered counts the redeliveries this consumer detected, each logged as "message
	// redelivered": a received message with a dequeue count above 1, and a delete that found
	// a stale pop receipt. A message can count under both. The metric
	// edw_consumer_messages_redelivered_total has one event label per kind.
	Redelivered int64
	Duration    time.Duration
	// Busy runs from the start of Run to the last message processed or poisoned, which
	// leaves out the idle wait of --until-empty. Rates are computed over it.
	Busy time.Duration
}

// Rate returns the messages processed per second of Busy time.
func (s Summary) Rate() float64 {
	if s.Busy <= 0 {
		return 0
	}
	return float64(s.Processed) / s.Busy.Seconds()
}

// String formats the summary as the line the consumer prints at the end.
func (s Summary) String() string {
	noun := "messages"
	if s.Processed == 1 {
		noun = "message"
	}
	return fmt.Sprintf("processed %d %s in %s (%.1f messages/s while busy), %d poisoned, %d failed, "+
		"%d redelivered (dequeue count above 1 or stale pop receipt)",
		s.Processed, noun, s.Duration.Round(time.Millisecond), s.Rate(), s.Poisoned, s.Failed, s.Redelivered)
}

// Option configures New.
type Option func(*Consumer)

// WithLogger sets the logger. The default discards logs.
func WithLogger(logger *slog.Logger) Option { return func(c *Consumer) { c.logger = logger } }

// New returns a consumer for cfg, which must have passed validation, using clients.
func New(cfg config.Consumer, clients *storage.Clients, opts ...Option) *Consumer {
	c := &Consumer{
		cfg:     cfg,
		clients: clients,
		logger:  slog.New(slog.DiscardHandler),
		metrics: NewMetrics(),
	}
	for _, opt := range opts {
		opt(c)
	}
	c.policy = retry.DefaultPolicy(cfg.RetryTimeout, c.logger)
	return c
}

// Metrics returns the consumer's metrics.
func (c *Consumer) Metrics() *Metrics { return c.metrics }

// HTTPAddr returns the address the HTTP server listens on, or "" before it listens.
func (c *Consumer) HTTPAddr() string {
	addr, _ := c.addr.Load().(string)
	return addr
}

// Summary returns the counts so far.
func (c *Consumer) Summary() Summary {
	summary := Summary{
		Processed:   c.processed.Load(),
		Poisoned:    c.poisoned.Load(),
		Failed:      c.failed.Load(),
		Redelivered: c.redelivered.Load(),
	}
	if started, last := c.started.Load(), c.lastHandled.Load(); started > 0 && last > started {
		summary.Busy = time.Duration(last - started)
	}
	return summary
}

// Run serves HTTP, checks that the queues and the table are reachable, and consumes until
// ctx is done or, with UntilEmpty, until the queue has stayed empty for IdleTimeout. When
// ctx is done it stops receiving, releases received messages that no worker has started, and
// gives in-flight messages up to ShutdownGrace to finish. A message still unfinished then
// becomes visible again when its visibility timeout ends, so none is lost.
func (c *Consumer) Run(ctx context.Context) (Summary, error) {
	start := time.Now()
	c.started.Store(start.UnixNano())
	// A failure before the first receive returns a zero Summary, Duration included, so the
	// caller prints the error alone.
	stopServer, err := c.serveHTTP()
	if err != nil {
		return Summary{}, err
	}
	defer stopServer()

	c.logger.Info("consumer starting",
		"queue", c.cfg.QueueName, "poisonQueue", c.cfg.PoisonQueueName, "table", c.cfg.TableName,
		"queueEndpoint", c.clients.QueueEndpoint, "auth", c.clients.Auth,
		"batchSize", c.cfg.BatchSize, "concurrency", c.cfg.Concurrency,
		"visibilityTimeout", c.cfg.VisibilityTimeout.String(), "maxDequeueCount", c.cfg.MaxDequeueCount,
		"decode", string(c.cfg.Decode), "untilEmpty", c.cfg.UntilEmpty, "httpAddr", c.HTTPAddr())

	if err := c.checkResources(ctx); err != nil {
		return Summary{}, err
	}
	c.ready.Store(true)

	// Workers process on a context that outlives ctx by the shutdown grace period.
	workCtx, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	stopGraceTimer := context.AfterFunc(ctx, func() {
		c.ready.Store(false)
		c.logger.Info("shutdown requested: no new receives; finishing in-flight messages",
			"grace", c.cfg.ShutdownGrace.String(), "inFlight", c.inFlight.Load())
		time.AfterFunc(c.cfg.ShutdownGrace, cancelWork)
	})
	defer stopGraceTimer()

	deliveries := make(chan Delivery)
	var workers sync.WaitGroup
	for range c.cfg.Concurrency {
		workers.Go(func() {
			for d := range deliveries {
				if outcome := c.Process(workCtx, d); outcome != Failed {
					c.lastHandled.Store(time.Now().UnixNano())
				}
				c.inFlight.Add(-1)
			}
		})
	}

	receiveErr := c.receiveLoop(ctx, workCtx, deliveries)
	close(deliveries)
	workers.Wait()
	c.ready.Store(false)

	summary := c.finish(start)
	if receiveErr != nil {
		return summary, receiveErr
	}
	return summary, nil
}

func (c *Consumer) finish(start time.Time) Summary {
	summary := c.Summary()
	summary.Duration = time.Since(start)
	c.logger.Info("consumer stopped",
		"processed", summary.Processed, "poisoned", summary.Poisoned, "failed", summary.Failed,
		"redelivered", summary.Redelivered, "seconds", summary.Duration.Seconds(),
		"busySeconds", summary.Busy.Seconds(), "messagesPerSecond", summary.Rate())
	return summary
}

// checkResources verifies the queue, poison queue and table before the first receive, so a
// wrong name or a missing role shows up as one clear error rather than a failure per message.
func (c *Consumer) checkResources(ctx context.Context) error {
	for _, result := range c.clients.Check(ctx, c.policy) {
		if result.Err != nil {
			return fmt.Errorf("startup check failed: %w", result.Err)
		}
	}
	return nil
}

// initialBackoff is the first wait after an empty receive. Later waits double up to
// MaxBackoff, each drawn between half and all of the current value.
const initialBackoff = 100 * time.Millisecond

// receiveLoop receives batches and hands each message to a worker until ctx is done or, with
// UntilEmpty, the queue has stayed empty for IdleTimeout. Receive failures are retried under
// the retry policy and then logged and backed off from, so the consumer does not crash-loop.
// Only with UntilEmpty does a receive failure end the loop with an error.
func (c *Consumer) receiveLoop(ctx, workCtx context.Context, deliveries chan<- Delivery) error {
	backoff := initialBackoff
	var emptySince time.Time

	for ctx.Err() == nil {
		messages, err := c.receive(ctx, workCtx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if c.cfg.UntilEmpty {
				return fmt.Errorf("receiving from queue %s: %s", c.cfg.QueueName, retry.Describe(err))
			}
			c.ready.Store(false)
			c.logger.Error("receiving messages failed; backing off", "queue", c.cfg.QueueName,
				"delay", backoff.String(), "error", retry.Describe(err))
			backoff = c.sleep(ctx, backoff, c.cfg.MaxBackoff)
			continue
		}
		if ctx.Err() == nil {
			c.ready.Store(true)
		}

		if len(messages) > 0 {
			backoff = initialBackoff
			emptySince = time.Time{}
			c.dispatch(ctx, workCtx, messages, deliveries)
			continue
		}

		wait := c.cfg.MaxBackoff
		if c.cfg.UntilEmpty {
			if emptySince.IsZero() {
				emptySince = time.Now()
			}
			if !c.queueDrained(ctx) {
				emptySince = time.Now()
			} else if idle := time.Since(emptySince); idle >= c.cfg.IdleTimeout {
				c.logger.Info("queue stayed empty; stopping", "queue", c.cfg.QueueName, "idle", idle.Round(time.Millisecond).String())
				return nil
			} else {
				wait = min(wait, c.cfg.IdleTimeout-idle)
			}
		}
		backoff = c.sleep(ctx, backoff, wait)
	}
	return nil
}

// receive calls Receive Messages, retrying under the policy until ctx ends. The request
// itself runs on workCtx: cancelling a request the service has already executed would leave
// its messages invisible until their visibility timeout, whereas a completed request lets
// dispatch release them.
func (c *Consumer) receive(ctx, workCtx context.Context) ([]*azqueue.DequeuedMessage, error) {
	count := int32(c.cfg.BatchSize)
	visibility := int32(c.cfg.VisibilityTimeout / time.Second)
	var messages []*azqueue.DequeuedMessage
	err := c.policy.Do(ctx, "receive messages", func(context.Context) error {
		response, err := c.clients.Queue.DequeueMessages(workCtx, &azqueue.DequeueMessagesOptions{
			NumberOfMessages:  &count,
			VisibilityTimeout: &visibility,
		})
		messages = response.Messages
		return err
	})
	return messages, err
}

// dispatch hands each message to a worker. When ctx ends first, the messages no worker took
// are released: their visibility timeout is set to 0 so any consumer can receive them at once.
func (c *Consumer) dispatch(ctx, workCtx context.Context, messages []*azqueue.DequeuedMessage, deliveries chan<- Delivery) {
	receivedAt := time.Now()
	c.inFlight.Add(int64(len(messages)))
	for i, m := range messages {
		if ctx.Err() != nil {
			c.release(workCtx, messages[i:])
			return
		}
		select {
		case deliveries <- Delivery{Message: m, ReceivedAt: receivedAt}:
		case <-ctx.Done():
			c.release(workCtx, messages[i:])
			return
		}
	}
}

func (c *Consumer) release(ctx context.Context, messages []*azqueue.DequeuedMessage) {
	zero := int32(0)
	released := 0
	for _, m := range messages {
		d := Delivery{Message: m}
		_, err := c.clients.Queue.UpdateMessage(ctx, d.id(), d.popReceipt(), d.text(), &azqueue.UpdateMessageOptions{VisibilityTimeout: &zero})
		c.inFlight.Add(-1)
		if err != nil {
			c.logger.Warn("releasing message failed; it becomes visible when its visibility timeout ends",
				"messageId", d.id(), "dequeueCount", d.dequeueCount(), "error", retry.Describe(err))
			continue
		}
		released++
	}
	c.logger.Info("released messages that no worker started", "queue", c.cfg.QueueName,
		"released", released, "failed", len(messages)-released)
}

// queueDrained reports whether nothing is left to do: no message in flight here, and the
// queue's approximate count, which includes messages other consumers hold invisible, is 0.
func (c *Consumer) queueDrained(ctx context.Context) bool {
	if c.inFlight.Load() > 0 {
		return false
	}
	props, err := c.clients.Queue.GetProperties(ctx, nil)
	if err != nil {
		c.logger.Warn("reading the queue's message count failed", "queue", c.cfg.QueueName, "error", retry.Describe(err))
		return false
	}
	return props.ApproximateMessagesCount != nil && *props.ApproximateMessagesCount == 0
}

// sleep waits a jittered backoff, at most limit, or until ctx ends, and returns the next
// backoff.
func (c *Consumer) sleep(ctx context.Context, backoff, limit time.Duration) time.Duration {
	wait := min(backoff/2+rand.N(backoff/2+1), limit)
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-ctx.Done():
	case <-timer.C:
	}
	return min(2*backoff, c.cfg.MaxBackoff)
}

// serveHTTP starts /healthz, /readyz and /metrics and returns the function that stops them.
func (c *Consumer) serveHTTP() (func(), error) {
	listener, err := net.Listen("tcp", c.cfg.HTTPAddr)
	if err != nil {
		return nil, fmt.Errorf("listening on --http-addr %s: %w", c.cfg.HTTPAddr, err)
	}
	c.addr.Store(listener.Addr().String())

	server := &http.Server{Handler: c.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := server.Serve(listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
			c.logger.Error("HTTP server failed", "addr", listener.Addr().String(), "error", err)
		}
	}()
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = server.Shutdown(ctx)
	}, nil
}
