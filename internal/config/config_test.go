// Tests how the consumer's and producer's settings are read from flags and environment
// variables, and that every invalid value is rejected with one line naming it and the fix,
// without ever echoing the connection string.
package config_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/aks-edw/aks-edw/internal/config"
	"github.com/aks-edw/aks-edw/internal/message"
)

// secretKey is a fake account key. Tests check that no error ever contains it.
const secretKey = "c2VjcmV0LWtleS1kby1ub3QtcHJpbnQ="

func envOf(values map[string]string) config.Getenv {
	return func(name string) string { return values[name] }
}

func baseEnv() map[string]string {
	return map[string]string{
		"AZURE_STORAGE_CONNECTION_STRING": "DefaultEndpointsProtocol=https;AccountName=edwtest;AccountKey=" + secretKey + ";EndpointSuffix=core.windows.net",
		"AZURE_QUEUE_NAME":                "orders",
		"AZURE_TABLE_NAME":                "rows",
	}
}

func TestConsumerDefaults(t *testing.T) {
	cfg, err := config.ParseConsumer(nil, envOf(baseEnv()), nil)
	require.NoError(t, err)

	assert.Equal(t, "orders", cfg.QueueName)
	assert.Equal(t, "orders-poison", cfg.PoisonQueueName)
	assert.Equal(t, "rows", cfg.TableName)
	assert.Equal(t, "core.windows.net", cfg.EndpointSuffix)
	assert.Equal(t, ":8080", cfg.HTTPAddr)
	assert.Equal(t, 32, cfg.BatchSize)
	assert.Equal(t, 16, cfg.Concurrency)
	assert.Equal(t, 30*time.Second, cfg.VisibilityTimeout)
	assert.Equal(t, 5, cfg.MaxDequeueCount)
	assert.Equal(t, message.Auto, cfg.Decode)
	assert.False(t, cfg.UntilEmpty)
	assert.Equal(t, 5*time.Second, cfg.IdleTimeout)
	assert.Equal(t, 10*time.Second, cfg.MaxBackoff)
	assert.Equal(t, 20*time.Second, cfg.ShutdownGrace)
	assert.Equal(t, 2*time.Minute, cfg.RetryTimeout)
}

func TestFlagOverridesEnvironment(t *testing.T) {
	env := baseEnv()
	env["EDW_BATCH_SIZE"] = "8"
	env["EDW_CONCURRENCY"] = "4"
	env["EDW_VISIBILITY_TIMEOUT"] = "45"
	env["EDW_UNTIL_EMPTY"] = "true"
	env["EDW_DECODE"] = "base64"

	cfg, err := config.ParseConsumer([]string{"--batch-size", "16", "--queue=jobs", "--decode", "text"}, envOf(env), nil)
	require.NoError(t, err)

	assert.Equal(t, 16, cfg.BatchSize, "flag wins over EDW_BATCH_SIZE")
	assert.Equal(t, "jobs", cfg.QueueName, "flag wins over AZURE_QUEUE_NAME")
	assert.Equal(t, "jobs-poison", cfg.PoisonQueueName)
	assert.Equal(t, message.Text, cfg.Decode)
	assert.Equal(t, 4, cfg.Concurrency, "environment applies without a flag")
	assert.Equal(t, 45*time.Second, cfg.VisibilityTimeout, "whole seconds are accepted")
	assert.True(t, cfg.UntilEmpty)
}

func TestProducerSettings(t *testing.T) {
	env := baseEnv()
	delete(env, "AZURE_TABLE_NAME")

	cfg, err := config.ParseProducer([]string{"--count", "50", "--rate", "12.5", "--encoding", "base64", "--message-size", "1024"}, envOf(env), nil)
	require.NoError(t, err)

	assert.Equal(t, 50, cfg.Count)
	assert.InDelta(t, 12.5, cfg.Rate, 1e-9)
	assert.Equal(t, message.Base64, cfg.Encoding)
	assert.Equal(t, 1024, cfg.MessageSize)
	assert.Equal(t, "orders-poison", cfg.PoisonQueueName)
}

