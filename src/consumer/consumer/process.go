package consumer

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azqueue"

	"github.com/aks-edw/aks-edw/internal/message"
	"github.com/aks-edw/aks-edw/internal/retry"
)

// Delivery is one received message and when the receive call returned it.
type Delivery struct {
	Message    *azqueue.DequeuedMessage
	ReceivedAt time.Time
}

func (d Delivery) id() string          { return deref(d.Message.MessageID) }
func (d Delivery) popReceipt() string  { return deref(d.Message.PopReceipt) }
func (d Delivery) text() string        { return deref(d.Message.MessageText) }
func (d Delivery) dequeueCount() int64 { return derefInt(d.Message.DequeueCount) }
func (d Delivery) insertedOn() time.Time {
	if d.Message.InsertionTime == nil {
		return time.Time{}
	}
	return *d.Message.InsertionTime
}

// Outcome is the result of Process for one message.
type Outcome int

const (
	// Processed means the row is written and the message deleted, or already deleted
	// because another delivery of it was processed.
	Processed Outcome = iota
	// Poisoned means the message was copied to the poison queue and deleted.
	Poisoned
	// Failed means the message stays in the queue and becomes visible again when its
	// visibility timeout ends.
	Failed
)

// row is the table entity written for a message. Its columns keep the original sample's
// data, srcStamp and dateStamp, and add where the row came from and how long it took.
type row struct {
	PartitionKey        string  `json:"PartitionKey"`
	RowKey              string  `json:"RowKey"`
	Data                string  `json:"data"`
	SrcStamp            string  `json:"srcStamp"`
	DateStamp           string  `json:"dateStamp"`
	MessageID           string  `json:"messageId"`
	QueueMessageID      string  `json:"queueMessageId"`
	DequeueCount        int64   `json:"dequeueCount"`
	Encoding            string  `json:"encoding"`
	ProcessingLatencyMs float64 `json:"processingLatencyMs"`
	ProcessingType      string  `json:"processingLatencyMs@odata.type"`
	EndToEndLatencyMs   float64 `json:"endToEndLatencyMs"`
	EndToEndType        string  `json:"endToEndLatencyMs@odata.type"`
}

// Process handles one delivery: it decodes the body, upserts the row keyed by the message
// id and deletes the message only after the row is written. A body that cannot be decoded, a
// row the table rejects for good, and a message over the maximum dequeue count go to the
// poison queue. Process never returns an error: every failure is logged and counted, and the
// message either stays in the queue for redelivery or is poisoned, so none is lost.
func (c *Consumer) Process(ctx context.Context, d Delivery) Outcome {
	c.metrics.InFlight.Inc()
	defer c.metrics.InFlight.Dec()

	logger := c.logger.With("messageId", d.id(), "dequeueCount", d.dequeueCount())
	policy := c.policy.WithLogger(logger)

	if d.dequeueCount() > 1 {
		c.redelivered.Add(1)
		c.metrics.Redelivered.WithLabelValues("dequeue_count").Inc()
		logger.Info("message redelivered: its dequeue count is above 1")
	}
	if maxCount := int64(c.cfg.MaxDequeueCount); d.dequeueCount() > maxCount {
		return c.poison(ctx, logger, d, &message.PoisonError{
			Reason: message.ReasonMaxDequeueCount,
			Detail: fmt.Sprintf("delivered %d times, more than the maximum dequeue count %d", d.dequeueCount(), maxCount),
		})
	}

	body, encoding, err := message.Decode(d.text(), c.cfg.Decode)
	if err != nil {
		if poison, ok := message.AsPoison(err); ok {
			return c.poison(ctx, logger, d, poison)
		}
		logger.Error("decoding message failed", "error", err)
		return c.fail(ctx, logger, d, "decode", err)
	}

	id := body.ID
	if id == "" {
		id = d.id()
	}
	logger = logger.With(logID(id)...)

	written, err := c.writeRow(ctx, policy, d, body, id, encoding)
	if err != nil {
		if retry.StatusCode(err) == http.StatusBadRequest || retry.StatusCode(err) == http.StatusRequestEntityTooLarge {
			return c.poison(ctx, logger, d, &message.PoisonError{
				Reason: message.ReasonRowRejected,
				Detail: "the table rejected the row: " + retry.Describe(err),
			})
		}
		return c.fail(ctx, logger, d, "upsert", err)
	}

	if srcStamp, err := message.ParseStamp(body.SrcStamp); err == nil {
		c.metrics.EndToEndSeconds.Observe(written.Sub(srcStamp).Seconds())
	}

	if outcome, ok := c.delete(ctx, logger, policy, d, "delete"); !ok {
		return outcome
	}
	c.processed.Add(1)
	c.metrics.Processed.Inc()
	c.metrics.ProcessingSeconds.Observe(time.Since(d.ReceivedAt).Seconds())
	logger.Debug("message processed")
	return Processed
}

