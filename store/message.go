package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/caddy-lore/caddy-lore/internal/jsonscan"
)

// appendMessage appends json.Marshal(m) without encoding/json's pass over the
// content, which re-validates and compacts it byte by byte (about 5% of the
// gateway's CPU when a new session stores its whole conversation:
// docs/benchmarks.md). The content is validated with jsonscan instead (the
// same rules, skipping strings with memchr) and kept as the client sent it,
// whitespace included; decoded, the message is the one json.Marshal would
// have written. Content that is not one JSON value, or nests deeper than
// jsonscan reads, goes through json.Marshal, which refuses or writes it.
func appendMessage(b []byte, m *StoredMessage) ([]byte, error) {
	content := bytes.TrimSpace(m.Content)
	if m.Content == nil {
		content = []byte("null") // what json.Marshal writes for a nil RawMessage
	}
	if jsonscan.SkipValue(content, 0) != len(content) {
		enc, err := json.Marshal(m)
		return append(b, enc...), err
	}
	b = append(b, `{"id":`...)
	b = jsonscan.AppendString(b, m.ID)
	b = append(b, `,"role":`...)
	b = jsonscan.AppendString(b, m.Role)
	b = append(b, `,"pos":`...)
	b = strconv.AppendInt(b, int64(m.Position), 10)
	b = append(b, `,"content":`...)
	b = append(b, content...)
	b = append(b, `,"at":`...)
	b = strconv.AppendInt(b, m.At, 10)
	if m.Model != "" {
		b = append(b, `,"model":`...)
		b = jsonscan.AppendString(b, m.Model)
	}
	if m.Usage != nil {
		b = m.Usage.AppendJSON(append(b, `,"usage":`...))
	}
	return append(b, '}'), nil
}

// encodedSize is about the size of m encoded: its content and what
// surrounds it.
func encodedSize(m *StoredMessage) int {
	n := len(m.Content) + 96 + len(m.ID) + len(m.Model)
	if m.Usage != nil {
		n += 128
	}
	return n
}

// encodeMessages encodes ms into one buffer (one allocation for a turn's
// messages instead of one each) and returns each message's slice of it.
func encodeMessages(ms []StoredMessage) ([]any, error) {
	n := 0
	for i := range ms {
		n += encodedSize(&ms[i])
	}
	buf := make([]byte, 0, n)
	out := make([]any, len(ms))
	for i := range ms {
		start := len(buf)
		var err error
		if buf, err = appendMessage(buf, &ms[i]); err != nil {
			return nil, fmt.Errorf("message %d: %w", ms[i].Position, err)
		}
		// A message that outgrew the estimate moved buf: the slices
		// taken before still hold their own bytes.
		out[i] = buf[start:len(buf):len(buf)]
	}
	return out, nil
}
