package consumer

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/aks-edw/aks-edw/internal/config"
	"github.com/aks-edw/aks-edw/internal/logging"
	"github.com/aks-edw/aks-edw/internal/retry"
	"github.com/aks-edw/aks-edw/internal/storage"
)

// Main runs the consumer command with args (without the program name) and returns its exit
// status: 0 after SIGINT or SIGTERM, or with --until-empty once the queue is empty; 1 when
// the consumer cannot work (a resource is missing or unreachable) or --check finds a problem;
// 2 for invalid configuration. Logs go to stderr as JSON; the summary and the --check lines
// go to stdout.
func Main(args []string, getenv config.Getenv, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	cfg, err := config.ParseConsumer(args, getenv, stdout)
	if config.IsHelp(err) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "consumer: %v\n", err)
		return config.ExitUsage
	}
	logger := logging.New(stderr, cfg.LogLevel)

	clients, err := storage.New(cfg.Storage)
	if err != nil {
		return fail(stderr, err)
	}

	if cfg.Check {
		return Check(ctx, clients, retry.DefaultPolicy(cfg.RetryTimeout, logger), stdout)
	}

	summary, err := New(cfg, clients, WithLogger(logger)).Run(ctx)
	if err == nil || summary.Duration > 0 {
		fmt.Fprintln(stdout, summary)
	}
	if err != nil {
		return fail(stderr, err)
	}
	return 0
}

// Check prints one line per resource, "ok" or "FAIL" with the reason and fix, and returns
// the exit status: 0 when every resource is reachable, 1 otherwise.
func Check(ctx context.Context, clients *storage.Clients, policy retry.Policy, w io.Writer) int {
	status := 0
	for _, result := range clients.Check(ctx, policy) {
		if result.Err != nil {
			status = 1
			fmt.Fprintf(w, "FAIL  %-12s %s: %v\n", result.Kind, result.Name, result.Err)
			continue
		}
		fmt.Fprintf(w, "ok    %-12s %s (%s, %s, %s)\n", result.Kind, result.Name, result.URL, result.Detail, clients.Auth)
	}
	return status
}

func fail(w io.Writer, err error) int {
	fmt.Fprintf(w, "consumer: %s\n", retry.Describe(err))
	if config.IsUsage(err) {
		return config.ExitUsage
	}
	return 1
}
