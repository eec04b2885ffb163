// Package retry runs a storage operation again after a transient failure, with bounded,
// jittered exponential backoff, and logs every retry.
//
// Transient means a failure that the same request can get past by waiting: HTTP 403 while a
// new role assignment propagates, 408, 429, any 5xx,
// a refused or reset connection, a network timeout, or a failed token request. Everything
// else returns at once.
package retry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

// Policy bounds the retries of one operation.
type Policy struct {
	// Timeout is how long after the first failure the operation is still retried. Zero
	// means a single attempt.
	Timeout time.Duration

	// InitialDelay is the mean delay before the first retry. Each retry doubles it up to
	// MaxDelay, and the actual delay is drawn between half and all of that value.
	InitialDelay time.Duration

	// MaxDelay caps the delay between two attempts.
	MaxDelay time.Duration

	// Logger receives one warning per retry. Nil means slog.Default().
	Logger *slog.Logger
}

// DefaultPolicy returns a Policy that retries for timeout, starting at 250 ms and backing off
// to at most 15 s between attempts.
func DefaultPolicy(timeout time.Duration, logger *slog.Logger) Policy {
	return Policy{Timeout: timeout, InitialDelay: 250 * time.Millisecond, MaxDelay: 15 * time.Second, Logger: logger}
}

// WithLogger returns a copy of p that logs to logger, for example one carrying a message id.
func (p Policy) WithLogger(logger *slog.Logger) Policy {
	p.Logger = logger
	return p
}

// Do calls fn until it succeeds, fails with a non-transient error, ctx ends, or Timeout has
// passed since the first failure. It returns fn's last error, wrapped with the operation name
// and the attempt count when there were retries.
func (p Policy) Do(ctx context.Context, operation string, fn func(context.Context) error) error {
	logger := p.Logger
	if logger == nil {
		logger = slog.Default()
	}

	var deadline time.Time
	delay := p.InitialDelay
	for attempt := 1; ; attempt++ {
		err := fn(ctx)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return err
		}

		transient, why := Classify(err)
		if !transient {
			return err
		}
		if deadline.IsZero() {
			deadline = time.Now().Add(p.Timeout)
		}

		wait := jitter(delay)
		if time.Now().Add(wait).After(deadline) {
			if attempt == 1 {
				return err
			}
			return fmt.Errorf("%s failed after %d attempts over %s: %w",
				operation, attempt, p.Timeout, err)
		}

		logger.Warn("retrying storage operation",
			"operation", operation,
			"attempt", attempt,
			"delay", wait.Round(time.Millisecond).String(),
			"reason", why,
			"error", Describe(err))

		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return err
		case <-timer.C:
		}
		delay = min(2*delay, p.MaxDelay)
	}
}

// jitter returns a duration drawn uniformly between d/2 and d.
func jitter(d time.Duration) time.Duration {
	if d <= 1 {
		return d
	}
	half := d / 2
	return half + rand.N(d-half)
}

// Classify reports whether err is transient, and why in a few words.
func Classify(err error) (transient bool, why string) {
	if errors.Is(err, context.Canceled) {
		return false, "canceled"
	}

	var response *azcore.ResponseError
	if errors.As(err, &response) {
		switch code := response.StatusCode; {
		case code == http.StatusForbidden:
			return true, "authorization failed (HTTP 403), retried because a new role assignment can take minutes to take effect; with a connection string, check its key or SAS"
		case code == http.StatusRequestTimeout, code == http.StatusTooManyRequests:
			return true, fmt.Sprintf("HTTP %d, the service asks to slow down", code)
		case code >= 500:
			return true, fmt.Sprintf("HTTP %d, server error", code)
		}
		return false, fmt.Sprintf("HTTP %d", response.StatusCode)
	}

	var authFailed *azidentity.AuthenticationFailedError
	if errors.As(err, &authFailed) {
		return true, "token request failed; a new federated credential can take minutes to take effect"
	}

	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return true, "connection refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return true, "connection reset"
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return true, "connection closed early"
	case errors.Is(err, context.DeadlineExceeded):
		return true, "request timed out"
	}

	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		return true, "network timeout"
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) && (dnsErr.IsTemporary || dnsErr.IsTimeout) {
		return true, "temporary DNS failure"
	}
	return false, "not transient"
}

// Describe returns err's message on one line, for logs and for the last line a command
// prints. A storage response error inside it is shortened to its status, error code and
// request path, without the response body that the SDK prints over many lines. Every URL in
// the text loses its query string (see RedactURLs), so no SAS token reaches the output.
func Describe(err error) string {
	if err == nil {
		return ""
	}
	text := err.Error()
	var response *azcore.ResponseError
	if errors.As(err, &response) {
		summary := fmt.Sprintf("HTTP %d %s", response.StatusCode, response.ErrorCode)
		if raw := response.RawResponse; raw != nil && raw.Request != nil {
			summary += fmt.Sprintf(" (%s %s)", raw.Request.Method, raw.Request.URL.EscapedPath())
		}
		text = strings.Replace(text, response.Error(), summary, 1)
	}
	return RedactURLs(strings.Join(strings.Fields(text), " "))
}

// urlQuery matches the query string of an http or https URL in free text, up to the next
// space, quote or closing bracket.
var urlQuery = regexp.MustCompile(`(https?://[^\s"'?<>]*)\?[^\s"'<>)]*`)

// sasSignature matches a SAS signature parameter outside a recognizable URL.
var sasSignature = regexp.MustCompile(`(?i)\bsig=[^\s&"'<>]*`)

// RedactURLs returns text with the query string of every URL replaced by "?REDACTED", and
// any other sig= parameter emptied. A SAS token travels in the query string, and Go's
// *url.Error ("Get \"https://...?...&sig=...\": dial tcp ...") prints the whole URL.
func RedactURLs(text string) string {
	text = urlQuery.ReplaceAllString(text, "${1}?REDACTED")
	return sasSignature.ReplaceAllString(text, "sig=REDACTED")
}

// StatusCode returns the HTTP status of the storage response in err's chain, or 0.
func StatusCode(err error) int {
	var response *azcore.ResponseError
	if errors.As(err, &response) {
		return response.StatusCode
	}
	return 0
}

// ErrorCode returns the storage error code (for example "QueueNotFound") in err's chain, or "".
func ErrorCode(err error) string {
	var response *azcore.ResponseError
	if errors.As(err, &response) {
		return response.ErrorCode
	}
	return ""
}
