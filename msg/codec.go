package msg

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// wireMessage is the Anthropic JSON shape of one message.
type wireMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

// wireBlock holds the fields of a content block the pipeline reads.
type wireBlock struct {
	Type      string          `json:"type"`
	Text      string          `json:"text"`
	Thinking  string          `json:"thinking"`
	Signature string          `json:"signature"`
	ID        string          `json:"id"`
	Name      string          `json:"name"`
	Input     json.RawMessage `json:"input"`
	ToolUseID string          `json:"tool_use_id"`
	Content   json.RawMessage `json:"content"`
	IsError   bool            `json:"is_error"`
}

// Decode parses an Anthropic `messages` array. Blocks keep their raw bytes,
// and ids are assigned by position.
func Decode(raw json.RawMessage) ([]Message, error) {
	var wire []json.RawMessage
	if err := json.Unmarshal(raw, &wire); err != nil {
		return nil, fmt.Errorf("messages: %w", err)
	}
	out := make([]Message, len(wire))
	for i, w := range wire {
		m, err := DecodeMessage(w, i)
		if err != nil {
			return nil, fmt.Errorf("messages[%d]: %w", i, err)
		}
		out[i] = m
	}
	return out, nil
}

// DecodeMessage parses one message at the given position.
func DecodeMessage(raw json.RawMessage, position int) (Message, error) {
	var w wireMessage
	if err := json.Unmarshal(raw, &w); err != nil {
		return Message{}, err
	}
	role := RoleUser
	if w.Role == RoleAssistant {
		role = RoleAssistant
	}
	content := bytes.TrimSpace(w.Content)
	m := Message{Role: role, Raw: raw, Content: content}
	switch {
	case len(content) == 0 || bytes.Equal(content, []byte("null")):
	case content[0] == '"':
		var s string
		if err := json.Unmarshal(content, &s); err != nil {
			return Message{}, err
		}
		m.StringContent = true
		m.Blocks = []Block{{Type: TypeText, Text: s, Raw: content}}
	case content[0] == '[':
		var blocks []json.RawMessage
		if err := json.Unmarshal(content, &blocks); err != nil {
			return Message{}, err
		}
		m.Blocks = make([]Block, len(blocks))
		for j, b := range blocks {
			blk, err := decodeBlock(b)
			if err != nil {
				return Message{}, fmt.Errorf("content[%d]: %w", j, err)
			}
			m.Blocks[j] = blk
		}
	default:
		return Message{}, fmt.Errorf("content must be a string or an array of blocks")
	}
	m.ID = ComputeID(role, position, content)
	return m, nil
}

func decodeBlock(raw json.RawMessage) (Block, error) {
	var w wireBlock
	if err := json.Unmarshal(raw, &w); err != nil {
		return Block{}, err
	}
	b := Block{Type: w.Type, Raw: raw}
	switch w.Type {
	case TypeText:
		b.Text = w.Text
	case TypeThinking:
		b.Text, b.Signature = w.Thinking, w.Signature
	case TypeToolUse:
		b.ToolID, b.ToolName, b.Input = w.ID, w.Name, w.Input
	case TypeToolResult:
		b.ToolID, b.IsError = w.ToolUseID, w.IsError
		b.Output = resultText(w.Content)
	}
	return b, nil
}

// resultText flattens tool_result content (a string, or text blocks) to text.
func resultText(content json.RawMessage) string {
	content = bytes.TrimSpace(content)
	if len(content) == 0 {
		return ""
	}
	if content[0] == '"' {
		var s string
		_ = json.Unmarshal(content, &s)
		return s
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if json.Unmarshal(content, &parts) != nil {
		return ""
	}
	var buf bytes.Buffer
	for _, p := range parts {
		if p.Type != TypeText {
			continue
		}
		if buf.Len() > 0 {
			buf.WriteByte('\n')
		}
		buf.WriteString(p.Text)
	}
	return buf.String()
}

// AppendJSON appends the Anthropic JSON of m to dst. An unmodified message is
// copied byte for byte from its original JSON.
func AppendJSON(dst []byte, m *Message) ([]byte, error) {
	if !m.modified() && len(m.Raw) > 0 {
		return append(dst, m.Raw...), nil
	}
	dst = append(dst, `{"role":`...)
	dst = appendString(dst, m.Role)
	dst = append(dst, `,"content":[`...)
	for i := range m.Blocks {
		if i > 0 {
			dst = append(dst, ',')
		}
		var err error
		if dst, err = appendBlock(dst, &m.Blocks[i]); err != nil {
			return nil, err
		}
	}
	return append(dst, "]}"...), nil
}

func (m *Message) modified() bool {
	for i := range m.Blocks {
		if m.Blocks[i].Modified {
			return true
		}
	}
	return m.Raw == nil
}

func appendBlock(dst []byte, b *Block) ([]byte, error) {
	if !b.Modified && len(b.Raw) > 0 && b.Raw[0] == '{' {
		return append(dst, b.Raw...), nil
	}
	var v any
	switch b.Type {
	case TypeText:
		v = struct {
			Type string `json:"type"`
			Text string `json:"text"`
		}{b.Type, b.Text}
	case TypeThinking:
		v = struct {
			Type      string `json:"type"`
			Thinking  string `json:"thinking"`
			Signature string `json:"signature,omitempty"`
		}{b.Type, b.Text, b.Signature}
	case TypeToolUse:
		input := b.Input
		if len(input) == 0 {
			input = json.RawMessage("{}")
		}
		v = struct {
			Type  string          `json:"type"`
			ID    string          `json:"id"`
			Name  string          `json:"name"`
			Input json.RawMessage `json:"input"`
		}{b.Type, b.ToolID, b.ToolName, input}
	case TypeToolResult:
		v = struct {
			Type      string `json:"type"`
			ToolUseID string `json:"tool_use_id"`
			Content   string `json:"content"`
			IsError   bool   `json:"is_error,omitempty"`
		}{b.Type, b.ToolID, b.Output, b.IsError}
	default:
		if len(b.Raw) == 0 {
			return nil, fmt.Errorf("block of type %q has no JSON", b.Type)
		}
		return append(dst, b.Raw...), nil
	}
	enc, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append(dst, enc...), nil
}

func appendString(dst []byte, s string) []byte {
	enc, _ := json.Marshal(s)
	return append(dst, enc...)
}

// AppendBlockJSON appends the Anthropic JSON of one block to dst: its original
// bytes when unmodified, else the re-encoded fields (as AppendJSON does for the
// blocks of a modified message).
func AppendBlockJSON(dst []byte, b *Block) ([]byte, error) { return appendBlock(dst, b) }
