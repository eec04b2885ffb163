// Package config reads the producer's and the consumer's settings from flags and environment
// variables (a flag overrides its variable) and validates them. Every validation error is one
// line that names the value at fault, where it came from and how to fix it, and is a
// *UsageError so the programs exit with status 2. The connection string is read from the
// environment only and never appears in an error.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/aks-edw/aks-edw/internal/message"
)

// ExitUsage is the exit status for invalid configuration.
const ExitUsage = 2

// UsageError is an invalid flag or environment variable.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// Invalid returns a *UsageError with a formatted message.
func Invalid(format string, args ...any) error {
	return &UsageError{Err: fmt.Errorf(format, args...)}
}

// IsUsage reports whether err is a *UsageError.
func IsUsage(err error) bool {
	var usage *UsageError
	return errors.As(err, &usage)
}

// Storage names the storage account and the resources in it.
type Storage struct {
	// ConnectionString is read from AZURE_STORAGE_CONNECTION_STRING only. It is a secret.
	ConnectionString string
	AccountName      string
	EndpointSuffix   string
	QueueName        string
	PoisonQueueName  string
	TableName        string

	// AuthMode is "auto" (connection string if set, else workload identity when the pod has
	// it, else DefaultAzureCredential), "connectionString", "workloadIdentity" or
	// "defaultCredential".
	AuthMode string
}

// Common holds the settings both programs have.
type Common struct {
	Storage
	LogLevel     slog.Level
	Concurrency  int
	RetryTimeout time.Duration
}

// Consumer holds the consumer's settings.
type Consumer struct {
	Common
	HTTPAddr          string
	BatchSize         int
	VisibilityTimeout time.Duration
	MaxDequeueCount   int
	Decode            message.Encoding
	UntilEmpty        bool
	IdleTimeout       time.Duration
	MaxBackoff        time.Duration
	ShutdownGrace     time.Duration

	// Check makes the consumer verify access to its queues and table, print one line per
	// resource and exit.
	Check bool
}

// Producer holds the producer's settings.
type Producer struct {
	Common
	Count       int
	Duration    time.Duration
	Rate        float64
	MessageSize int
	Encoding    message.Encoding
}

// Auth modes.
const (
	AuthAuto              = "auto"
	AuthConnectionString  = "connectionString"
	AuthWorkloadIdentity  = "workloadIdentity"
	AuthDefaultCredential = "defaultCredential"
)

// MaxConcurrency caps --concurrency, as the chart's schema caps consumer.concurrency. Each
// worker is a goroutine started up front with its own buffers, so an unbounded value can take
// all the memory of the machine before the first message.
const MaxConcurrency = 1024

// DefaultEndpointSuffix is the public Azure cloud's storage endpoint suffix.
const DefaultEndpointSuffix = "core.windows.net"

// Getenv looks up an environment variable, as os.Getenv does.
type Getenv func(string) string

// DefaultConsumer returns the consumer's defaults, before flags and environment.
func DefaultConsumer() Consumer {
	return Consumer{
		Common:            defaultCommon(),
		HTTPAddr:          ":8080",
		BatchSize:         32,
		VisibilityTimeout: 30 * time.Second,
		MaxDequeueCount:   5,
		Decode:            message.Auto,
		IdleTimeout:       5 * time.Second,
		MaxBackoff:        10 * time.Second,
		ShutdownGrace:     20 * time.Second,
	}
}

// DefaultProducer returns the producer's defaults, before flags and environment.
func DefaultProducer() Producer {
	return Producer{
		Common:   defaultCommon(),
		Count:    1000,
		Encoding: message.Text,
	}
}

func defaultCommon() Common {
	return Common{
		Storage:      Storage{EndpointSuffix: DefaultEndpointSuffix, AuthMode: AuthAuto},
		LogLevel:     slog.LevelInfo,
		Concurrency:  16,
		RetryTimeout: 2 * time.Minute,
	}
}

