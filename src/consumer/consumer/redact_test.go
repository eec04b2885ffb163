// Tests that a SAS signature never reaches the consumer's logs or errors when storage is
// unreachable. Go's HTTP client prints the whole request URL in a connection error, and with a
// SAS connection string that URL carries the signature.
package consumer_test

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/aks-edw/aks-edw/internal/datapathtest"
	"github.com/aks-edw/aks-edw/src/consumer/consumer"
)

func TestSASSignatureNotLogged(t *testing.T) {
	env := map[string]string{"AZURE_STORAGE_CONNECTION_STRING": datapathtest.ClosedPortSAS(t)}
	getenv := func(name string) string { return env[name] }

	t.Log("Running the consumer against a closed port until its retries give up")
	var stdout, stderr bytes.Buffer
	status := consumer.Main([]string{"--queue", "redact", "--table", "redact", "--retry-timeout", "2s",
		"--http-addr", "127.0.0.1:0", "--log-level", "debug"}, getenv, &stdout, &stderr)
	require.Equal(t, 1, status, stderr.String())

	t.Log("The retries were logged, without the signature")
	assert.Contains(t, stderr.String(), "retrying storage operation")
	assert.Contains(t, stderr.String(), "connection refused")
	assert.NotContains(t, stderr.String(), "SECRETSIGNATURE")
	assert.NotContains(t, stdout.String(), "SECRETSIGNATURE")
}