func TestAccountNameWithoutConnectionString(t *testing.T) {
	env := map[string]string{
		"AZURE_STORAGE_ACCOUNT_NAME":    "edwprod",
		"AZURE_STORAGE_ENDPOINT_SUFFIX": "core.chinacloudapi.cn",
		"AZURE_QUEUE_NAME":              "orders",
		"AZURE_TABLE_NAME":              "rows",
	}
	cfg, err := config.ParseConsumer(nil, envOf(env), nil)
	require.NoError(t, err)

	assert.Equal(t, "edwprod", cfg.AccountName)
	assert.Empty(t, cfg.ConnectionString)
	assert.Equal(t, "core.chinacloudapi.cn", cfg.EndpointSuffix)
}

func TestConsumerRejectsInvalidValues(t *testing.T) {
	cases := []struct {
		name    string
		args    []string
		env     map[string]string // merged over baseEnv; "" deletes
		wantErr string
	}{
		{"missing queue", nil, map[string]string{"AZURE_QUEUE_NAME": ""}, "missing queue name: set --queue or AZURE_QUEUE_NAME"},
		{"missing table", nil, map[string]string{"AZURE_TABLE_NAME": ""}, "missing table name: set --table or AZURE_TABLE_NAME"},
		{"no account at all", nil, map[string]string{"AZURE_STORAGE_CONNECTION_STRING": ""}, "missing storage account: set AZURE_STORAGE_CONNECTION_STRING, or --account-name"},
		{"uppercase queue", []string{"--queue", "Orders"}, nil, `invalid --queue "Orders" (AZURE_QUEUE_NAME): queue names are 3-63 lowercase`},
		{"double hyphen queue", []string{"--queue", "a--b"}, nil, `invalid --queue "a--b"`},
		{"short queue", []string{"--queue", "ab"}, nil, `invalid --queue "ab"`},
		{"long queue for poison", []string{"--queue", strings.Repeat("q", 60)}, nil, "too long to derive the poison queue name"},
		{"poison equals queue", []string{"--poison-queue", "orders"}, nil, "must differ from the queue"},
		{"table with hyphen", []string{"--table", "my-rows"}, nil, `invalid --table "my-rows" (AZURE_TABLE_NAME)`},
		{"batch size 0", []string{"--batch-size", "0"}, nil, "invalid --batch-size 0 (EDW_BATCH_SIZE): must be 1 to 32"},
		{"batch size 33", []string{"--batch-size", "33"}, nil, "invalid --batch-size 33 (EDW_BATCH_SIZE): must be 1 to 32"},
		{"batch size not a number env", nil, map[string]string{"EDW_BATCH_SIZE": "lots"}, `invalid EDW_BATCH_SIZE="lots" (--batch-size): not a whole number: use 1 to 32`},
		{"batch size beyond int", []string{"--batch-size", "99999999999999999999"}, nil, `invalid --batch-size "99999999999999999999" (EDW_BATCH_SIZE): out of range: use 1 to 32`},
		{"concurrency 0", []string{"--concurrency", "0"}, nil, "invalid --concurrency 0 (EDW_CONCURRENCY): must be 1 to 1024"},
		{"concurrency huge", []string{"--concurrency", "100000000"}, nil, "invalid --concurrency 100000000 (EDW_CONCURRENCY): must be 1 to 1024"},
		{"concurrency huge env", nil, map[string]string{"EDW_CONCURRENCY": "2000"}, "invalid --concurrency 2000 (EDW_CONCURRENCY): must be 1 to 1024"},
		{"visibility under a second", []string{"--visibility-timeout", "500ms"}, nil, "invalid --visibility-timeout 500ms (EDW_VISIBILITY_TIMEOUT): must be 1s to 168h"},
		{"visibility fractional", []string{"--visibility-timeout", "1500ms"}, nil, "must be whole seconds"},
		{"max dequeue 0", []string{"--max-dequeue-count", "0"}, nil, "invalid --max-dequeue-count 0"},
		{"bad decode", []string{"--decode", "utf16"}, nil, `invalid --decode "utf16" (EDW_DECODE): use text, base64 or auto`},
		{"bad log level env", nil, map[string]string{"EDW_LOG_LEVEL": "loud"}, `invalid EDW_LOG_LEVEL="loud" (--log-level): use debug, info, warn or error`},
		{"bad duration", []string{"--idle-timeout", "soon"}, nil, "not a duration: use a number with a unit such as 30s or 2m"},
		{"negative grace", []string{"--shutdown-grace", "-1s"}, nil, "invalid --shutdown-grace -1s (EDW_SHUTDOWN_GRACE): must be more than 0"},
		{"bad http addr", []string{"--http-addr", "8080"}, nil, `invalid --http-addr "8080" (EDW_HTTP_ADDR): use host:port or :port`},
		{"suffix with scheme", []string{"--endpoint-suffix", "https://core.windows.net"}, nil, "give the DNS suffix only"},
		{"bad auth mode", []string{"--auth-mode", "magic"}, nil, `invalid --auth-mode "magic"`},
		{"workload identity without account", []string{"--auth-mode", "workloadIdentity"}, nil, "missing --account-name (AZURE_STORAGE_ACCOUNT_NAME): --auth-mode workloadIdentity needs it"},
		{"bad account name", []string{"--account-name", "My_Account"}, nil, `invalid --account-name "My_Account"`},
		{"unknown flag", []string{"--queue-name", "x"}, nil, "unknown flag --queue-name: run with --help"},
		{"flag without value", []string{"--queue"}, nil, "flag needs an argument: --queue"},
		{"positional argument", []string{"orders"}, nil, `unexpected argument "orders"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := baseEnv()
			for k, v := range tc.env {
				env[k] = v
			}

			_, err := config.ParseConsumer(tc.args, envOf(env), nil)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.wantErr)
			assert.True(t, config.IsUsage(err), "not a usage error: %v", err)
			assert.NotContains(t, err.Error(), "\n")
		})
	}
}

func TestProducerRejectsInvalidValues(t *testing.T) {
	cases := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"negative rate", []string{"--rate", "-5"}, "invalid --rate -5 (EDW_RATE): must be 0 (as fast as possible) or more"},
		{"negative count", []string{"--count", "-1"}, "invalid --count -1 (EDW_COUNT)"},
		{"never stops", []string{"--count", "0"}, "--count and --duration are both 0"},
		{"size over limit", []string{"--message-size", "70000"}, "invalid --message-size 70000 (EDW_MESSAGE_SIZE): must be 0 to 65536"},
		{"auto encoding", []string{"--encoding", "auto"}, "the producer needs text or base64"},
		{"unknown encoding", []string{"--encoding", "foo"}, `invalid --encoding "foo" (EDW_ENCODING): use text or base64`},
		{"concurrency huge", []string{"--concurrency", "5000"}, "invalid --concurrency 5000 (EDW_CONCURRENCY): must be 1 to 1024"},
		{"rate not finite", []string{"--rate", "NaN"}, `invalid --rate "NaN" (EDW_RATE): not a finite number`},
		{"rate infinite", []string{"--rate", "Inf"}, `invalid --rate "Inf" (EDW_RATE): not a finite number`},
		{"count beyond int", []string{"--count", "99999999999999999999"}, `invalid --count "99999999999999999999" (EDW_COUNT): out of range`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := config.ParseProducer(tc.args, envOf(baseEnv()), nil)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.wantErr)
			assert.True(t, config.IsUsage(err))
		})
	}
}

func TestConnectionStringErrorsHideSecret(t *testing.T) {
	cases := []struct {
		name    string
		value   string
		wantErr string
	}{
		{"no equals", "AccountName=edwtest;" + strings.TrimRight(secretKey, "="), "segment 2 has no '='"},
		{"no key or SAS", "AccountName=edwtest;EndpointSuffix=core.windows.net", "neither AccountKey nor SharedAccessSignature"},
		{"key not base64", "AccountName=edwtest;AccountKey=" + secretKey + "!!", "AccountKey is not valid base64"},
		{"key without account", "AccountKey=" + secretKey, "AccountKey without AccountName"},
		{"bad protocol", "DefaultEndpointsProtocol=ftp;AccountName=edwtest;AccountKey=" + secretKey, "DefaultEndpointsProtocol must be https or http"},
		{"bad endpoint", "AccountName=edwtest;AccountKey=" + secretKey + ";QueueEndpoint=127.0.0.1:10001;TableEndpoint=http://127.0.0.1:10002", "QueueEndpoint is not an http(s) URL"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := baseEnv()
			env["AZURE_STORAGE_CONNECTION_STRING"] = tc.value

			_, err := config.ParseConsumer(nil, envOf(env), nil)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.wantErr)
			assert.Contains(t, err.Error(), "invalid AZURE_STORAGE_CONNECTION_STRING")
			assert.NotContains(t, err.Error(), secretKey[:12])
			assert.True(t, config.IsUsage(err))
		})
	}
}

func TestParseConnectionStringEndpoints(t *testing.T) {
	cases := []struct {
		name      string
		value     string
		wantQueue string
		wantTable string
	}{
		{"portal form", "DefaultEndpointsProtocol=https;AccountName=edwtest;AccountKey=" + secretKey + ";EndpointSuffix=core.windows.net",
			"https://edwtest.queue.core.windows.net", "https://edwtest.table.core.windows.net"},
		{"default suffix applies", "AccountName=edwtest;AccountKey=" + secretKey,
			"https://edwtest.queue.core.chinacloudapi.cn", "https://edwtest.table.core.chinacloudapi.cn"},
		{"explicit endpoints", "AccountName=devstoreaccount1;AccountKey=" + secretKey + ";QueueEndpoint=http://127.0.0.1:1/devstoreaccount1/;TableEndpoint=http://127.0.0.1:2/devstoreaccount1",
			"http://127.0.0.1:1/devstoreaccount1", "http://127.0.0.1:2/devstoreaccount1"},
		{"development storage", "UseDevelopmentStorage=true",
			"http://127.0.0.1:10001/devstoreaccount1", "http://127.0.0.1:10002/devstoreaccount1"},
		{"SAS", "QueueEndpoint=https://a.queue.core.windows.net;TableEndpoint=https://a.table.core.windows.net;SharedAccessSignature=sv=2022&sig=x",
			"https://a.queue.core.windows.net", "https://a.table.core.windows.net"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cs, err := config.ParseConnectionString(tc.value, "core.chinacloudapi.cn")
			require.NoError(t, err)
			assert.Equal(t, tc.wantQueue, cs.QueueEndpoint)
			assert.Equal(t, tc.wantTable, cs.TableEndpoint)
		})
	}
}

func TestHelpListsEveryVariable(t *testing.T) {
	var usage bytes.Buffer
	_, err := config.ParseConsumer([]string{"--help"}, envOf(nil), &usage)
	require.Error(t, err)
	assert.True(t, config.IsHelp(err))

	for _, env := range []string{"AZURE_STORAGE_CONNECTION_STRING", "AZURE_STORAGE_ACCOUNT_NAME", "AZURE_QUEUE_NAME", "AZURE_TABLE_NAME",
		"EDW_POISON_QUEUE_NAME", "AZURE_STORAGE_ENDPOINT_SUFFIX", "EDW_LOG_LEVEL", "EDW_HTTP_ADDR", "EDW_BATCH_SIZE", "EDW_CONCURRENCY",
		"EDW_VISIBILITY_TIMEOUT", "EDW_MAX_DEQUEUE_COUNT", "EDW_DECODE", "EDW_UNTIL_EMPTY", "EDW_IDLE_TIMEOUT", "EDW_MAX_BACKOFF",
		"EDW_SHUTDOWN_GRACE", "EDW_RETRY_TIMEOUT"} {
		assert.Contains(t, usage.String(), env)
	}
}
