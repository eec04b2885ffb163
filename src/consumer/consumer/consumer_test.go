// Tests the consumer in-process against a real Azurite. The cases are the round trip from the
// producer to table rows, deletion only after the row is written, both message encodings,
// redelivery that keeps one row, the poison path for over-delivered and malformed messages,
// and the HTTP endpoints.
package consumer_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azqueue"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/aks-edw/aks-edw/internal/config"
	"github.com/aks-edw/aks-edw/internal/datapathtest"
	"github.com/aks-edw/aks-edw/internal/message"
	"github.com/aks-edw/aks-edw/internal/storage"
	"github.com/aks-edw/aks-edw/src/consumer/consumer"
	"github.com/aks-edw/aks-edw/src/producer/producer"
)

// pythonStyleBody is the JSON a Python producer sends: no id, and characters that XML and
// HTML escaping would change.
const pythonStyleBody = `{"msg":"hello & <world>","srcStamp":"2024-10-01 15:06:49.123456"}`

func TestRoundTrip(t *testing.T) {
	for _, encoding := range []message.Encoding{message.Text, message.Base64} {
		t.Run(string(encoding), func(t *testing.T) {
			const count = 150
			c, clients, _ := newConsumer(t, nil)

			t.Logf("Producing %d %s messages", count, encoding)
			pcfg := config.DefaultProducer()
			pcfg.Storage = clients.Names()
			pcfg.Count = count
			pcfg.Encoding = encoding
			pcfg.MessageSize = 512
			sent, err := producer.Run(context.Background(), pcfg, clients)
			require.NoError(t, err)
			require.Equal(t, int64(count), sent.Sent)

			t.Log("Consuming until the queue is empty")
			summary := runUntilEmpty(t, c)
			assert.Equal(t, int64(count), summary.Processed)
			assert.Zero(t, summary.Poisoned)
			assert.Zero(t, summary.Failed)

			rows := datapathtest.Rows(t, clients.Table)
			assert.Len(t, rows, count)
			ids := map[string]bool{}
			for _, row := range rows {
				ids[row.RowKey] = true
				assert.Equal(t, string(encoding), row.Encoding)
				assert.True(t, strings.HasPrefix(row.Data, "message "), row.Data)
			}
			assert.Len(t, ids, count, "row keys are not unique")
			assert.Zero(t, datapathtest.ApproximateCount(t, clients.Queue))
			assert.Zero(t, datapathtest.ApproximateCount(t, clients.Poison))
		})
	}
}

func TestOneMessageDeletedAfterOneCycle(t *testing.T) {
	c, clients, _ := newConsumer(t, func(cfg *config.Consumer) {
		cfg.VisibilityTimeout = time.Second
		cfg.UntilEmpty = false
	})
	datapathtest.EnqueueBody(t, clients.Queue, datapathtest.Body("single-1"), message.Text)

	t.Log("Running a long-lived consumer with a 1 s visibility timeout")
	stop := startConsumer(t, c)
	require.Eventually(t, func() bool { return c.Summary().Processed == 1 }, 30*time.Second, 50*time.Millisecond)

	t.Log("Letting three more visibility timeouts pass: an undeleted message would come back")
	time.Sleep(3 * time.Second)
	summary, err := stop()
	require.NoError(t, err)

	assert.Equal(t, int64(1), summary.Processed)
	assert.Zero(t, summary.Redelivered)
	assert.Len(t, datapathtest.Rows(t, clients.Table), 1)
	assert.Zero(t, datapathtest.ApproximateCount(t, clients.Queue))
}

// receive takes one message off queue with a visibility timeout, as another consumer would.
func receive(t *testing.T, queue *azqueue.QueueClient, visibility int32) *azqueue.DequeuedMessage {
	t.Helper()
	response, err := queue.DequeueMessage(context.Background(), &azqueue.DequeueMessageOptions{VisibilityTimeout: &visibility})
	require.NoError(t, err)
	require.Len(t, response.Messages, 1)
	return response.Messages[0]
}

