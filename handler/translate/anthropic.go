// Package translate reads and writes the wire formats the gateway speaks:
// Anthropic Messages requests and responses (JSON and SSE) and, later, OpenAI
// chat completions.
package translate

import (
	"bytes"
	"encoding/json"
	"errors"
)

// Request is the part of an Anthropic Messages request body the pipeline
// reads. Everything else stays in Body, which is what gets forwarded.
type Request struct {
	Model           string
	Stream          bool
	System          json.RawMessage // string or array of text blocks, or nil
	ToolCount       int
	Tools           json.RawMessage // the tools array, for counting its cache breakpoints
	TopCacheControl bool            // automatic caching: a top-level cache_control
	Messages        json.RawMessage
	MessageCount    int
	MetadataUserID  string
	Body            []byte
}

type envelope struct {
	Model    string          `json:"model"`
	Stream   json.RawMessage `json:"stream"`
	System   json.RawMessage `json:"system"`
	Tools    json.RawMessage `json:"tools"`
	CacheCtl json.RawMessage `json:"cache_control"`
	Messages json.RawMessage `json:"messages"`
	Metadata struct {
		UserID string `json:"user_id"`
	} `json:"metadata"`
}

// ErrInvalidJSON is returned for a body that is not a JSON object.
var ErrInvalidJSON = errors.New("invalid JSON body")

// ParseRequest reads the envelope of a Messages request. It fails only when the
// body is not a JSON object with a messages array; field-level validation is
// the upstream's job, so its error messages reach the client unchanged.
func ParseRequest(body []byte) (*Request, error) {
	var env envelope
	if err := json.Unmarshal(body, &env); err != nil {
		return nil, ErrInvalidJSON
	}
	r := &Request{
		Model:           env.Model,
		Stream:          bytes.Equal(bytes.TrimSpace(env.Stream), []byte("true")),
		System:          env.System,
		Tools:           env.Tools,
		TopCacheControl: len(env.CacheCtl) > 0 && string(env.CacheCtl) != "null",
		Messages:        env.Messages,
		MetadataUserID:  env.Metadata.UserID,
		Body:            body,
	}
	if msgs := bytes.TrimSpace(env.Messages); len(msgs) > 0 && msgs[0] == '[' {
		r.MessageCount = countArray(msgs)
	}
	if tools := bytes.TrimSpace(env.Tools); len(tools) > 0 && tools[0] == '[' {
		r.ToolCount = countArray(tools)
	}
	return r, nil
}

// SystemText returns the system prompt as text: the string, or the text blocks
// joined with "\n".
func (r *Request) SystemText() string {
	sys := bytes.TrimSpace(r.System)
	if len(sys) == 0 {
		return ""
	}
	if sys[0] == '"' {
		var s string
		_ = json.Unmarshal(sys, &s)
		return s
	}
	var blocks []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if json.Unmarshal(sys, &blocks) != nil {
		return ""
	}
	var b bytes.Buffer
	for _, blk := range blocks {
		if blk.Type != "text" {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(blk.Text)
	}
	return b.String()
}

// countArray counts the top-level elements of a JSON array already known to
// be valid, without decoding them.
func countArray(arr []byte) int {
	depth, n, inString, escaped, empty := 0, 0, false, false, true
	for _, c := range arr {
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
			if depth == 1 {
				empty = false
			}
		case '[', '{':
			if depth == 1 {
				empty = false
			}
			depth++
		case ']', '}':
			depth--
		case ',':
			if depth == 1 {
				n++
			}
		case ' ', '\t', '\n', '\r':
		default:
			if depth == 1 {
				empty = false
			}
		}
	}
	if empty {
		return 0
	}
	return n + 1
}
