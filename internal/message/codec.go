package message

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Encoding is the form in which a Body travels as queue message text.
type Encoding string

const (
	// Text sends the JSON as it is. The Python SDK and the Go SDK send text by default.
	Text Encoding = "text"

	// Base64 sends the JSON base64-encoded (standard alphabet, padded). The .NET SDK and
	// Azure Functions send base64 by default.
	Base64 Encoding = "base64"

	// Auto, for decoding only, reads a body as text when it starts with `{` or is valid
	// JSON, and any other body as base64. JSON that is not an object (an array, null, a
	// string or a number) is then poisoned as "JSON but not a JSON object".
	Auto Encoding = "auto"
)

// ParseEncoding parses "text", "base64" or "auto".
func ParseEncoding(value string) (Encoding, error) {
	switch e := Encoding(strings.ToLower(strings.TrimSpace(value))); e {
	case Text, Base64, Auto:
		return e, nil
	}
	return "", fmt.Errorf("invalid encoding %q: use text, base64 or auto", value)
}

// Encode returns the queue message text for b.
func Encode(b Body, encoding Encoding) (string, error) {
	data, err := marshal(b)
	if err != nil {
		return "", err
	}

	switch encoding {
	case Text:
		return string(data), nil
	case Base64:
		return base64.StdEncoding.EncodeToString(data), nil
	}
	return "", fmt.Errorf("invalid encoding %q for sending: use text or base64", encoding)
}

// marshal encodes b as JSON without HTML escaping, so `<`, `>` and `&` stay as they are.
func marshal(b Body) ([]byte, error) {
	var buf bytes.Buffer
	encoder := json.NewEncoder(&buf)
	encoder.SetEscapeHTML(false)
	if err := encoder.Encode(b); err != nil {
		return nil, fmt.Errorf("encoding message %q as JSON: %w", b.ID, err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// wireBody is Body with pointers, so Decode can tell a missing field from an empty one.
type wireBody struct {
	ID       *string `json:"id"`
	Msg      *string `json:"msg"`
	SrcStamp *string `json:"srcStamp"`
}

// Decode reads a Body from queue message text in the given encoding and returns it with the
// encoding it found. Every failure is a *PoisonError, because retrying cannot fix the body.
func Decode(text string, encoding Encoding) (Body, Encoding, error) {
	found := encoding
	if encoding == Auto {
		found = Base64
		if trimmed := strings.TrimSpace(text); strings.HasPrefix(trimmed, "{") || json.Valid([]byte(trimmed)) {
			found = Text
		}
	}

	var data []byte
	switch found {
	case Text:
		data = []byte(text)
	case Base64:
		var err error
		data, err = base64.StdEncoding.DecodeString(strings.TrimSpace(text))
		if err != nil {
			if encoding == Auto {
				return Body{}, found, Poison(ReasonUndecodable, "body is neither JSON nor base64 (%v)", err)
			}
			return Body{}, found, Poison(ReasonInvalidBase64, "body is not valid base64 (%v)", err)
		}
	default:
		return Body{}, found, fmt.Errorf("invalid encoding %q for decoding: use text, base64 or auto", encoding)
	}

	// NOTE: encoding/json replaces invalid UTF-8 with U+FFFD, which would change the data
	// silently, so invalid UTF-8 is rejected before parsing.
	if !utf8.Valid(data) {
		return Body{}, found, Poison(ReasonInvalidUTF8, "%s body is not valid UTF-8", found)
	}

	// NOTE: json.Unmarshal accepts null into a struct, and the error for an array names Go
	// types, so a body that is valid JSON but not an object is rejected here first.
	if trimmed := bytes.TrimSpace(data); json.Valid(trimmed) && !bytes.HasPrefix(trimmed, []byte("{")) {
		return Body{}, found, Poison(ReasonInvalidJSON, "%s body is JSON but not a JSON object", found)
	}

	var wire wireBody
	if err := json.Unmarshal(data, &wire); err != nil {
		return Body{}, found, Poison(ReasonInvalidJSON, "%s body is not a JSON object (%v)", found, err)
	}

	var missing []string
	if wire.Msg == nil {
		missing = append(missing, "msg")
	}
	if wire.SrcStamp == nil {
		missing = append(missing, "srcStamp")
	}
	if len(missing) > 0 {
		return Body{}, found, Poison(ReasonMissingField, "JSON body has no %s", strings.Join(missing, " and no "))
	}

	if _, err := ParseStamp(*wire.SrcStamp); err != nil {
		return Body{}, found, Poison(ReasonInvalidSrcStamp, "%v", err)
	}

	body := Body{Msg: *wire.Msg, SrcStamp: *wire.SrcStamp}
	if wire.ID != nil {
		body.ID = *wire.ID
	}
	return body, found, nil
}
