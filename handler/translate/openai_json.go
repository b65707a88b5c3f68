package translate

import (
	"bytes"
	"encoding/json"
	"github.com/caddy-lore/caddy-lore/internal/jsonscan"
	"strconv"
)

// Hand-written JSON output for the translators' hot paths. Requests are
// mostly tool output already encoded as JSON string literals; these writers
// copy such literals through instead of decoding and re-encoding them, and
// avoid encoding/json's reflection and its compaction pass over every raw
// value. Strings are escaped as encoding/json does with SetEscapeHTML(false):
// "<", ">" and "&" pass through literally.

// marshalJSON encodes v with encoding/json, without HTML escaping and without
// the encoder's trailing newline. Used for the small, cold outputs.
func marshalJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// appendRaw appends a valid JSON value. String literals (the big ones) are
// copied as they are; other values are compacted.
func appendRaw(dst []byte, raw json.RawMessage) []byte {
	if len(raw) > 0 && raw[0] == '"' {
		return append(dst, raw...)
	}
	buf := bytes.NewBuffer(dst)
	if json.Compact(buf, raw) != nil {
		return append(dst, "null"...)
	}
	return buf.Bytes()
}

// appendJSON writes the Anthropic request; keys in the order of anthRequest's
// fields, omitted when empty, as encoding/json would.
func (a *anthRequest) appendJSON(b []byte) []byte {
	b = append(b, `{"model":`...)
	b = jsonscan.AppendString(b, a.Model)
	b = append(b, `,"max_tokens":`...)
	b = strconv.AppendInt(b, a.MaxTokens, 10)
	if a.System != "" {
		b = append(b, `,"system":`...)
		b = jsonscan.AppendString(b, a.System)
	}
	b = append(b, `,"messages":[`...)
	for i := range a.Messages {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"role":`...)
		b = jsonscan.AppendString(b, a.Messages[i].Role)
		b = append(b, `,"content":`...)
		b = appendAnthContent(b, a.Messages[i].Content)
		b = append(b, '}')
	}
	b = append(b, ']')
	if len(a.Tools) > 0 {
		b = append(b, `,"tools":[`...)
		for i, t := range a.Tools {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"name":`...)
			b = jsonscan.AppendString(b, t.Name)
			if t.Description != "" {
				b = append(b, `,"description":`...)
				b = jsonscan.AppendString(b, t.Description)
			}
			b = append(b, `,"input_schema":`...)
			b = appendRaw(b, t.InputSchema)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	if c := a.ToolChoice; c != nil {
		b = append(b, `,"tool_choice":{"type":`...)
		b = jsonscan.AppendString(b, c.Type)
		if c.Name != "" {
			b = append(b, `,"name":`...)
			b = jsonscan.AppendString(b, c.Name)
		}
		if c.DisableParallelToolUse {
			b = append(b, `,"disable_parallel_tool_use":true`...)
		}
		b = append(b, '}')
	}
	if len(a.StopSequences) > 0 {
		b = jsonscan.AppendStrings(append(b, `,"stop_sequences":`...), a.StopSequences)
	}
	if a.Temperature != nil {
		b = append(b, `,"temperature":`...)
		b = appendFloat(b, *a.Temperature)
	}
	if a.TopP != nil {
		b = append(b, `,"top_p":`...)
		b = appendFloat(b, *a.TopP)
	}
	if a.Metadata != nil {
		b = append(b, `,"metadata":{"user_id":`...)
		b = jsonscan.AppendString(b, a.Metadata.UserID)
		b = append(b, '}')
	}
	if a.Stream {
		b = append(b, `,"stream":true`...)
	}
	return append(b, '}')
}

// appendFloat formats a sampling parameter as encoding/json does for the
// values JSON input can hold in 0..1 and beyond (no exponent below 1e21).
func appendFloat(b []byte, f float64) []byte {
	out, err := json.Marshal(f)
	if err != nil {
		return append(b, '0')
	}
	return append(b, out...)
}

func appendAnthContent(b []byte, content any) []byte {
	switch c := content.(type) {
	case json.RawMessage:
		return appendRaw(b, c)
	case string:
		return jsonscan.AppendString(b, c)
	case []anthBlock:
		return appendAnthBlocks(b, c)
	}
	return append(b, "null"...)
}

func appendAnthBlocks(b []byte, blocks []anthBlock) []byte {
	b = append(b, '[')
	for i := range blocks {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendAnthBlock(b, &blocks[i])
	}
	return append(b, ']')
}

// appendAnthBlock writes a block with anthBlock's key order and omitempty
// rules.
func appendAnthBlock(b []byte, blk *anthBlock) []byte {
	b = append(b, `{"type":`...)
	b = jsonscan.AppendString(b, blk.Type)
	if blk.ID != "" {
		b = append(b, `,"id":`...)
		b = jsonscan.AppendString(b, blk.ID)
	}
	if blk.Name != "" {
		b = append(b, `,"name":`...)
		b = jsonscan.AppendString(b, blk.Name)
	}
	if len(blk.Input) > 0 {
		b = append(b, `,"input":`...)
		b = appendRaw(b, blk.Input)
	}
	if blk.ToolUseID != "" {
		b = append(b, `,"tool_use_id":`...)
		b = jsonscan.AppendString(b, blk.ToolUseID)
	}
	if blk.Content != nil {
		b = append(b, `,"content":`...)
		b = appendAnthContent(b, blk.Content)
	}
	if blk.Text != "" {
		b = append(b, `,"text":`...)
		b = jsonscan.AppendString(b, blk.Text)
	}
	if s := blk.Source; s != nil {
		b = append(b, `,"source":{"type":`...)
		b = jsonscan.AppendString(b, s.Type)
		if s.MediaType != "" {
			b = append(b, `,"media_type":`...)
			b = jsonscan.AppendString(b, s.MediaType)
		}
		if s.Data != "" {
			b = append(b, `,"data":`...)
			b = jsonscan.AppendString(b, s.Data)
		}
		if s.URL != "" {
			b = append(b, `,"url":`...)
			b = jsonscan.AppendString(b, s.URL)
		}
		b = append(b, '}')
	}
	return append(b, '}')
}

// appendOpenAIMessages writes OpenAI messages with oaiOutMessage's key order.
func appendOpenAIMessages(b []byte, msgs []oaiOutMessage) []byte {
	b = append(b, '[')
	for i := range msgs {
		m := &msgs[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"role":`...)
		b = jsonscan.AppendString(b, m.Role)
		b = append(b, `,"content":`...)
		switch c := m.Content.(type) {
		case json.RawMessage:
			b = appendRaw(b, c)
		case string:
			b = jsonscan.AppendString(b, c)
		case []oaiOutPart:
			b = appendOpenAIParts(b, c)
		default:
			b = append(b, "null"...)
		}
		if len(m.ToolCalls) > 0 {
			b = append(b, `,"tool_calls":[`...)
			for j, tc := range m.ToolCalls {
				if j > 0 {
					b = append(b, ',')
				}
				b = append(b, `{"id":`...)
				b = jsonscan.AppendString(b, tc.ID)
				b = append(b, `,"type":"function","function":{"name":`...)
				b = jsonscan.AppendString(b, tc.Function.Name)
				b = append(b, `,"arguments":`...)
				b = jsonscan.AppendString(b, tc.Function.Arguments)
				b = append(b, `}}`...)
			}
			b = append(b, ']')
		}
		if m.ToolCallID != "" {
			b = append(b, `,"tool_call_id":`...)
			b = jsonscan.AppendString(b, m.ToolCallID)
		}
		b = append(b, '}')
	}
	return append(b, ']')
}

func appendOpenAIParts(b []byte, parts []oaiOutPart) []byte {
	b = append(b, '[')
	for i, p := range parts {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"type":`...)
		b = jsonscan.AppendString(b, p.Type)
		if p.Text != "" {
			b = append(b, `,"text":`...)
			b = jsonscan.AppendString(b, p.Text)
		}
		if p.ImageURL != nil {
			b = append(b, `,"image_url":{"url":`...)
			b = jsonscan.AppendString(b, p.ImageURL.URL)
			b = append(b, '}')
		}
		if p.File != nil {
			b = append(b, `,"file":{"file_data":`...)
			b = jsonscan.AppendString(b, p.File.FileData)
			b = append(b, '}')
		}
		b = append(b, '}')
	}
	return append(b, ']')
}

// appendOpenAIUsage writes OpenAIUsage with its key order.
func appendOpenAIUsage(b []byte, u OpenAIUsage) []byte {
	b = append(b, `{"prompt_tokens":`...)
	b = strconv.AppendInt(b, u.PromptTokens, 10)
	b = append(b, `,"completion_tokens":`...)
	b = strconv.AppendInt(b, u.CompletionTokens, 10)
	b = append(b, `,"total_tokens":`...)
	b = strconv.AppendInt(b, u.TotalTokens, 10)
	b = append(b, `,"prompt_tokens_details":{"cached_tokens":`...)
	b = strconv.AppendInt(b, u.PromptTokensDetails.CachedTokens, 10)
	b = append(b, `,"cache_write_tokens":`...)
	b = strconv.AppendInt(b, u.PromptTokensDetails.CacheWriteTokens, 10)
	return append(b, `}}`...)
}
