package translate

import (
	"bytes"
	"encoding/json"
	"strings"

	"github.com/caddy-lore/caddy-lore/pricing"
)

// Response is an assistant reply as the gateway stores it.
type Response struct {
	ID         string
	Model      string
	StopReason string
	Content    json.RawMessage // the content block array
	Usage      pricing.Usage
}

// ParseResponse reads a non-streamed Messages response.
func ParseResponse(body []byte) (*Response, error) {
	var v struct {
		ID         string          `json:"id"`
		Model      string          `json:"model"`
		StopReason string          `json:"stop_reason"`
		Content    json.RawMessage `json:"content"`
		Usage      pricing.Usage   `json:"usage"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return nil, err
	}
	return &Response{ID: v.ID, Model: v.Model, StopReason: v.StopReason, Content: v.Content, Usage: v.Usage}, nil
}

// Accumulator rebuilds the assistant message from a Messages SSE stream.
type Accumulator struct {
	resp   Response
	blocks []*accBlock
	done   bool
}

type accBlock struct {
	Type      string
	ID        string
	Name      string
	Text      strings.Builder
	Signature strings.Builder
	Input     strings.Builder // partial_json deltas of tool_use
	Start     json.RawMessage // content_block_start's block, for other types
}

// Add folds one event into the reply. Events it does not understand (ping,
// unknown types, non-JSON data) are ignored: they are only forwarded.
func (a *Accumulator) Add(ev Event) {
	if !a.addQuick(ev.Data) {
		a.addDecoded(ev.Data)
	}
}

// addDecoded folds any event in, decoded with encoding/json.
func (a *Accumulator) addDecoded(data []byte) {
	var e struct {
		Type    string `json:"type"`
		Index   int    `json:"index"`
		Message struct {
			ID    string        `json:"id"`
			Model string        `json:"model"`
			Usage pricing.Usage `json:"usage"`
		} `json:"message"`
		ContentBlock json.RawMessage `json:"content_block"`
		Delta        struct {
			Type        string `json:"type"`
			Text        string `json:"text"`
			Thinking    string `json:"thinking"`
			Signature   string `json:"signature"`
			PartialJSON string `json:"partial_json"`
			StopReason  string `json:"stop_reason"`
		} `json:"delta"`
		Usage *pricing.Usage `json:"usage"`
	}
	if json.Unmarshal(data, &e) != nil {
		return
	}
	switch e.Type {
	case "message_start":
		a.resp.ID, a.resp.Model, a.resp.Usage = e.Message.ID, e.Message.Model, e.Message.Usage
	case "content_block_start":
		var cb blockStart
		_ = json.Unmarshal(e.ContentBlock, &cb)
		a.startBlock(e.Index, cb, e.ContentBlock)
	case "content_block_delta":
		d := e.Delta
		a.delta(e.Index, delta{typ: d.Type, text: d.Text, thinking: d.Thinking, signature: d.Signature, partialJSON: d.PartialJSON})
	case "message_delta":
		a.messageDelta(e.Delta.StopReason, e.Usage)
	case "message_stop":
		a.done = true
	}
}

// blockStart is what a content_block_start's block gives the accumulator.
type blockStart struct {
	Type      string `json:"type"`
	ID        string `json:"id"`
	Name      string `json:"name"`
	Text      string `json:"text"`
	Thinking  string `json:"thinking"`
	Signature string `json:"signature"`
}

// startBlock opens block index; raw is the block as sent.
func (a *Accumulator) startBlock(index int, cb blockStart, raw []byte) {
	if index < 0 || index >= maxBlocks {
		return // not a block a real answer has: never allocated for
	}
	b := &accBlock{Type: cb.Type, ID: cb.ID, Name: cb.Name, Start: append(json.RawMessage(nil), raw...)}
	b.Text.WriteString(cb.Text + cb.Thinking)
	b.Signature.WriteString(cb.Signature)
	for len(a.blocks) <= index {
		a.blocks = append(a.blocks, nil)
	}
	a.blocks[index] = b
}

// messageDelta folds a message_delta in: its stop reason, and its usage,
// which is cumulative: output always, the input figures only when the
// server repeats them.
func (a *Accumulator) messageDelta(stopReason string, u *pricing.Usage) {
	if stopReason != "" {
		a.resp.StopReason = stopReason
	}
	if u == nil {
		return
	}
	a.resp.Usage.OutputTokens = u.OutputTokens
	if u.InputTokens > 0 {
		a.resp.Usage.InputTokens = u.InputTokens
	}
	if u.CacheReadTokens > 0 {
		a.resp.Usage.CacheReadTokens = u.CacheReadTokens
	}
	if u.CacheWriteTokens > 0 {
		a.resp.Usage.CacheWriteTokens = u.CacheWriteTokens
	}
	if u.CacheWrite1hTokens > 0 {
		// The API's message_delta repeats the cache writes without their
		// split by TTL: message_start's stands unless a split is repeated.
		a.resp.Usage.CacheWrite1hTokens = u.CacheWrite1hTokens
	}
}

// Done reports whether message_stop was seen.
func (a *Accumulator) Done() bool { return a.done }

// Response returns the reply accumulated so far; blocks that never got their
// stop event are finalised as they are.
func (a *Accumulator) Response() *Response {
	r := a.resp
	content := make([]json.RawMessage, 0, len(a.blocks))
	for _, b := range a.blocks {
		if b == nil {
			continue
		}
		if raw := b.json(); raw != nil {
			content = append(content, raw)
		}
	}
	r.Content, _ = json.Marshal(content)
	return &r
}

func (b *accBlock) json() json.RawMessage {
	var v any
	switch b.Type {
	case "text":
		v = map[string]any{"type": "text", "text": b.Text.String()}
	case "thinking":
		v = map[string]any{"type": "thinking", "thinking": b.Text.String(), "signature": b.Signature.String()}
	case "tool_use", "server_tool_use":
		input := json.RawMessage(b.Input.String())
		if len(input) == 0 || !json.Valid(input) {
			input = json.RawMessage("{}")
		}
		v = map[string]any{"type": b.Type, "id": b.ID, "name": b.Name, "input": input}
	default:
		// redacted_thinking, server tool results, ...: the start event
		// carries the whole block.
		if len(b.Start) == 0 {
			return nil
		}
		return b.Start
	}
	out, _ := json.Marshal(v)
	return out
}

// EmptyContent reports whether a content array has nothing worth storing.
func EmptyContent(content json.RawMessage) bool {
	s := bytes.TrimSpace(content) // not string(content): a copy of every stored message
	return len(s) == 0 || string(s) == "[]" || string(s) == "null"
}

// maxBlocks bounds a content block index: an upstream's index is never
// trusted with an allocation of its size.
const maxBlocks = 1 << 16

// delta is a content_block_delta's delta.
type delta struct{ typ, text, thinking, signature, partialJSON string }

// delta folds a content block delta into block index.
func (a *Accumulator) delta(index int, d delta) {
	if index < 0 || index >= len(a.blocks) || a.blocks[index] == nil {
		return
	}
	b := a.blocks[index]
	switch d.typ {
	case "text_delta":
		b.Text.WriteString(d.text)
	case "thinking_delta":
		b.Text.WriteString(d.thinking)
	case "signature_delta":
		b.Signature.WriteString(d.signature)
	case "input_json_delta":
		b.Input.WriteString(d.partialJSON)
	}
}