// makeVisible sets a received message's visibility timeout to 0, which forces its
// redelivery without waiting, and returns its new pop receipt. The old one becomes stale.
func makeVisible(t *testing.T, queue *azqueue.QueueClient, m *azqueue.DequeuedMessage) string {
	t.Helper()
	zero := int32(0)
	response, err := queue.UpdateMessage(context.Background(), *m.MessageID, *m.PopReceipt, *m.MessageText, &azqueue.UpdateMessageOptions{VisibilityTimeout: &zero})
	require.NoError(t, err)
	return *response.PopReceipt
}

func TestDeleteOnlyAfterRowWritten(t *testing.T) {
	c, clients, logs := newConsumer(t, nil)
	datapathtest.EnqueueBody(t, clients.Queue, datapathtest.Body("no-table-1"), message.Text)

	t.Log("Deleting the table, so the row write fails")
	_, err := clients.Table.Delete(context.Background(), nil)
	require.NoError(t, err)

	m := receive(t, clients.Queue, 30)
	outcome := c.Process(context.Background(), consumer.Delivery{Message: m, ReceivedAt: time.Now()})
	assert.Equal(t, consumer.Failed, outcome)
	assert.Equal(t, int32(1), datapathtest.ApproximateCount(t, clients.Queue), "the message was deleted without its row")
	assert.Zero(t, datapathtest.ApproximateCount(t, clients.Poison))
	assert.Contains(t, logs.String(), `"step":"upsert"`)
	assert.Contains(t, logs.String(), "TableNotFound")

	t.Log("Restoring the table and redelivering: the row is written and the message deleted")
	_, err = clients.Table.CreateTable(context.Background(), nil)
	require.NoError(t, err)
	makeVisible(t, clients.Queue, m)
	summary := runUntilEmpty(t, c)
	assert.Equal(t, int64(1), summary.Processed)
	assert.Len(t, datapathtest.Rows(t, clients.Table), 1)
	assert.Zero(t, datapathtest.ApproximateCount(t, clients.Queue))
}

func TestDecodesTextAndBase64(t *testing.T) {
	c, clients, logs := newConsumer(t, nil)

	t.Log("Sending the same body as text, as base64, and a body that is neither")
	datapathtest.Enqueue(t, clients.Queue, pythonStyleBody)
	datapathtest.Enqueue(t, clients.Queue, base64.StdEncoding.EncodeToString([]byte(pythonStyleBody)))
	datapathtest.Enqueue(t, clients.Queue, "hello world")

	summary := runUntilEmpty(t, c)
	assert.Equal(t, int64(2), summary.Processed)
	assert.Equal(t, int64(1), summary.Poisoned)

	rows := datapathtest.Rows(t, clients.Table)
	require.Len(t, rows, 2)
	encodings := map[string]bool{}
	for _, row := range rows {
		assert.Equal(t, "hello & <world>", row.Data)
		assert.Equal(t, "2024-10-01 15:06:49.123456", row.SrcStamp)
		assert.Equal(t, row.QueueMessageID, row.RowKey, "a body without id is keyed by the queue message ID")
		encodings[row.Encoding] = true
	}
	assert.Equal(t, map[string]bool{"text": true, "base64": true}, encodings)

	records := datapathtest.PoisonRecords(t, clients.Poison)
	require.Len(t, records, 1)
	assert.Equal(t, message.ReasonUndecodable, records[0].Reason)
	assert.Equal(t, "hello world", records[0].Body)
	assert.Contains(t, logs.String(), `"reason":"undecodable"`)
}

