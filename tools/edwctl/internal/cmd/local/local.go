// Package local holds the local command: producer and consumer against Azurite on this machine.
package local

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/aks-edw/aks-edw/internal/config"
	"github.com/aks-edw/aks-edw/internal/local"
	"github.com/aks-edw/aks-edw/internal/message"
)

// NewCommands returns the local command.
func NewCommands() []*cobra.Command {
	defaults := local.DefaultOptions()
	var (
		count       int
		concurrency int
		encoding    string
		messageSize int
		logLevel    string
	)

	command := &cobra.Command{
		Use:   "local",
		Short: "Run producer and consumer against a local Azurite and print a summary",
		Long: `Starts Azurite on 127.0.0.1 (installed by make azurite), creates the queue, poison
queue and table, sends --count messages with the producer, runs the consumer until the
queue is empty, and prints sent, processed, rows, poisoned, duration and messages/s.
Azurite is stopped at the end and on Ctrl-C. Exits 1 if the rows do not match the
messages sent, or after Ctrl-C (with the partial counts), and 2 for invalid flags; no
summary is printed when the run fails before it counts the rows.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			level, err := config.ParseLevel(logLevel)
			if err != nil {
				return config.Invalid("--log-level: %v", err)
			}
			parsedEncoding, err := message.ParseEncoding(encoding)
			if err != nil {
				return config.Invalid("--encoding: %v", err)
			}

			options := local.Options{
				Count:       count,
				Concurrency: concurrency,
				Encoding:    parsedEncoding,
				MessageSize: messageSize,
				Logger:      slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})),
			}
			if term.IsTerminal(int(os.Stderr.Fd())) {
				options.Progress = os.Stderr
			}

			summary, err := local.Run(cmd.Context(), options)
			if summary.Duration > 0 {
				fmt.Fprint(cmd.OutOrStdout(), summary)
			}
			return err
		},
	}

	flags := command.Flags()
	flags.IntVar(&count, "count", defaults.Count, "messages to send")
	flags.IntVar(&concurrency, "concurrency", defaults.Concurrency, "producer and consumer workers, 1 to 1024")
	flags.StringVar(&encoding, "encoding", string(defaults.Encoding), "message encoding: text or base64")
	flags.IntVar(&messageSize, "message-size", 0, "pad each message to this many bytes, at most 65536; 0 means no padding")
	flags.StringVar(&logLevel, "log-level", "info", "log level on stderr: debug, info, warn or error")
	return []*cobra.Command{command}
}