// writeRow upserts the row in replace mode, so every delivery of a message leaves exactly one
// row with the latest delivery's columns. It returns when the row was written.
func (c *Consumer) writeRow(ctx context.Context, policy retry.Policy, d Delivery, body message.Body, id string, encoding message.Encoding) (time.Time, error) {
	partitionKey, rowKey, err := message.RowKeys(id)
	if err != nil {
		return time.Time{}, err
	}

	now := time.Now()
	entity := row{
		PartitionKey:        partitionKey,
		RowKey:              rowKey,
		Data:                body.Msg,
		SrcStamp:            body.SrcStamp,
		DateStamp:           message.FormatStamp(now),
		MessageID:           id,
		QueueMessageID:      d.id(),
		DequeueCount:        d.dequeueCount(),
		Encoding:            string(encoding),
		ProcessingLatencyMs: float64(now.Sub(d.ReceivedAt).Microseconds()) / 1000,
		ProcessingType:      "Edm.Double",
		EndToEndType:        "Edm.Double",
	}
	if srcStamp, err := message.ParseStamp(body.SrcStamp); err == nil {
		entity.EndToEndLatencyMs = float64(now.Sub(srcStamp).Microseconds()) / 1000
	}
	data, err := json.Marshal(entity)
	if err != nil {
		return time.Time{}, fmt.Errorf("encoding the row for message %s: %w", id, err)
	}

	err = policy.Do(ctx, "upsert row", func(ctx context.Context) error {
		_, err := c.clients.Table.UpsertEntity(ctx, data, &aztables.UpsertEntityOptions{UpdateMode: aztables.UpdateModeReplace})
		return err
	})
	return time.Now(), err
}

// delete deletes the message with its pop receipt. A stale pop receipt means the message
// became visible again and was received anew: that is a redelivery, logged and counted, and
// the other delivery finishes the work. ok is false when the caller must return outcome.
func (c *Consumer) delete(ctx context.Context, logger *slog.Logger, policy retry.Policy, d Delivery, step string) (outcome Outcome, ok bool) {
	err := policy.Do(ctx, "delete message", func(ctx context.Context) error {
		_, err := c.clients.Queue.DeleteMessage(ctx, d.id(), d.popReceipt(), nil)
		return err
	})
	if err == nil {
		return Processed, true
	}
	if isStalePopReceipt(err) {
		c.redelivered.Add(1)
		c.metrics.Redelivered.WithLabelValues("stale_pop_receipt").Inc()
		logger.Warn("message redelivered: its pop receipt is stale at delete, so another delivery finishes it",
			"step", step, "error", retry.Describe(err))
		return Processed, true
	}
	return c.fail(ctx, logger, d, step, err), false
}

// isStalePopReceipt reports whether a delete failed because the message was received again
// (or already deleted) since this pop receipt was issued. Azure returns 404 MessageNotFound.
// Azurite 3.35 returns 400 PopReceiptMismatch while the message still exists.
func isStalePopReceipt(err error) bool {
	switch retry.ErrorCode(err) {
	case "MessageNotFound", "PopReceiptMismatch":
		return true
	}
	return retry.StatusCode(err) == http.StatusNotFound
}

