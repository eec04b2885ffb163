package message

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Reason names why a message went to the poison queue. The values are also metric labels.
type Reason string

const (
	// ReasonUndecodable is a body that, with auto decoding, is neither JSON nor base64.
	ReasonUndecodable Reason = "undecodable"

	// ReasonInvalidBase64 is a body that, with base64 decoding, is not valid base64.
	ReasonInvalidBase64 Reason = "invalid_base64"

	// ReasonInvalidUTF8 is a body whose (decoded) bytes are not UTF-8.
	ReasonInvalidUTF8 Reason = "invalid_utf8"

	// ReasonInvalidJSON is a body that is not a JSON object of the expected shape.
	ReasonInvalidJSON Reason = "invalid_json"

	// ReasonMissingField is a JSON body without `msg` or `srcStamp`.
	ReasonMissingField Reason = "missing_field"

	// ReasonInvalidSrcStamp is a `srcStamp` that is not a timestamp.
	ReasonInvalidSrcStamp Reason = "invalid_src_stamp"

	// ReasonRowRejected is a row the table refused for good, for example a property over
	// the 64 KiB limit.
	ReasonRowRejected Reason = "row_rejected"

	// ReasonMaxDequeueCount is a message delivered more often than the maximum dequeue count.
	ReasonMaxDequeueCount Reason = "max_dequeue_count"

	// ReasonProcessingFailed is a message whose processing still failed on its last allowed
	// delivery.
	ReasonProcessingFailed Reason = "processing_failed"
)

// PoisonError is a failure that retrying the same message cannot fix.
type PoisonError struct {
	Reason Reason
	Detail string
}

func (e *PoisonError) Error() string { return string(e.Reason) + ": " + e.Detail }

// Poison returns a *PoisonError with a formatted detail.
func Poison(reason Reason, format string, args ...any) error {
	return &PoisonError{Reason: reason, Detail: fmt.Sprintf(format, args...)}
}

// AsPoison returns the *PoisonError in err's chain, if any.
func AsPoison(err error) (*PoisonError, bool) {
	var poison *PoisonError
	ok := errors.As(err, &poison)
	return poison, ok
}

// PoisonRecord is the JSON text the consumer writes to the poison queue: the original message
// text and what is known about its failure.
type PoisonRecord struct {
	Reason       Reason    `json:"reason"`
	Detail       string    `json:"detail"`
	Queue        string    `json:"queue"`
	MessageID    string    `json:"messageId"`
	DequeueCount int64     `json:"dequeueCount"`
	InsertedOn   time.Time `json:"insertedOn"`
	PoisonedOn   time.Time `json:"poisonedOn"`

	// BodyEncoding is "text" when Body is the original message text, or "gzip+base64" when
	// the text was compressed to fit the 64 KiB message limit.
	BodyEncoding string `json:"bodyEncoding"`
	Body         string `json:"body"`
}

// EncodePoison returns the poison queue message text for record. The original text goes in as
// it is when the record fits in MaxSize, else gzip-compressed and base64-encoded. When even
// that does not fit, it returns the original text alone and fits=false: the caller then logs
// the reason, because the queue message cannot carry it.
func EncodePoison(record PoisonRecord) (text string, fits bool, err error) {
	record.BodyEncoding = "text"
	data, err := marshalRecord(record)
	if err != nil {
		return "", false, err
	}
	if len(data) <= MaxSize {
		return string(data), true, nil
	}

	var compressed bytes.Buffer
	writer := gzip.NewWriter(&compressed)
	if _, err := writer.Write([]byte(record.Body)); err != nil {
		return "", false, fmt.Errorf("compressing poison message %s: %w", record.MessageID, err)
	}
	if err := writer.Close(); err != nil {
		return "", false, fmt.Errorf("compressing poison message %s: %w", record.MessageID, err)
	}
	original := record.Body
	record.BodyEncoding = "gzip+base64"
	record.Body = base64.StdEncoding.EncodeToString(compressed.Bytes())
	data, err = marshalRecord(record)
	if err != nil {
		return "", false, err
	}
	if len(data) <= MaxSize {
		return string(data), true, nil
	}
	return original, false, nil
}

// DecodePoison parses a poison queue message written by EncodePoison and returns the record
// with Body restored to the original message text.
func DecodePoison(text string) (PoisonRecord, error) {
	var record PoisonRecord
	if err := json.Unmarshal([]byte(text), &record); err != nil {
		return record, fmt.Errorf("poison message is not a JSON record: %w", err)
	}

	switch record.BodyEncoding {
	case "text":
		return record, nil
	case "gzip+base64":
		compressed, err := base64.StdEncoding.DecodeString(record.Body)
		if err != nil {
			return record, fmt.Errorf("poison message %s: invalid base64 body: %w", record.MessageID, err)
		}
		reader, err := gzip.NewReader(bytes.NewReader(compressed))
		if err != nil {
			return record, fmt.Errorf("poison message %s: invalid gzip body: %w", record.MessageID, err)
		}
		var original bytes.Buffer
		if _, err := original.ReadFrom(reader); err != nil {
			return record, fmt.Errorf("poison message %s: invalid gzip body: %w", record.MessageID, err)
		}
		record.Body = original.String()
		return record, nil
	}
	return record, fmt.Errorf("poison message %s: unknown bodyEncoding %q", record.MessageID, record.BodyEncoding)
}

func marshalRecord(record PoisonRecord) ([]byte, error) {
	var buf bytes.Buffer
	encoder := json.NewEncoder(&buf)
	encoder.SetEscapeHTML(false)
	if err := encoder.Encode(record); err != nil {
		return nil, fmt.Errorf("encoding poison record for message %s: %w", record.MessageID, err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
