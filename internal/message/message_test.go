// Tests the message body format: stamps, codecs in both directions, the reasons a body is
// rejected, row keys, padding and the poison record.
package message_test

import (
	"encoding/base64"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/aks-edw/aks-edw/internal/message"
)

// pythonStyleBody is what the Python SDK sends by default: JSON as plain text, with characters
// that XML and HTML escaping would change.
const pythonStyleBody = `{"msg":"hello & <world>","srcStamp":"2024-10-01 15:06:49.123456"}`

func TestStampRoundTrip(t *testing.T) {
	at := time.Date(2024, 10, 1, 15, 6, 49, 123456000, time.UTC)

	formatted := message.FormatStamp(at)
	assert.Equal(t, "2024-10-01 15:06:49.123456", formatted)

	parsed, err := message.ParseStamp(formatted)
	require.NoError(t, err)
	assert.True(t, parsed.Equal(at))
}

func TestParseStampForms(t *testing.T) {
	cases := []struct {
		value string
		want  time.Time
	}{
		{"2024-10-01 15:06:49", time.Date(2024, 10, 1, 15, 6, 49, 0, time.UTC)},
		{"2024-10-01 15:06:49.5", time.Date(2024, 10, 1, 15, 6, 49, 500000000, time.UTC)},
		{"2024-10-01T17:06:49.25+02:00", time.Date(2024, 10, 1, 15, 6, 49, 250000000, time.UTC)},
	}
	for _, tc := range cases {
		t.Run(tc.value, func(t *testing.T) {
			got, err := message.ParseStamp(tc.value)
			require.NoError(t, err)
			assert.True(t, got.Equal(tc.want), "got %s", got)
		})
	}

	_, err := message.ParseStamp("yesterday")
	require.Error(t, err)
	assert.Contains(t, err.Error(), `"yesterday"`)
}

func TestDecodeSameBodyBothEncodings(t *testing.T) {
	encoded := base64.StdEncoding.EncodeToString([]byte(pythonStyleBody))

	cases := []struct {
		name     string
		text     string
		encoding message.Encoding
		want     message.Encoding
	}{
		{"text as text", pythonStyleBody, message.Text, message.Text},
		{"text as auto", pythonStyleBody, message.Auto, message.Text},
		{"base64 as base64", encoded, message.Base64, message.Base64},
		{"base64 as auto", encoded, message.Auto, message.Base64},
		{"text with whitespace as auto", "\n  " + pythonStyleBody + "\n", message.Auto, message.Text},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			body, found, err := message.Decode(tc.text, tc.encoding)
			require.NoError(t, err)
			assert.Equal(t, tc.want, found)
			assert.Equal(t, "hello & <world>", body.Msg)
			assert.Equal(t, "2024-10-01 15:06:49.123456", body.SrcStamp)
			assert.Empty(t, body.ID)
		})
	}
}

func TestDecodeRejectsWithReason(t *testing.T) {
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

	cases := []struct {
		name       string
		text       string
		encoding   message.Encoding
		wantReason message.Reason
		wantDetail string
	}{
		{"plain words auto", "hello world", message.Auto, message.ReasonUndecodable, "neither JSON nor base64"},
		{"plain words base64", "hello world", message.Base64, message.ReasonInvalidBase64, "not valid base64"},
		{"base64 of non-JSON", b64("hello world"), message.Auto, message.ReasonInvalidJSON, "not a JSON object"},
		{"broken JSON text", `{"msg": "x",`, message.Auto, message.ReasonInvalidJSON, "not a JSON object"},
		{"JSON array", `["msg"]`, message.Text, message.ReasonInvalidJSON, "not a JSON object"},
		{"JSON array auto", `[{"id":"a1","msg":"x","srcStamp":"2024-10-01 15:06:49"}]`, message.Auto, message.ReasonInvalidJSON, "text body is JSON but not a JSON object"},
		{"JSON null auto", `null`, message.Auto, message.ReasonInvalidJSON, "text body is JSON but not a JSON object"},
		{"JSON null text", `null`, message.Text, message.ReasonInvalidJSON, "text body is JSON but not a JSON object"},
		{"JSON string auto", `"hello"`, message.Auto, message.ReasonInvalidJSON, "text body is JSON but not a JSON object"},
		{"JSON number auto", ` 42 `, message.Auto, message.ReasonInvalidJSON, "text body is JSON but not a JSON object"},
		{"msg is a number", `{"msg":5,"srcStamp":"2024-10-01 15:06:49"}`, message.Text, message.ReasonInvalidJSON, "not a JSON object"},
		{"base64 JSON read as text", b64(pythonStyleBody), message.Text, message.ReasonInvalidJSON, "text body is not a JSON object"},
		{"missing srcStamp", `{"id":"a","msg":"x"}`, message.Auto, message.ReasonMissingField, "has no srcStamp"},
		{"missing both", `{"id":"a"}`, message.Auto, message.ReasonMissingField, "has no msg and no srcStamp"},
		{"invalid srcStamp", `{"msg":"x","srcStamp":"soon"}`, message.Auto, message.ReasonInvalidSrcStamp, `invalid srcStamp "soon"`},
		{"non-UTF-8 in base64", base64.StdEncoding.EncodeToString([]byte{'{', 0xff, 0xfe, '}'}), message.Auto, message.ReasonInvalidUTF8, "base64 body is not valid UTF-8"},
		{"non-UTF-8 text", "{\"msg\":\"\xc3\x28\"}", message.Text, message.ReasonInvalidUTF8, "text body is not valid UTF-8"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := message.Decode(tc.text, tc.encoding)
			require.Error(t, err)
			poison, ok := message.AsPoison(err)
			require.True(t, ok, "error %v is not a PoisonError", err)
			assert.Equal(t, tc.wantReason, poison.Reason)
			assert.Contains(t, poison.Detail, tc.wantDetail)
		})
	}
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	body := message.Body{ID: "0192-abc", Msg: `quotes " and <tags> & unicode ✓`, SrcStamp: "2024-10-01 15:06:49.000001"}

	for _, encoding := range []message.Encoding{message.Text, message.Base64} {
		t.Run(string(encoding), func(t *testing.T) {
			text, err := message.Encode(body, encoding)
			require.NoError(t, err)

			got, found, err := message.Decode(text, message.Auto)
			require.NoError(t, err)
			assert.Equal(t, encoding, found)
			assert.Equal(t, body, got)
		})
	}

	_, err := message.Encode(body, message.Auto)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "use text or base64")
}

