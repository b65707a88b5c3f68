package store

import (
	"bytes"
	"encoding/json"
	"strconv"

	"github.com/caddy-lore/caddy-lore/internal/jsonscan"
)

// encodeMessage is json.Marshal(m) without encoding/json's pass over the
// content, which re-validates and compacts it byte by byte (about 5% of the
// gateway's CPU when a new session stores its whole conversation:
// docs/benchmarks.md). The content is validated with jsonscan instead (the
// same rules, skipping strings with memchr) and kept as the client sent it,
// whitespace included; decoded, the message is the one json.Marshal would
// have written. Content that is not one JSON value, or nests deeper than
// jsonscan reads, goes through json.Marshal, which refuses or writes it.
func encodeMessage(m *StoredMessage) ([]byte, error) {
	content := bytes.TrimSpace(m.Content)
	if m.Content == nil {
		content = []byte("null") // what json.Marshal writes for a nil RawMessage
	}
	if jsonscan.SkipValue(content, 0) != len(content) {
		return json.Marshal(m)
	}
	b := make([]byte, 0, len(content)+96+len(m.ID)+len(m.Model))
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
		u, err := json.Marshal(m.Usage)
		if err != nil {
			return nil, err
		}
		b = append(b, `,"usage":`...)
		b = append(b, u...)
	}
	return append(b, '}'), nil
}
