package translate

import (
	"bytes"
	"encoding/json"
	"strconv"
	"unicode/utf8"
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

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string literal, byte-identical to
// encoding/json with SetEscapeHTML(false): ", \ and control characters
// escaped, invalid UTF-8 replaced by \ufffd, U+2028 and U+2029 escaped.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
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
	b = appendJSONString(b, a.Model)
	b = append(b, `,"max_tokens":`...)
	b = strconv.AppendInt(b, a.MaxTokens, 10)
	if a.System != "" {
		b = append(b, `,"system":`...)
		b = appendJSONString(b, a.System)
	}
	b = append(b, `,"messages":[`...)
	for i := range a.Messages {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"role":`...)
		b = appendJSONString(b, a.Messages[i].Role)
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
			b = appendJSONString(b, t.Name)
			if t.Description != "" {
				b = append(b, `,"description":`...)
				b = appendJSONString(b, t.Description)
			}
			b = append(b, `,"input_schema":`...)
			b = appendRaw(b, t.InputSchema)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	if c := a.ToolChoice; c != nil {
		b = append(b, `,"tool_choice":{"type":`...)
		b = appendJSONString(b, c.Type)
		if c.Name != "" {
			b = append(b, `,"name":`...)
			b = appendJSONString(b, c.Name)
		}
		if c.DisableParallelToolUse {
			b = append(b, `,"disable_parallel_tool_use":true`...)
		}
		b = append(b, '}')
	}
	if len(a.StopSequences) > 0 {
		b = append(b, `,"stop_sequences":[`...)
		for i, s := range a.StopSequences {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, s)
		}
		b = append(b, ']')
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
		b = appendJSONString(b, a.Metadata.UserID)
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
		return appendJSONString(b, c)
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
	b = appendJSONString(b, blk.Type)
	if blk.ID != "" {
		b = append(b, `,"id":`...)
		b = appendJSONString(b, blk.ID)
	}
	if blk.Name != "" {
		b = append(b, `,"name":`...)
		b = appendJSONString(b, blk.Name)
	}
	if len(blk.Input) > 0 {
		b = append(b, `,"input":`...)
		b = appendRaw(b, blk.Input)
	}
	if blk.ToolUseID != "" {
		b = append(b, `,"tool_use_id":`...)
		b = appendJSONString(b, blk.ToolUseID)
	}
	if blk.Content != nil {
		b = append(b, `,"content":`...)
		b = appendAnthContent(b, blk.Content)
	}
	if blk.Text != "" {
		b = append(b, `,"text":`...)
		b = appendJSONString(b, blk.Text)
	}
	if s := blk.Source; s != nil {
		b = append(b, `,"source":{"type":`...)
		b = appendJSONString(b, s.Type)
		if s.MediaType != "" {
			b = append(b, `,"media_type":`...)
			b = appendJSONString(b, s.MediaType)
		}
		if s.Data != "" {
			b = append(b, `,"data":`...)
			b = appendJSONString(b, s.Data)
		}
		if s.URL != "" {
			b = append(b, `,"url":`...)
			b = appendJSONString(b, s.URL)
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
		b = appendJSONString(b, m.Role)
		b = append(b, `,"content":`...)
		switch c := m.Content.(type) {
		case json.RawMessage:
			b = appendRaw(b, c)
		case string:
			b = appendJSONString(b, c)
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
				b = appendJSONString(b, tc.ID)
				b = append(b, `,"type":"function","function":{"name":`...)
				b = appendJSONString(b, tc.Function.Name)
				b = append(b, `,"arguments":`...)
				b = appendJSONString(b, tc.Function.Arguments)
				b = append(b, `}}`...)
			}
			b = append(b, ']')
		}
		if m.ToolCallID != "" {
			b = append(b, `,"tool_call_id":`...)
			b = appendJSONString(b, m.ToolCallID)
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
		b = appendJSONString(b, p.Type)
		if p.Text != "" {
			b = append(b, `,"text":`...)
			b = appendJSONString(b, p.Text)
		}
		if p.ImageURL != nil {
			b = append(b, `,"image_url":{"url":`...)
			b = appendJSONString(b, p.ImageURL.URL)
			b = append(b, '}')
		}
		if p.File != nil {
			b = append(b, `,"file":{"file_data":`...)
			b = appendJSONString(b, p.File.FileData)
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