// fail counts a failed step. A row write that fails on the message's last allowed delivery
// sends the message to the poison queue, so it does not cycle through the queue for ever. A
// failed delete does not: the row is written, and the next delivery deletes the message.
func (c *Consumer) fail(ctx context.Context, logger *slog.Logger, d Delivery, step string, err error) Outcome {
	if ctx.Err() != nil {
		// Shutting down: the message becomes visible again after its visibility timeout.
		c.failed.Add(1)
		c.metrics.Failed.WithLabelValues(step).Inc()
		logger.Warn("processing stopped by shutdown; the message will be redelivered", "step", step, "error", retry.Describe(err))
		return Failed
	}
	if d.dequeueCount() >= int64(c.cfg.MaxDequeueCount) && step == "upsert" {
		return c.poison(ctx, logger, d, &message.PoisonError{
			Reason: message.ReasonProcessingFailed,
			Detail: fmt.Sprintf("%s failed on delivery %d of %d: %s", step, d.dequeueCount(), c.cfg.MaxDequeueCount, retry.Describe(err)),
		})
	}
	c.failed.Add(1)
	c.metrics.Failed.WithLabelValues(step).Inc()
	logger.Error("processing failed; the message will be redelivered when its visibility timeout ends",
		"step", step, "error", retry.Describe(err))
	return Failed
}

// poison copies the message to the poison queue with the reason, then deletes it from the
// main queue. If the copy fails, the message stays in the main queue.
func (c *Consumer) poison(ctx context.Context, logger *slog.Logger, d Delivery, cause *message.PoisonError) Outcome {
	policy := c.policy.WithLogger(logger)
	record := message.PoisonRecord{
		Reason:       cause.Reason,
		Detail:       cause.Detail,
		Queue:        c.cfg.QueueName,
		MessageID:    d.id(),
		DequeueCount: d.dequeueCount(),
		InsertedOn:   d.insertedOn(),
		PoisonedOn:   time.Now().UTC(),
		Body:         d.text(),
	}
	text, fits, err := message.EncodePoison(record)
	if err != nil {
		return c.fail(ctx, logger, d, "poison", err)
	}
	if !fits {
		logger.Warn("poison record exceeds the 64 KiB message limit, so the poison queue gets the original text alone and the reason is only in this log",
			"reason", string(cause.Reason), "detail", cause.Detail)
	}

	// A time to live of -1 keeps the poison message until someone deletes it.
	neverExpire := int32(-1)
	err = policy.Do(ctx, "enqueue poison message", func(ctx context.Context) error {
		_, err := c.clients.Poison.EnqueueMessage(ctx, text, &azqueue.EnqueueMessageOptions{TimeToLive: &neverExpire})
		return err
	})
	if err != nil {
		return c.fail(ctx, logger, d, "poison", err)
	}

	// NOTE: if the delete meets a stale pop receipt, another consumer holds the message and
	// will poison it again, so the poison queue can hold two copies of it.
	if outcome, ok := c.delete(ctx, logger, policy, d, "delete_poisoned"); !ok {
		return outcome
	}
	c.poisoned.Add(1)
	c.metrics.Poisoned.WithLabelValues(string(cause.Reason)).Inc()
	logger.Warn("message moved to the poison queue",
		"poisonQueue", c.cfg.PoisonQueueName, "reason", string(cause.Reason), "detail", cause.Detail)
	return Poisoned
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func derefInt(n *int64) int64 {
	if n == nil {
		return 0
	}
	return *n
}

// maxLoggedIDLength bounds the body id in a log line. Ids come from the message body, so one
// of 40000 characters would otherwise put 40 KB into every line about that message.
const maxLoggedIDLength = 128

// logID returns the log attributes for a body id: the id itself, or its first
// maxLoggedIDLength bytes and its full length.
func logID(id string) []any {
	if len(id) <= maxLoggedIDLength {
		return []any{"id", id}
	}
	return []any{"id", strings.ToValidUTF8(id[:maxLoggedIDLength], "") + "...", "idLength", len(id)}
}
