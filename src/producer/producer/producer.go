// Package producer sends JSON messages to an Azure Storage queue: a count or a duration, at a
// rate or as fast as the queue accepts, from concurrent workers. Each message carries a unique
// `id` (a UUIDv7), `msg` and `srcStamp`, padded to a size and encoded as text or base64.
package producer

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"golang.org/x/time/rate"

	"github.com/aks-edw/aks-edw/internal/config"
	"github.com/aks-edw/aks-edw/internal/message"
	"github.com/aks-edw/aks-edw/internal/retry"
	"github.com/aks-edw/aks-edw/internal/storage"
)

// Summary is the outcome of a run.
type Summary struct {
	Sent     int64
	Errors   int64
	Duration time.Duration
	// Stopped is true when the run ended early on a signal or a cancelled context.
	Stopped bool
}

// Rate returns the messages sent per second.
func (s Summary) Rate() float64 {
	if s.Duration <= 0 {
		return 0
	}
	return float64(s.Sent) / s.Duration.Seconds()
}

// String formats the summary as the line the producer prints at the end.
func (s Summary) String() string {
	line := fmt.Sprintf("sent %d messages in %s (%.1f messages/s), %d errors",
		s.Sent, s.Duration.Round(time.Millisecond), s.Rate(), s.Errors)
	if s.Stopped {
		line += ", stopped early"
	}
	return line
}

type options struct {
	logger           *slog.Logger
	progress         io.Writer
	progressInterval time.Duration
}

// Option configures Run.
type Option func(*options)

// WithLogger sets the logger. The default discards logs.
func WithLogger(logger *slog.Logger) Option { return func(o *options) { o.logger = logger } }

// WithProgress rewrites one status line (sent, errors, rate) on w every interval, for a
// terminal.
func WithProgress(w io.Writer, interval time.Duration) Option {
	return func(o *options) {
		o.progress = w
		o.progressInterval = interval
	}
}

// sendTimeout, added to the retry timeout, bounds the enqueue in flight when the run stops.
// That enqueue is finished rather than abandoned, so the summary counts it correctly.
const sendTimeout = 30 * time.Second

// Run sends messages until cfg.Count is reached, cfg.Duration has passed, or ctx is done, and
// returns what it sent. It stops early with an error when the queue rejects a message for a
// reason that retrying cannot fix (a missing queue, for example), because every later message
// would fail the same way.
func Run(ctx context.Context, cfg config.Producer, clients *storage.Clients, opts ...Option) (Summary, error) {
	o := options{logger: slog.New(slog.DiscardHandler)}
	for _, opt := range opts {
		opt(&o)
	}

	runCtx := ctx
	if cfg.Duration > 0 {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithTimeout(ctx, cfg.Duration)
		defer cancel()
	}
	runCtx, abort := context.WithCancel(runCtx)
	defer abort()
	var failure error
	var failureOnce sync.Once

	limiter := rate.NewLimiter(rate.Inf, 0)
	if cfg.Rate > 0 {
		limiter = rate.NewLimiter(rate.Limit(cfg.Rate), 1)
	}

	s := &sender{cfg: cfg, clients: clients, logger: o.logger, limiter: limiter,
		policy: retry.DefaultPolicy(cfg.RetryTimeout, o.logger)}

	o.logger.Info("producer starting",
		"queue", cfg.QueueName, "count", cfg.Count, "duration", cfg.Duration.String(),
		"rate", cfg.Rate, "concurrency", cfg.Concurrency, "encoding", string(cfg.Encoding),
		"messageSize", cfg.MessageSize, "auth", clients.Auth)

	start := time.Now()
	stopProgress := startProgress(o, s, cfg.Count, start)

	var workers sync.WaitGroup
	for range cfg.Concurrency {
		workers.Go(func() {
			if err := s.work(runCtx); err != nil {
				failureOnce.Do(func() { failure = err })
				abort()
			}
		})
	}
	workers.Wait()
	stopProgress()

	summary := Summary{Sent: s.sent.Load(), Errors: s.errors.Load(), Duration: time.Since(start)}
	summary.Stopped = ctx.Err() != nil
	if failure != nil {
		return summary, failure
	}
	o.logger.Info("producer finished",
		"queue", cfg.QueueName, "sent", summary.Sent, "errors", summary.Errors,
		"seconds", summary.Duration.Seconds(), "messagesPerSecond", math.Round(summary.Rate()*10)/10)
	return summary, nil
}

type sender struct {
	cfg     config.Producer
	clients *storage.Clients
	logger  *slog.Logger
	limiter *rate.Limiter
	policy  retry.Policy

	claimed atomic.Int64
	sent    atomic.Int64
	errors  atomic.Int64
}

// work sends messages until the count is reached or ctx is done. It returns an error only
// for a failure that every later message would meet too.
func (s *sender) work(ctx context.Context) error {
	for ctx.Err() == nil {
		seq := s.claimed.Add(1)
		if s.cfg.Count > 0 && seq > int64(s.cfg.Count) {
			return nil
		}
		if err := s.limiter.Wait(ctx); err != nil {
			return nil
		}
		if err := s.send(ctx, seq); err != nil {
			return err
		}
	}
	return nil
}

func (s *sender) send(ctx context.Context, seq int64) error {
	id, err := uuid.NewV7()
	if err != nil {
		return fmt.Errorf("creating message id: %w", err)
	}
	body := message.Body{
		ID:       id.String(),
		Msg:      fmt.Sprintf("message %d", seq),
		SrcStamp: message.FormatStamp(time.Now()),
	}
	if s.cfg.MessageSize > 0 {
		if body, err = message.PadTo(body, s.cfg.MessageSize, s.cfg.Encoding); err != nil {
			return err
		}
	}
	text, err := message.Encode(body, s.cfg.Encoding)
	if err != nil {
		return err
	}

	// The send outlives ctx, so a stop never leaves the summary unsure whether the message
	// in flight was enqueued.
	sendCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), sendTimeout+s.cfg.RetryTimeout)
	defer cancel()
	err = s.policy.WithLogger(s.logger.With("id", body.ID)).Do(sendCtx, "enqueue message", func(ctx context.Context) error {
		_, err := s.clients.Queue.EnqueueMessage(ctx, text, nil)
		return err
	})
	if err == nil {
		s.sent.Add(1)
		return nil
	}

	s.errors.Add(1)
	if transient, _ := retry.Classify(err); !transient {
		return fmt.Errorf("sending to queue %s: %s", s.cfg.QueueName, retry.Describe(err))
	}
	s.logger.Error("sending message failed", "id", body.ID, "queue", s.cfg.QueueName, "error", retry.Describe(err))
	return nil
}

// startProgress prints a status line every interval until the returned function is called,
// which prints the last one and ends the line.
func startProgress(o options, s *sender, count int, start time.Time) func() {
	if o.progress == nil {
		return func() {}
	}
	printLine := func() {
		elapsed := time.Since(start).Seconds()
		sent := s.sent.Load()
		total := ""
		if count > 0 {
			total = fmt.Sprintf("/%d", count)
		}
		fmt.Fprintf(o.progress, "\rsent %d%s  errors %d  %.0f messages/s   ", sent, total, s.errors.Load(), float64(sent)/max(elapsed, 1e-9))
	}

	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		ticker := time.NewTicker(o.progressInterval)
		defer ticker.Stop()
		for {
			select {
			case <-done:
				return
			case <-ticker.C:
				printLine()
			}
		}
	}()
	return func() {
		close(done)
		<-finished
		printLine()
		fmt.Fprintln(o.progress)
	}
}
