package translate

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// ToOpenAI returns the request for an OpenAI-protocol upstream once the
// pipeline has produced anthropicBody (the internal form, possibly rewritten):
// the client's own body, every field byte for byte, with "messages" replaced
// by the translation of anthropicBody's system and messages. Unlike the prior
// art, tool_result blocks become role "tool" messages (with their
// tool_call_id), placed right after the assistant tool calls they answer.
//
// Anthropic → OpenAI message mapping:
//   - system (string, or text blocks joined "\n\n") → one leading system
//     message.
//   - user: string → string; blocks → tool messages first (one per
//     tool_result, content string or text parts; images inside a tool result
//     become the text "[image omitted]" since tool messages carry only text;
//     is_error has no OpenAI equivalent), then one user message with the
//     other blocks as parts: text → text, image → image_url (base64 → data:
//     URL, url → url), PDF document → file with file_data.
//   - assistant: string → string; blocks → text blocks joined with no
//     separator into content (null when there are none), tool_use →
//     tool_calls {id, type:function, function{name, arguments: compact JSON of
//     input}}. thinking, redacted_thinking and server-tool blocks are dropped.
func (r *OpenAIRequest) ToOpenAI(anthropicBody []byte) ([]byte, error) {
	var in struct {
		System   json.RawMessage `json:"system"`
		Messages []struct {
			Role    string          `json:"role"`
			Content json.RawMessage `json:"content"`
		} `json:"messages"`
	}
	if err := json.Unmarshal(anthropicBody, &in); err != nil {
		return nil, ErrInvalidJSON
	}
	out := make([]oaiOutMessage, 0, len(in.Messages)+1)
	if sys := systemString(in.System); sys != "" {
		out = append(out, oaiOutMessage{Role: "system", Content: sys})
	}
	for i, m := range in.Messages {
		raw := bytes.TrimSpace(m.Content)
		if len(raw) > 0 && raw[0] == '"' {
			out = append(out, oaiOutMessage{Role: m.Role, Content: json.RawMessage(raw)}) // literal passed through
			continue
		}
		var blocks []anthInBlock
		if !isNull(raw) {
			if err := json.Unmarshal(raw, &blocks); err != nil {
				return nil, fmt.Errorf("messages[%d]: %w", i, err)
			}
		}
		if m.Role == "assistant" {
			out = append(out, assistantToOpenAI(blocks))
			continue
		}
		var parts []oaiOutPart
		for _, b := range blocks {
			switch b.Type {
			case "tool_result":
				out = append(out, oaiOutMessage{Role: "tool", ToolCallID: b.ToolUseID, Content: toolResultToOpenAI(b.Content)})
			case "text":
				if b.Text != "" {
					parts = append(parts, oaiOutPart{Type: "text", Text: b.Text})
				}
			case "image":
				if p, ok := imageToOpenAI(b.Source); ok {
					parts = append(parts, p)
				}
			case "document":
				if b.Source != nil && b.Source.Type == "base64" {
					parts = append(parts, oaiOutPart{Type: "file", File: &oaiOutFile{FileData: "data:" + b.Source.MediaType + ";base64," + b.Source.Data}})
				}
			}
		}
		if len(parts) > 0 {
			out = append(out, oaiOutMessage{Role: "user", Content: parts})
		}
	}
	msgs := appendOpenAIMessages(make([]byte, 0, len(anthropicBody)+256), out)
	return ReplaceFields(r.Body, map[string][]byte{"messages": msgs})
}

type anthInBlock struct {
	Type      string          `json:"type"`
	Text      string          `json:"text"`
	Thinking  string          `json:"thinking"`
	ID        string          `json:"id"`
	Name      string          `json:"name"`
	Input     json.RawMessage `json:"input"`
	ToolUseID string          `json:"tool_use_id"`
	Content   json.RawMessage `json:"content"`
	Source    *anthSource     `json:"source"`
}

type oaiOutMessage struct {
	Role       string           `json:"role"`
	Content    any              `json:"content"` // string, JSON string literal, []oaiOutPart, or nil (null)
	ToolCalls  []oaiOutToolCall `json:"tool_calls,omitempty"`
	ToolCallID string           `json:"tool_call_id,omitempty"`
}

type oaiOutToolCall struct {
	ID       string      `json:"id"`
	Type     string      `json:"type"`
	Function oaiFunction `json:"function"`
}

type oaiOutPart struct {
	Type     string       `json:"type"`
	Text     string       `json:"text,omitempty"`
	ImageURL *oaiImageURL `json:"image_url,omitempty"`
	File     *oaiOutFile  `json:"file,omitempty"`
}

type oaiImageURL struct {
	URL string `json:"url"`
}

type oaiOutFile struct {
	FileData string `json:"file_data"`
}

// systemString flattens an Anthropic system (string or text blocks).
func systemString(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if isNull(raw) {
		return ""
	}
	if raw[0] == '"' {
		var s string
		_ = json.Unmarshal(raw, &s)
		return s
	}
	var blocks []anthInBlock
	_ = json.Unmarshal(raw, &blocks)
	var texts []string
	for _, b := range blocks {
		if b.Type == "text" && b.Text != "" {
			texts = append(texts, b.Text)
		}
	}
	return strings.Join(texts, "\n\n")
}

func assistantToOpenAI(blocks []anthInBlock) oaiOutMessage {
	m := oaiOutMessage{Role: "assistant"}
	var text strings.Builder
	hasText := false
	for _, b := range blocks {
		switch b.Type {
		case "text":
			text.WriteString(b.Text)
			hasText = true
		case "tool_use":
			m.ToolCalls = append(m.ToolCalls, oaiOutToolCall{ID: b.ID, Type: "function",
				Function: oaiFunction{Name: b.Name, Arguments: compactArguments(b.Input)}})
		}
	}
	if hasText {
		m.Content = text.String()
	} else if len(m.ToolCalls) == 0 {
		m.Content = ""
	}
	return m
}

// compactArguments renders tool_use input as OpenAI's arguments string.
func compactArguments(input json.RawMessage) string {
	if isNull(input) {
		return "{}"
	}
	var buf bytes.Buffer
	if json.Compact(&buf, input) != nil {
		return "{}"
	}
	return buf.String()
}

func toolResultToOpenAI(raw json.RawMessage) any {
	raw = bytes.TrimSpace(raw)
	if isNull(raw) {
		return ""
	}
	if raw[0] == '"' {
		return raw // literal passed through
	}
	var blocks []anthInBlock
	if json.Unmarshal(raw, &blocks) != nil {
		return ""
	}
	parts := make([]oaiOutPart, 0, len(blocks))
	for _, b := range blocks {
		switch b.Type {
		case "text":
			if b.Text != "" {
				parts = append(parts, oaiOutPart{Type: "text", Text: b.Text})
			}
		case "image":
			parts = append(parts, oaiOutPart{Type: "text", Text: "[image omitted]"})
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return parts
}

func imageToOpenAI(src *anthSource) (oaiOutPart, bool) {
	if src == nil {
		return oaiOutPart{}, false
	}
	switch src.Type {
	case "base64":
		return oaiOutPart{Type: "image_url", ImageURL: &oaiImageURL{URL: "data:" + src.MediaType + ";base64," + src.Data}}, true
	case "url":
		return oaiOutPart{Type: "image_url", ImageURL: &oaiImageURL{URL: src.URL}}, true
	}
	return oaiOutPart{}, false
}