func TestRedeliveryKeepsOneRow(t *testing.T) {
	cases := []struct {
		name string
		// otherHolds makes a second consumer hold the message when the first one deletes.
		otherHolds bool
	}{
		{"late delete after the other consumer deleted", false},
		{"late delete while the other consumer holds it", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			slow, clients, slowLogs := newConsumer(t, nil)
			body := datapathtest.Body("redelivered-1")
			datapathtest.EnqueueBody(t, clients.Queue, body, message.Text)

			t.Log("The slow consumer receives the message, then its visibility timeout runs out")
			late := receive(t, clients.Queue, 1)
			receivedAt := time.Now()
			makeVisible(t, clients.Queue, late)

			if tc.otherHolds {
				t.Log("Another consumer receives it and is still working on it")
				other := receive(t, clients.Queue, 30)
				assert.Equal(t, int64(2), *other.DequeueCount)

				outcome := slow.Process(context.Background(), consumer.Delivery{Message: late, ReceivedAt: receivedAt})
				assert.Equal(t, consumer.Processed, outcome)
				makeVisible(t, clients.Queue, other)
			}

			t.Log("A second consumer processes the redelivered message")
			fast := newConsumerOn(t, clients)
			summary := runUntilEmpty(t, fast)
			assert.Equal(t, int64(1), summary.Processed)
			assert.Equal(t, int64(1), summary.Redelivered, "a dequeue count above 1 counts as a redelivery")

			if !tc.otherHolds {
				t.Log("The slow consumer finishes late and its delete meets a stale pop receipt")
				outcome := slow.Process(context.Background(), consumer.Delivery{Message: late, ReceivedAt: receivedAt})
				assert.Equal(t, consumer.Processed, outcome)
			}

			assert.Equal(t, int64(1), slow.Summary().Redelivered)
			assert.Contains(t, slowLogs.String(), "pop receipt is stale at delete")
			assert.NotContains(t, slowLogs.String(), `"level":"ERROR"`)

			rows := datapathtest.Rows(t, clients.Table)
			require.Len(t, rows, 1, "a redelivered message must update its row, not add one")
			assert.Equal(t, body.ID, rows[0].RowKey)
			assert.Zero(t, datapathtest.ApproximateCount(t, clients.Queue))
			assert.Zero(t, datapathtest.ApproximateCount(t, clients.Poison))
		})
	}
}

func TestMaxDequeueCountPoisons(t *testing.T) {
	c, clients, logs := newConsumer(t, func(cfg *config.Consumer) { cfg.MaxDequeueCount = 5 })
	text, err := message.Encode(datapathtest.Body("over-delivered-1"), message.Text)
	require.NoError(t, err)
	datapathtest.Enqueue(t, clients.Queue, text)

	t.Log("Delivering the message five times without deleting it")
	for range 5 {
		makeVisible(t, clients.Queue, receive(t, clients.Queue, 30))
	}

	summary := runUntilEmpty(t, c)
	assert.Equal(t, int64(1), summary.Poisoned)
	assert.Zero(t, summary.Processed)
	assert.Empty(t, datapathtest.Rows(t, clients.Table))
	assert.Zero(t, datapathtest.ApproximateCount(t, clients.Queue))

	records := datapathtest.PoisonRecords(t, clients.Poison)
	require.Len(t, records, 1)
	assert.Equal(t, message.ReasonMaxDequeueCount, records[0].Reason)
	assert.Equal(t, int64(6), records[0].DequeueCount)
	assert.Equal(t, text, records[0].Body)
	assert.Equal(t, clients.Names().QueueName, records[0].Queue)
	assert.Contains(t, logs.String(), `"dequeueCount":6`)
}

func TestLastDeliveryFailurePoisons(t *testing.T) {
	c, clients, _ := newConsumer(t, func(cfg *config.Consumer) { cfg.MaxDequeueCount = 3 })
	datapathtest.EnqueueBody(t, clients.Queue, datapathtest.Body("last-try-1"), message.Text)
	_, err := clients.Table.Delete(context.Background(), nil)
	require.NoError(t, err)

	t.Log("Two deliveries pass without a delete; the third fails to write its row")
	for range 2 {
		makeVisible(t, clients.Queue, receive(t, clients.Queue, 30))
	}
	m := receive(t, clients.Queue, 30)
	require.Equal(t, int64(3), *m.DequeueCount)

	outcome := c.Process(context.Background(), consumer.Delivery{Message: m, ReceivedAt: time.Now()})
	assert.Equal(t, consumer.Poisoned, outcome)
	assert.Zero(t, datapathtest.ApproximateCount(t, clients.Queue))

	records := datapathtest.PoisonRecords(t, clients.Poison)
	require.Len(t, records, 1)
	assert.Equal(t, message.ReasonProcessingFailed, records[0].Reason)
	assert.Contains(t, records[0].Detail, "upsert failed on delivery 3 of 3")
}

