package msg

// The encoding/json decoder the one-pass decoder replaced, kept as the
// oracle of the differential tests below.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"unicode/utf8"
)

// refWireMessage is the Anthropic JSON shape of one message.
type refWireMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

// refWireBlock holds the fields of a content block the pipeline reads.
type refWireBlock struct {
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
func refDecode(raw json.RawMessage) ([]Message, error) {
	var wire []json.RawMessage
	if err := json.Unmarshal(raw, &wire); err != nil {
		return nil, fmt.Errorf("messages: %w", err)
	}
	out := make([]Message, len(wire))
	for i, w := range wire {
		m, err := refDecodeMessage(w, i)
		if err != nil {
			return nil, fmt.Errorf("messages[%d]: %w", i, err)
		}
		out[i] = m
	}
	return out, nil
}

// DecodeMessage parses one message at the given position.
func refDecodeMessage(raw json.RawMessage, position int) (Message, error) {
	var w refWireMessage
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
			blk, err := refDecodeBlock(b)
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

func refDecodeBlock(raw json.RawMessage) (Block, error) {
	var w refWireBlock
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
		b.Output = refResultText(w.Content)
	}
	return b, nil
}

// refResultText flattens tool_result content (a string, or text blocks) to text.
func refResultText(content json.RawMessage) string {
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
	// Text parts joined with "\n", empty ones included (two empty parts
	// are "\n", as strings.Join gives).
	var buf bytes.Buffer
	n := 0
	for _, p := range parts {
		if p.Type != TypeText {
			continue
		}
		if n > 0 {
			buf.WriteByte('\n')
		}
		buf.WriteString(p.Text)
		n++
	}
	return buf.String()
}

func FuzzDecodeMatchesEncodingJSON(f *testing.F) {
	f.Add(conversation)
	f.Add(`[{"role":"user","content":"a\u00e9\"b"},{"role":"assistant","content":[{"type":"text","text":"x"}]}]`)
	f.Add(`[{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}]}]`)
	f.Fuzz(func(t *testing.T, s string) {
		raw := json.RawMessage(s)
		want, werr := refDecode(raw)
		got, gerr := Decode(raw)
		if werr != nil {
			return // the one-pass decoder may accept what encoding/json rejects
		}
		if !utf8.Valid(raw) {
			return // encoding/json substitutes U+FFFD; the upstream rejects such bodies
		}
		// encoding/json matches field names case-insensitively; the API and
		// the one-pass decoder do not.
		for _, k := range []string{"role", "content", "type", "text", "thinking", "signature", "id", "name", "input", "tool_use_id", "is_error"} {
			q := []byte(`"` + k + `"`)
			if bytes.Count(bytes.ToLower(raw), q) != bytes.Count(raw, q) {
				return
			}
		}
		if gerr != nil {
			t.Fatalf("%q: valid input rejected: %v", s, gerr)
		}
		for i := range want {
			w, g := want[i], got[i]
			if g.WireRole != "" { // the oracle predates wire roles: ids differ by design
				w.ID, g.ID = "", ""
			}
			if w.ID != g.ID || w.Role != g.Role || w.StringContent != g.StringContent || len(w.Blocks) != len(g.Blocks) {
				t.Fatalf("%q message %d: got %+v want %+v", s, i, g, w)
			}
			for j := range w.Blocks {
				wb, gb := w.Blocks[j], g.Blocks[j]
				if gb.OutputText() != wb.Output {
					t.Fatalf("%q block %d.%d: output %q want %q", s, i, j, gb.OutputText(), wb.Output)
				}
				gb.Output, gb.OutputRaw, gb.rawOutputLen, wb.Output = "", nil, 0, ""
				wb.Raw, gb.Raw = nil, nil
				if string(wb.Input) == string(gb.Input) {
					wb.Input, gb.Input = nil, nil
				}
				if !reflect.DeepEqual(wb, gb) {
					t.Fatalf("%q block %d.%d: got %+v want %+v", s, i, j, gb, wb)
				}
			}
		}
	})
}

var _ = bytes.TrimSpace
var _ = fmt.Errorf
