// Package logging creates the JSON slog loggers of the producer, the consumer and edwctl.
package logging

import (
	"io"
	"log/slog"
)

// New returns a logger that writes JSON lines at level and above to w.
func New(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level}))
}
