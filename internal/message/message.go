// Package message defines the queue message body that the producer sends and the consumer
// turns into a table row: a JSON object with `id`, `msg` and `srcStamp`, sent as plain text or
// base64. It also derives the row's keys from the message id and names the reasons a message
// is moved to the poison queue.
package message

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// MaxSize is the largest message text Azure Queue Storage accepts, in bytes: 64 KiB.
const MaxSize = 64 * 1024

// StampLayout is the layout of `srcStamp` and of the row's `dateStamp`: UTC with microseconds,
// for example 2024-10-01 15:06:49.123456.
const StampLayout = "2006-01-02 15:04:05.000000"

// Body is the JSON document carried by a queue message.
type Body struct {
	// ID identifies the message across redeliveries and producer retries. Bodies from other
	// producers may lack it, and then the consumer keys the row by the queue's message ID.
	ID string `json:"id,omitempty"`

	// Msg is the payload, stored in the row's `data` column.
	Msg string `json:"msg"`

	// SrcStamp is when the producer created the message, in StampLayout.
	SrcStamp string `json:"srcStamp"`

	// Padding fills the body up to a requested size. The consumer ignores it.
	Padding string `json:"padding,omitempty"`
}

// FormatStamp formats t in UTC as StampLayout.
func FormatStamp(t time.Time) string {
	return t.UTC().Format(StampLayout)
}

// stampLayouts are the accepted forms of `srcStamp`: StampLayout with 0 to 9 fractional
// digits, and RFC 3339, which some other producers send.
var stampLayouts = []string{"2006-01-02 15:04:05.999999999", time.RFC3339Nano}

// ParseStamp parses a `srcStamp` value. A value without a zone is UTC.
func ParseStamp(value string) (time.Time, error) {
	for _, layout := range stampLayouts {
		if t, err := time.Parse(layout, value); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("invalid srcStamp %q: expected UTC as YYYY-MM-DD HH:MM:SS.ffffff", value)
}

// safeKey matches ids usable as a RowKey as they are. Table keys must not contain / \ # ? or
// control characters, and this is a stricter subset that also reads well in a URL.
var safeKey = regexp.MustCompile(`^[A-Za-z0-9._:@-]{1,200}$`)

// RowKeys derives the table row's PartitionKey and RowKey from a message id, so every delivery
// of the same message writes the same row. An id with characters outside [A-Za-z0-9._:@-] or
// longer than 200 characters is replaced by its SHA-256. The PartitionKey is "p" followed by
// the first two hex digits of that SHA-256, which spreads rows over 256 partitions.
func RowKeys(id string) (partitionKey, rowKey string, err error) {
	if id == "" {
		return "", "", errors.New("empty message id")
	}
	sum := sha256.Sum256([]byte(id))
	digest := hex.EncodeToString(sum[:])

	rowKey = id
	if !safeKey.MatchString(id) {
		rowKey = "sha256:" + digest
	}
	return "p" + digest[:2], rowKey, nil
}

// PadTo returns b with Padding set so that its encoded text is as close to size bytes as the
// encoding allows without going over. A size smaller than the unpadded body leaves b as is.
func PadTo(b Body, size int, encoding Encoding) (Body, error) {
	b.Padding = ""
	raw, err := marshal(b)
	if err != nil {
		return b, err
	}

	rawTarget := size
	if encoding == Base64 {
		// Base64 turns every 3 bytes into 4 characters.
		rawTarget = size / 4 * 3
	}
	// The padding field adds its name, quotes, colon and a comma to the JSON.
	const fieldOverhead = len(`,"padding":""`)
	padding := rawTarget - len(raw) - fieldOverhead
	if padding <= 0 {
		return b, nil
	}
	b.Padding = strings.Repeat("x", padding)
	return b, nil
}