// ParseConsumer reads the consumer's settings from args (without the program name) and
// getenv. It returns flag.ErrHelp for -h and --help, after writing the usage to usage.
func ParseConsumer(args []string, getenv Getenv, usage io.Writer) (Consumer, error) {
	cfg := DefaultConsumer()
	fs := newFlagSet("consumer", getenv)
	bindCommon(fs, &cfg.Common, true)
	fs.stringVar(&cfg.HTTPAddr, "http-addr", "EDW_HTTP_ADDR", "address of the /healthz, /readyz and /metrics server")
	fs.intVar(&cfg.BatchSize, "batch-size", "EDW_BATCH_SIZE", "messages per receive call, 1 to 32", "1 to 32")
	fs.durationVar(&cfg.VisibilityTimeout, "visibility-timeout", "EDW_VISIBILITY_TIMEOUT", "how long a received message stays invisible to other consumers")
	fs.intVar(&cfg.MaxDequeueCount, "max-dequeue-count", "EDW_MAX_DEQUEUE_COUNT", "deliveries after which a message goes to the poison queue", "1 or more")
	fs.encodingVar(&cfg.Decode, "decode", "EDW_DECODE", "message encoding: text, base64 or auto", true)
	fs.boolVar(&cfg.UntilEmpty, "until-empty", "EDW_UNTIL_EMPTY", "exit 0 once the queue has stayed empty for --idle-timeout")
	fs.durationVar(&cfg.IdleTimeout, "idle-timeout", "EDW_IDLE_TIMEOUT", "how long the queue must stay empty before --until-empty exits")
	fs.durationVar(&cfg.MaxBackoff, "max-backoff", "EDW_MAX_BACKOFF", "longest wait between polls of an empty queue")
	fs.durationVar(&cfg.ShutdownGrace, "shutdown-grace", "EDW_SHUTDOWN_GRACE", "time to finish in-flight messages after SIGTERM")
	fs.boolVar(&cfg.Check, "check", "", "check access to the queue, poison queue and table, print one line each, and exit 0 if all are reachable")

	if err := fs.parse(args, usage); err != nil {
		return cfg, err
	}
	if err := cfg.Validate(); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// ParseProducer reads the producer's settings from args (without the program name) and
// getenv. It returns flag.ErrHelp for -h and --help, after writing the usage to usage.
func ParseProducer(args []string, getenv Getenv, usage io.Writer) (Producer, error) {
	cfg := DefaultProducer()
	fs := newFlagSet("producer", getenv)
	bindCommon(fs, &cfg.Common, false)
	fs.intVar(&cfg.Count, "count", "EDW_COUNT", "messages to send; 0 means no limit (then set --duration)", "0 or more")
	fs.durationVar(&cfg.Duration, "duration", "EDW_DURATION", "stop sending after this long; 0 means no limit")
	fs.floatVar(&cfg.Rate, "rate", "EDW_RATE", "messages per second over all workers; 0 means as fast as possible")
	fs.intVar(&cfg.MessageSize, "message-size", "EDW_MESSAGE_SIZE", "pad each message text to this many bytes, at most 65536; 0 means no padding", "0 to 65536")
	fs.encodingVar(&cfg.Encoding, "encoding", "EDW_ENCODING", "message encoding: text or base64", false)

	if err := fs.parse(args, usage); err != nil {
		return cfg, err
	}
	if err := cfg.Validate(); err != nil {
		return cfg, err
	}
	return cfg, nil
}

func bindCommon(fs *flagSet, c *Common, withTable bool) {
	c.ConnectionString = fs.getenv("AZURE_STORAGE_CONNECTION_STRING")
	fs.stringVar(&c.AccountName, "account-name", "AZURE_STORAGE_ACCOUNT_NAME", "storage account name, used with Azure identity when no connection string is set")
	fs.stringVar(&c.QueueName, "queue", "AZURE_QUEUE_NAME", "queue name (required)")
	fs.stringVar(&c.PoisonQueueName, "poison-queue", "EDW_POISON_QUEUE_NAME", "poison queue name (default <queue>-poison)")
	if withTable {
		fs.stringVar(&c.TableName, "table", "AZURE_TABLE_NAME", "table name (required)")
	}
	fs.stringVar(&c.EndpointSuffix, "endpoint-suffix", "AZURE_STORAGE_ENDPOINT_SUFFIX", "storage endpoint suffix, for example core.chinacloudapi.cn in Azure China")
	fs.stringVar(&c.AuthMode, "auth-mode", "EDW_AUTH_MODE", "auto, connectionString, workloadIdentity or defaultCredential")
	fs.levelVar(&c.LogLevel, "log-level", "EDW_LOG_LEVEL", "debug, info, warn or error")
	fs.intVar(&c.Concurrency, "concurrency", "EDW_CONCURRENCY", fmt.Sprintf("messages handled at the same time, 1 to %d", MaxConcurrency), fmt.Sprintf("1 to %d", MaxConcurrency))
	fs.durationVar(&c.RetryTimeout, "retry-timeout", "EDW_RETRY_TIMEOUT", "how long to retry a storage call that fails with 403, 5xx or a connection error")
}

// ConnectionStringHelp is appended to the usage text: the one setting without a flag.
const ConnectionStringHelp = `
Environment only:
  AZURE_STORAGE_CONNECTION_STRING   storage connection string (a secret, so it has no flag);
                                    when empty, --account-name and Azure identity are used
Flags override environment variables. Durations take Go syntax (30s, 2m) or whole seconds.
`

// Validate checks the settings both programs share.
func (c *Common) Validate(needTable bool) error {
	if err := c.Storage.validate(needTable); err != nil {
		return err
	}
	if c.Concurrency < 1 || c.Concurrency > MaxConcurrency {
		return Invalid("invalid --concurrency %d (EDW_CONCURRENCY): must be 1 to %d", c.Concurrency, MaxConcurrency)
	}
	if c.RetryTimeout < 0 {
		return Invalid("invalid --retry-timeout %s (EDW_RETRY_TIMEOUT): must be 0 or more", c.RetryTimeout)
	}
	return nil
}

// Validate checks the consumer's settings.
func (c *Consumer) Validate() error {
	if err := c.Common.Validate(true); err != nil {
		return err
	}

	switch {
	case c.BatchSize < 1 || c.BatchSize > 32:
		return Invalid("invalid --batch-size %d (EDW_BATCH_SIZE): must be 1 to 32, the most one receive call returns", c.BatchSize)
	case c.VisibilityTimeout < time.Second || c.VisibilityTimeout > 7*24*time.Hour:
		return Invalid("invalid --visibility-timeout %s (EDW_VISIBILITY_TIMEOUT): must be 1s to 168h", c.VisibilityTimeout)
	case c.VisibilityTimeout%time.Second != 0:
		return Invalid("invalid --visibility-timeout %s (EDW_VISIBILITY_TIMEOUT): must be whole seconds", c.VisibilityTimeout)
	case c.MaxDequeueCount < 1:
		return Invalid("invalid --max-dequeue-count %d (EDW_MAX_DEQUEUE_COUNT): must be 1 or more", c.MaxDequeueCount)
	case c.IdleTimeout <= 0:
		return Invalid("invalid --idle-timeout %s (EDW_IDLE_TIMEOUT): must be more than 0", c.IdleTimeout)
	case c.MaxBackoff <= 0:
		return Invalid("invalid --max-backoff %s (EDW_MAX_BACKOFF): must be more than 0", c.MaxBackoff)
	case c.ShutdownGrace <= 0:
		return Invalid("invalid --shutdown-grace %s (EDW_SHUTDOWN_GRACE): must be more than 0", c.ShutdownGrace)
	}
	if err := validateListenAddress(c.HTTPAddr); err != nil {
		return err
	}
	return nil
}

// Validate checks the producer's settings.
func (p *Producer) Validate() error {
	if err := p.Common.Validate(false); err != nil {
		return err
	}

	switch {
	case p.Count < 0:
		return Invalid("invalid --count %d (EDW_COUNT): must be 0 or more", p.Count)
	case p.Duration < 0:
		return Invalid("invalid --duration %s (EDW_DURATION): must be 0 or more", p.Duration)
	case p.Count == 0 && p.Duration == 0:
		return Invalid("--count and --duration are both 0, so the producer would never stop: set one of them")
	case p.Rate < 0:
		return Invalid("invalid --rate %g (EDW_RATE): must be 0 (as fast as possible) or more", p.Rate)
	case p.MessageSize < 0 || p.MessageSize > message.MaxSize:
		return Invalid("invalid --message-size %d (EDW_MESSAGE_SIZE): must be 0 to %d, the queue's message size limit", p.MessageSize, message.MaxSize)
	case p.Encoding == message.Auto:
		return Invalid("invalid --encoding auto (EDW_ENCODING): the producer needs text or base64")
	}
	return nil
}

func (s *Storage) validate(needTable bool) error {
	switch s.AuthMode {
	case AuthAuto, AuthConnectionString, AuthWorkloadIdentity, AuthDefaultCredential:
	default:
		return Invalid("invalid --auth-mode %q (EDW_AUTH_MODE): use auto, connectionString, workloadIdentity or defaultCredential", s.AuthMode)
	}
	if err := validateEndpointSuffix(s.EndpointSuffix); err != nil {
		return err
	}

	switch {
	case s.AuthMode == AuthConnectionString && s.ConnectionString == "":
		return Invalid("missing AZURE_STORAGE_CONNECTION_STRING: --auth-mode connectionString needs it")
	case s.ConnectionString == "" && s.AccountName == "":
		return Invalid("missing storage account: set AZURE_STORAGE_CONNECTION_STRING, or --account-name (AZURE_STORAGE_ACCOUNT_NAME) to use Azure identity")
	case (s.AuthMode == AuthWorkloadIdentity || s.AuthMode == AuthDefaultCredential) && s.AccountName == "":
		return Invalid("missing --account-name (AZURE_STORAGE_ACCOUNT_NAME): --auth-mode %s needs it", s.AuthMode)
	}
	if s.ConnectionString != "" && (s.AuthMode == AuthAuto || s.AuthMode == AuthConnectionString) {
		if _, err := ParseConnectionString(s.ConnectionString, s.EndpointSuffix); err != nil {
			return &UsageError{Err: err}
		}
	}
	if s.AccountName != "" {
		if err := validateAccountName(s.AccountName); err != nil {
			return err
		}
	}

	if s.QueueName == "" {
		return Invalid("missing queue name: set --queue or AZURE_QUEUE_NAME")
	}
	if err := validateQueueName(s.QueueName, "--queue", "AZURE_QUEUE_NAME"); err != nil {
		return err
	}
	if s.PoisonQueueName == "" {
		s.PoisonQueueName = s.QueueName + "-poison"
		if len(s.PoisonQueueName) > 63 {
			return Invalid("queue name %q is too long to derive the poison queue name %q (over 63 characters): set --poison-queue (EDW_POISON_QUEUE_NAME)",
				s.QueueName, s.PoisonQueueName)
		}
	} else if err := validateQueueName(s.PoisonQueueName, "--poison-queue", "EDW_POISON_QUEUE_NAME"); err != nil {
		return err
	}
	if s.PoisonQueueName == s.QueueName {
		return Invalid("invalid --poison-queue %q (EDW_POISON_QUEUE_NAME): must differ from the queue", s.PoisonQueueName)
	}

	if needTable {
		if s.TableName == "" {
			return Invalid("missing table name: set --table or AZURE_TABLE_NAME")
		}
		if err := validateTableName(s.TableName); err != nil {
			return err
		}
	}
	return nil
}

// ParseLevel parses a log level name: debug, info, warn (or warning) or error.
func ParseLevel(value string) (slog.Level, error) {
	switch strings.ToLower(strings.TrimSpace(value)) {
	case "debug":
		return slog.LevelDebug, nil
	case "info":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("invalid log level %q: use debug, info, warn or error", value)
}

// IsHelp reports whether err is the request for the usage text (-h or --help).
func IsHelp(err error) bool { return errors.Is(err, flag.ErrHelp) }