func TestMalformedInputsPoisoned(t *testing.T) {
	c, clients, logs := newConsumer(t, func(cfg *config.Consumer) { cfg.UntilEmpty = false })

	// A 64 KiB body: valid JSON whose msg is longer than a table property may be (64 KiB
	// of UTF-16), so the table rejects the row.
	envelope := `{"id":"large-1","srcStamp":"2024-10-01 15:06:49.123456","msg":""}`
	large := strings.Replace(envelope, `"msg":""`, `"msg":"`+strings.Repeat("x", message.MaxSize-len(envelope))+`"`, 1)
	require.Len(t, large, message.MaxSize)

	cases := []struct {
		name       string
		text       string
		wantReason message.Reason
	}{
		{"not JSON", "{this is not json}", message.ReasonInvalidJSON},
		{"JSON missing fields", `{"id":"partial-1","msg":"no stamp"}`, message.ReasonMissingField},
		{"invalid base64", "eyJtc2ci!!!", message.ReasonUndecodable},
		{"non-UTF-8", base64.StdEncoding.EncodeToString([]byte{'{', '"', 0xff, 0xfe, '"', '}'}), message.ReasonInvalidUTF8},
		{"64 KiB body", large, message.ReasonRowRejected},
	}

	t.Log("Running a long-lived consumer and sending each malformed message")
	stop := startConsumer(t, c)
	for _, tc := range cases {
		datapathtest.Enqueue(t, clients.Queue, tc.text)
	}
	require.Eventually(t, func() bool { return c.Summary().Poisoned == int64(len(cases)) }, time.Minute, 50*time.Millisecond)

	t.Log("The consumer keeps running: a valid message after them becomes a row")
	datapathtest.EnqueueBody(t, clients.Queue, datapathtest.Body("after-malformed-1"), message.Base64)
	require.Eventually(t, func() bool { return c.Summary().Processed == 1 }, time.Minute, 50*time.Millisecond)
	_, err := stop()
	require.NoError(t, err)

	records := datapathtest.PoisonRecords(t, clients.Poison)
	require.Len(t, records, len(cases))
	reasonByBody := map[string]message.Reason{}
	for _, record := range records {
		reasonByBody[record.Body] = record.Reason
		assert.NotEmpty(t, record.Detail)
	}
	for _, tc := range cases {
		assert.Equal(t, tc.wantReason, reasonByBody[tc.text], tc.name)
	}

	rows := datapathtest.Rows(t, clients.Table)
	require.Len(t, rows, 1)
	assert.Equal(t, "after-malformed-1", rows[0].RowKey)
	assert.Zero(t, datapathtest.ApproximateCount(t, clients.Queue))
	assert.Contains(t, logs.String(), "PropertyValueTooLarge")
}

func TestBase64ModeRejectsText(t *testing.T) {
	c, clients, _ := newConsumer(t, func(cfg *config.Consumer) { cfg.Decode = message.Base64 })
	datapathtest.Enqueue(t, clients.Queue, pythonStyleBody)

	summary := runUntilEmpty(t, c)
	assert.Equal(t, int64(1), summary.Poisoned)

	records := datapathtest.PoisonRecords(t, clients.Poison)
	require.Len(t, records, 1)
	assert.Equal(t, message.ReasonInvalidBase64, records[0].Reason)
}

