package producer

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"golang.org/x/term"

	"github.com/aks-edw/aks-edw/internal/config"
	"github.com/aks-edw/aks-edw/internal/logging"
	"github.com/aks-edw/aks-edw/internal/retry"
	"github.com/aks-edw/aks-edw/internal/storage"
)

// Main runs the producer command with args (without the program name) and returns its exit
// status: 0 on success, also after SIGINT or SIGTERM, 1 when any message was not sent, 2 for invalid
// configuration. The summary goes to stdout, logs and the progress line to stderr.
func Main(args []string, getenv config.Getenv, stdout, stderr *os.File) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	cfg, err := config.ParseProducer(args, getenv, stdout)
	if config.IsHelp(err) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "producer: %v\n", err)
		return config.ExitUsage
	}
	logger := logging.New(stderr, cfg.LogLevel)

	clients, err := storage.New(cfg.Storage)
	if err != nil {
		return fail(stderr, err)
	}

	opts := []Option{WithLogger(logger)}
	if term.IsTerminal(int(stderr.Fd())) {
		opts = append(opts, WithProgress(stderr, 500*time.Millisecond))
	}
	summary, err := Run(ctx, cfg, clients, opts...)
	fmt.Fprintln(stdout, summary)
	if err != nil {
		return fail(stderr, err)
	}
	if summary.Errors > 0 {
		fmt.Fprintf(stderr, "producer: %d of %d messages were not sent after their retries: read the warnings above for the storage errors\n",
			summary.Errors, summary.Errors+summary.Sent)
		return 1
	}
	return 0
}

func fail(w io.Writer, err error) int {
	fmt.Fprintf(w, "producer: %s\n", retry.Describe(err))
	if config.IsUsage(err) {
		return config.ExitUsage
	}
	return 1
}