func TestEncodeKeepsHTMLCharacters(t *testing.T) {
	text, err := message.Encode(message.Body{Msg: "a<b>&c", SrcStamp: "2024-10-01 15:06:49"}, message.Text)
	require.NoError(t, err)
	assert.Contains(t, text, `"a<b>&c"`)
}

func TestParseEncoding(t *testing.T) {
	for _, value := range []string{"text", "BASE64", " auto "} {
		_, err := message.ParseEncoding(value)
		assert.NoError(t, err, value)
	}

	_, err := message.ParseEncoding("utf16")
	require.Error(t, err)
	assert.Equal(t, `invalid encoding "utf16": use text, base64 or auto`, err.Error())
}

func TestRowKeys(t *testing.T) {
	t.Run("safe id kept", func(t *testing.T) {
		partition, row, err := message.RowKeys("0192f0c4-7d1e-7c3a-9b1e-2f4c6a8e0b12")
		require.NoError(t, err)
		assert.Equal(t, "0192f0c4-7d1e-7c3a-9b1e-2f4c6a8e0b12", row)
		assert.Regexp(t, `^p[0-9a-f]{2}$`, partition)
	})

	t.Run("same id same keys", func(t *testing.T) {
		p1, r1, err := message.RowKeys("order/42#1")
		require.NoError(t, err)
		p2, r2, err := message.RowKeys("order/42#1")
		require.NoError(t, err)
		assert.Equal(t, p1, p2)
		assert.Equal(t, r1, r2)
	})

	t.Run("forbidden characters hashed", func(t *testing.T) {
		for _, id := range []string{"order/42", `a\b`, "x#1", "why?", "tab\there", strings.Repeat("a", 201)} {
			_, row, err := message.RowKeys(id)
			require.NoError(t, err)
			assert.Regexp(t, `^sha256:[0-9a-f]{64}$`, row, id)
		}
	})

	t.Run("empty id rejected", func(t *testing.T) {
		_, _, err := message.RowKeys("")
		assert.Error(t, err)
	})
}

func TestPadToSize(t *testing.T) {
	body := message.Body{ID: "id-1", Msg: "hello", SrcStamp: "2024-10-01 15:06:49.123456"}

	for _, encoding := range []message.Encoding{message.Text, message.Base64} {
		for _, size := range []int{200, 1000, 4097, message.MaxSize} {
			padded, err := message.PadTo(body, size, encoding)
			require.NoError(t, err)
			text, err := message.Encode(padded, encoding)
			require.NoError(t, err)

			assert.LessOrEqual(t, len(text), size, "%s %d", encoding, size)
			assert.GreaterOrEqual(t, len(text), size-4, "%s %d", encoding, size)
		}
	}

	small, err := message.PadTo(body, 10, message.Text)
	require.NoError(t, err)
	assert.Empty(t, small.Padding)
}

func TestPoisonRecordRoundTrip(t *testing.T) {
	// Base64 of random bytes barely compresses, so its record cannot fit in 64 KiB.
	random := rand.New(rand.NewPCG(1, 2))
	randomBytes := make([]byte, message.MaxSize)
	for i := range randomBytes {
		randomBytes[i] = byte(random.Uint32())
	}
	incompressible := base64.StdEncoding.EncodeToString(randomBytes)[:message.MaxSize]

	cases := []struct {
		name         string
		body         string
		wantFits     bool
		wantEncoding string
	}{
		{"small body as text", pythonStyleBody, true, "text"},
		{"64 KiB repetitive body compressed", strings.Repeat("x", message.MaxSize), true, "gzip+base64"},
		{"64 KiB random body alone", incompressible, false, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			record := message.PoisonRecord{
				Reason: message.ReasonRowRejected, Detail: "PropertyValueTooLarge",
				Queue: "orders", MessageID: "m-1", DequeueCount: 1, Body: tc.body,
			}
			text, fits, err := message.EncodePoison(record)
			require.NoError(t, err)
			assert.Equal(t, tc.wantFits, fits)
			assert.LessOrEqual(t, len(text), message.MaxSize)

			if !tc.wantFits {
				assert.True(t, tc.body == text, "the original text is not returned unchanged")
				return
			}
			decoded, err := message.DecodePoison(text)
			require.NoError(t, err)
			assert.Equal(t, tc.wantEncoding, decoded.BodyEncoding)
			assert.Equal(t, tc.body, decoded.Body)
			assert.Equal(t, message.ReasonRowRejected, decoded.Reason)
		})
	}
}
