// Tests which storage failures are retried, that retries stop at the policy's timeout and on
// context cancellation, and that each retry is logged on one line.
package retry_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/aks-edw/aks-edw/internal/retry"
)

// responseError builds the error the Azure SDK returns for an HTTP response with status and
// the x-ms-error-code header set to code.
func responseError(status int, code string) error {
	request := &http.Request{Method: http.MethodGet, URL: &url.URL{Scheme: "https", Host: "acct.queue.core.windows.net", Path: "/orders/messages"}}
	response := &http.Response{
		StatusCode: status,
		Status:     http.StatusText(status),
		Header:     http.Header{"X-Ms-Error-Code": []string{code}},
		Body:       io.NopCloser(strings.NewReader("<Error><Code>" + code + "</Code></Error>")),
		Request:    request,
	}
	return runtime.NewResponseError(response)
}

func TestClassify(t *testing.T) {
	cases := []struct {
		name          string
		err           error
		wantTransient bool
	}{
		{"403 during role propagation", responseError(403, "AuthorizationPermissionMismatch"), true},
		{"408", responseError(408, "OperationTimedOut"), true},
		{"429", responseError(429, "ServerBusy"), true},
		{"500", responseError(500, "InternalError"), true},
		{"503", responseError(503, "ServerBusy"), true},
		{"wrapped 503", fmt.Errorf("receiving: %w", responseError(503, "ServerBusy")), true},
		{"connection refused", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, true},
		{"connection reset", fmt.Errorf("read: %w", syscall.ECONNRESET), true},
		{"unexpected EOF", io.ErrUnexpectedEOF, true},
		{"try timeout", context.DeadlineExceeded, true},
		{"400", responseError(400, "PropertyValueTooLarge"), false},
		{"404", responseError(404, "QueueNotFound"), false},
		{"409", responseError(409, "QueueAlreadyExists"), false},
		{"canceled", context.Canceled, false},
		{"plain error", errors.New("boom"), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			transient, why := retry.Classify(tc.err)
			assert.Equal(t, tc.wantTransient, transient, why)
		})
	}
}

func TestDoRetriesUntilSuccess(t *testing.T) {
	var logs bytes.Buffer
	policy := retry.Policy{
		Timeout:      10 * time.Second,
		InitialDelay: time.Millisecond,
		MaxDelay:     5 * time.Millisecond,
		Logger:       slog.New(slog.NewJSONHandler(&logs, nil)),
	}

	t.Log("Failing twice with 403, then succeeding")
	calls := 0
	err := policy.Do(context.Background(), "create queue", func(context.Context) error {
		calls++
		if calls <= 2 {
			return responseError(403, "AuthorizationPermissionMismatch")
		}
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, 3, calls)

	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	require.Len(t, lines, 2)
	assert.Contains(t, lines[0], `"operation":"create queue"`)
	assert.Contains(t, lines[0], `"attempt":1`)
	assert.Contains(t, lines[1], `"attempt":2`)
	assert.Contains(t, lines[0], `HTTP 403 AuthorizationPermissionMismatch (GET /orders/messages)`)
	assert.NotContains(t, logs.String(), "<Error>")
}

func TestDoStopsOnPermanentError(t *testing.T) {
	calls := 0
	policy := retry.Policy{Timeout: time.Minute, InitialDelay: time.Millisecond, MaxDelay: time.Millisecond, Logger: slog.New(slog.DiscardHandler)}

	err := policy.Do(context.Background(), "upsert row", func(context.Context) error {
		calls++
		return responseError(400, "PropertyValueTooLarge")
	})
	require.Error(t, err)
	assert.Equal(t, 1, calls)
	assert.Equal(t, 400, retry.StatusCode(err))
}

func TestDoGivesUpAfterTimeout(t *testing.T) {
	policy := retry.Policy{Timeout: 50 * time.Millisecond, InitialDelay: 5 * time.Millisecond, MaxDelay: 10 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)}

	calls := 0
	err := policy.Do(context.Background(), "receive", func(context.Context) error {
		calls++
		return responseError(503, "ServerBusy")
	})
	require.Error(t, err)
	assert.Greater(t, calls, 1)
	assert.Contains(t, err.Error(), "receive failed after")
	assert.Equal(t, "ServerBusy", retry.ErrorCode(err))
}

func TestDoZeroTimeoutTriesOnce(t *testing.T) {
	policy := retry.Policy{InitialDelay: time.Millisecond, MaxDelay: time.Millisecond, Logger: slog.New(slog.DiscardHandler)}

	calls := 0
	err := policy.Do(context.Background(), "receive", func(context.Context) error {
		calls++
		return responseError(503, "ServerBusy")
	})
	require.Error(t, err)
	assert.Equal(t, 1, calls)
}

func TestDoStopsOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	policy := retry.Policy{Timeout: time.Hour, InitialDelay: time.Hour, MaxDelay: time.Hour, Logger: slog.New(slog.DiscardHandler)}

	done := make(chan error, 1)
	go func() {
		done <- policy.Do(ctx, "receive", func(context.Context) error {
			return responseError(503, "ServerBusy")
		})
	}()
	cancel()

	select {
	case err := <-done:
		assert.Error(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("Do kept waiting after its context was cancelled")
	}
}

func TestDescribe(t *testing.T) {
	err := fmt.Errorf("deleting message m-1: %w", responseError(404, "MessageNotFound"))

	got := retry.Describe(err)
	assert.Equal(t, "deleting message m-1: HTTP 404 MessageNotFound (GET /orders/messages)", got)
	assert.Equal(t, "first second", retry.Describe(errors.New("first\nsecond")))
}

func TestDescribeRedactsURLQueries(t *testing.T) {
	cases := []struct {
		name     string
		err      error
		expected string
	}{
		{
			name: "connection error with SAS",
			err: &url.Error{Op: "Get", URL: "http://127.0.0.1:1/acct/q?comp=metadata&se=2099&sig=SECRET%3D&sp=r",
				Err: errors.New("dial tcp 127.0.0.1:1: connect: connection refused")},
			expected: `Get "http://127.0.0.1:1/acct/q?REDACTED": dial tcp 127.0.0.1:1: connect: connection refused`,
		},
		{
			name:     "bare sig parameter",
			err:      errors.New("token sv=1&sig=SECRET&sp=r rejected"),
			expected: "token sv=1&sig=REDACTED&sp=r rejected",
		},
		{
			name:     "URL without query",
			err:      errors.New("GET https://acct.queue.core.windows.net/q failed"),
			expected: "GET https://acct.queue.core.windows.net/q failed",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.expected, retry.Describe(tc.err))
		})
	}
}
