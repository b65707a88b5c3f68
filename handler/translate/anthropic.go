// Package translate reads and writes the wire formats the gateway speaks:
// Anthropic Messages requests and responses (JSON and SSE) and, later, OpenAI
// chat completions.
package translate

import (
	"bytes"
	"encoding/json"
	"errors"

	"github.com/caddy-lore/caddy-lore/internal/jsonscan"
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

// ErrInvalidJSON is returned for a body that is not a JSON object.
var ErrInvalidJSON = errors.New("invalid JSON body")

// ParseRequest reads the envelope of a Messages request in one pass over its
// top level, skipping the values it does not need (a 300-turn session body is
// megabytes). It fails only when the body is not a JSON object; field-level
// validation is the upstream's job, so its error messages reach the client
// unchanged, in its own words.
func ParseRequest(body []byte) (*Request, error) {
	r := &Request{Body: body}
	var metadata []byte
	end, err := jsonscan.Fields(body, 0, func(key []byte, s, e int) {
		v := body[s:e]
		switch string(key) {
		case "model":
			r.Model, _ = jsonscan.String(v)
		case "stream":
			r.Stream = string(v) == "true"
		case "system":
			r.System = v
		case "tools":
			r.Tools = v
		case "messages":
			r.Messages = v
		case "cache_control":
			r.TopCacheControl = string(v) != "null"
		case "metadata":
			metadata = v
		}
	})
	if err != nil || jsonscan.SkipSpace(body, end) != len(body) {
		return nil, ErrInvalidJSON
	}
	if len(metadata) > 0 && metadata[0] == '{' {
		_, _ = jsonscan.Fields(metadata, 0, func(key []byte, s, e int) {
			if string(key) == "user_id" {
				r.MetadataUserID, _ = jsonscan.String(metadata[s:e])
			}
		})
	}
	if len(r.Messages) > 0 && r.Messages[0] == '[' {
		r.MessageCount = max(jsonscan.Count(r.Messages, 0), 0)
	}
	if len(r.Tools) > 0 && r.Tools[0] == '[' {
		r.ToolCount = max(jsonscan.Count(r.Tools, 0), 0)
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