func TestStartupCheckFailsOnMissingQueue(t *testing.T) {
	t.Log("Building clients for resources that were never created")
	names := datapathtest.Names(t, emulator, "cons")
	clients, err := storage.New(names)
	require.NoError(t, err)
	cfg := datapathtest.ConsumerConfig(names)

	_, err = consumer.New(cfg, clients).Run(context.Background())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "startup check failed: queue "+names.QueueName+" not found")
}

func TestStartupFailurePrintsOnlyError(t *testing.T) {
	names := datapathtest.Names(t, emulator, "cons")
	env := map[string]string{
		"AZURE_STORAGE_CONNECTION_STRING": names.ConnectionString,
		"AZURE_QUEUE_NAME":                names.QueueName,
		"AZURE_TABLE_NAME":                names.TableName,
		"EDW_HTTP_ADDR":                   "127.0.0.1:0",
	}

	t.Log("Running the consumer on a queue that was never created")
	var stdout, stderr bytes.Buffer
	status := consumer.Main(nil, func(name string) string { return env[name] }, &stdout, &stderr)
	assert.Equal(t, 1, status)
	assert.Empty(t, stdout.String(), "no all-zero summary before a startup error")
	assert.Contains(t, stderr.String(), "startup check failed")
}

func TestHTTPEndpoints(t *testing.T) {
	c, clients, _ := newConsumer(t, func(cfg *config.Consumer) { cfg.UntilEmpty = false })

	t.Log("Before Run, /readyz is 503 and /healthz is 200")
	server := httptest.NewServer(c.Handler())
	defer server.Close()
	assert.Equal(t, http.StatusServiceUnavailable, get(t, server.URL+"/readyz").status)
	assert.Equal(t, http.StatusOK, get(t, server.URL+"/healthz").status)

	for i := range 3 {
		datapathtest.EnqueueBody(t, clients.Queue, datapathtest.Body(fmt.Sprintf("metrics-%d", i)), message.Text)
	}
	datapathtest.Enqueue(t, clients.Queue, "not a message")

	stop := startConsumer(t, c)
	require.Eventually(t, func() bool { return c.Summary().Processed == 3 && c.Summary().Poisoned == 1 }, time.Minute, 50*time.Millisecond)
	base := "http://" + c.HTTPAddr()

	assert.Equal(t, http.StatusOK, get(t, base+"/readyz").status)
	metrics := get(t, base+"/metrics")
	assert.Equal(t, http.StatusOK, metrics.status)
	for _, line := range []string{
		"edw_consumer_messages_processed_total 3",
		`edw_consumer_messages_poisoned_total{reason="undecodable"} 1`,
		"edw_consumer_processing_seconds_count 3",
		"edw_consumer_end_to_end_seconds_count 3",
		"edw_consumer_messages_in_flight 0",
	} {
		assert.True(t, strings.Contains(metrics.body, line), "/metrics lacks %q", line)
	}
	for _, line := range []string{
		`edw_consumer_messages_failed_total{step="upsert"} 0`,
		`edw_consumer_messages_redelivered_total{event="stale_pop_receipt"} 0`,
		`edw_consumer_messages_poisoned_total{reason="max_dequeue_count"} 0`,
		"process_resident_memory_bytes ",
	} {
		assert.True(t, strings.Contains(metrics.body, line), "/metrics lacks %q", line)
	}

	_, err := stop()
	require.NoError(t, err)
}

type response struct {
	status int
	body   string
}

func get(t *testing.T, url string) response {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return response{resp.StatusCode, string(body)}
}

func TestLongIDTruncatedInLogs(t *testing.T) {
	c, clients, logs := newConsumer(t, nil)
	longID := strings.Repeat("x", 20000)
	datapathtest.EnqueueBody(t, clients.Queue, datapathtest.Body(longID), message.Text)

	t.Log("Consuming a message whose body id has 20000 characters")
	runUntilEmpty(t, c)

	assert.Contains(t, logs.String(), `"idLength":20000`)
	for _, line := range strings.Split(logs.String(), "\n") {
		assert.Less(t, len(line), 4096, "log line too long: %.200s", line)
	}
}
