package msg

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/caddy-lore/caddy-lore/internal/jsonscan"
)

// Decode parses an Anthropic `messages` array reading each byte once: blocks
// keep their raw bytes (sub-slices of raw, not copies), ids are assigned by
// position, and only the fields the pipeline reads are decoded.
func Decode(raw json.RawMessage) ([]Message, error) {
	d, _, err := DecodeArray(raw, 0, nil)
	if err != nil {
		if errors.Is(err, jsonscan.ErrSyntax) && !strings.HasPrefix(err.Error(), "messages[") {
			return nil, fmt.Errorf("messages: %w", err)
		}
		return nil, err
	}
	return d.Messages, nil
}

// DecodeMessage parses one message at the given position.
func DecodeMessage(raw json.RawMessage, position int) (Message, error) {
	m, end, err := (&decoder{b: raw}).message(0, position)
	if err == nil && jsonscan.SkipSpace(raw, end) != len(raw) {
		err = jsonscan.ErrSyntax
	}
	return m, err
}

// message decodes the message at b[start].
func (dec *decoder) message(start, position int) (Message, int, error) {
	b := dec.b
	m := Message{Role: RoleUser}
	var ferr error
	end, err := jsonscan.Object(b, start, func(key []byte, s int) int {
		switch string(key) {
		case "role":
			role, e, err := jsonscan.StringAt(b, s)
			switch {
			case err != nil:
				return jsonscan.SkipValue(b, s)
			case role == RoleAssistant:
				m.Role = RoleAssistant
			case role != RoleUser:
				m.WireRole = role
			}
			return e
		case "content":
			e, err := dec.content(&m, s)
			if err != nil {
				ferr = err
				return len(b) + 1 // stops the walk as a syntax error
			}
			return e
		}
		return -1
	})
	if ferr != nil {
		return Message{}, -1, ferr
	}
	if err != nil {
		return Message{}, -1, err
	}
	m.Raw = b[jsonscan.SkipSpace(b, start):end]
	m.ID = ComputeID(m.role(), position, m.Content)
	return m, end, nil
}

// content reads a message's content (string or block array) at b[s]. Each
// block is charged to the decode's budget as it is read, so an array of a
// million empty blocks stops at the bound, not after it.
func (dec *decoder) content(m *Message, s int) (int, error) {
	b := dec.b
	m.Blocks, m.Content, m.StringContent = nil, nil, false // a repeated key: the last wins
	switch {
	case s < len(b) && b[s] == '"':
		text, e, err := jsonscan.StringAt(b, s)
		if err != nil {
			return -1, err
		}
		m.Content, m.StringContent = b[s:e], true
		first := dec.appendBlock(Block{Type: TypeText, Text: text, Raw: b[s:e]}, len(dec.slab))
		m.Blocks = dec.blocksFrom(first)
		return e, nil
	case s < len(b) && b[s] == '[':
		first, n, kept := len(dec.slab), 0, 0
		e, err := jsonscan.Array(b, s, func(bs int) (int, error) {
			blk, be, err := decodeBlockAt(b, bs)
			if err != nil {
				return -1, fmt.Errorf("content[%d]: %w", n, err)
			}
			kept += blk.size()
			if !dec.allows(kept, be) {
				return -1, dec.shapeError(be)
			}
			first = dec.appendBlock(blk, first)
			n++
			return be, nil
		})
		if err != nil {
			return -1, err
		}
		m.Blocks = dec.blocksFrom(first)
		m.Content = b[s:e]
		return e, nil
	default:
		e := jsonscan.SkipValue(b, s)
		if e < 0 || string(b[s:e]) != "null" {
			return -1, errors.New("content must be a string or an array of blocks")
		}
		return e, nil
	}
}

// decodeBlockAt reads one content block at b[s]. Fields are decoded as they
// are met; which of them matter depends on the type, which may come last, so
// strings are decoded for every known field and the irrelevant ones dropped.
func decodeBlockAt(b []byte, s int) (Block, int, error) {
	var blk Block
	var text, thinking, id, toolUseID string
	var ferr error
	str := func(at int) (string, int) {
		if at >= len(b) || b[at] != '"' {
			return "", -1
		}
		v, e, err := jsonscan.StringAt(b, at)
		if err != nil {
			ferr = err
			return "", len(b) + 1
		}
		return v, e
	}
	end, err := jsonscan.Object(b, s, func(key []byte, vs int) int {
		var e int
		switch string(key) {
		case "type":
			blk.Type, e = str(vs)
		case "text":
			text, e = str(vs)
		case "thinking":
			thinking, e = str(vs)
		case "signature":
			blk.Signature, e = str(vs)
		case "id":
			id, e = str(vs)
		case "name":
			blk.ToolName, e = str(vs)
		case "tool_use_id":
			toolUseID, e = str(vs)
		case "content":
			e = jsonscan.SkipValue(b, vs)
			if e > vs {
				blk.OutputRaw = b[vs:e]
			}
		case "input":
			e = jsonscan.SkipValue(b, vs)
			if e > vs {
				blk.Input = b[vs:e]
			}
		case "is_error":
			e = jsonscan.SkipValue(b, vs)
			blk.IsError = e > vs && string(b[vs:e]) == "true"
		default:
			return -1
		}
		if ferr != nil {
			return len(b) + 1
		}
		return e
	})
	if ferr != nil {
		return Block{}, -1, ferr
	}
	if err != nil {
		return Block{}, -1, err
	}
	blk.Raw = b[jsonscan.SkipSpace(b, s):end]
	switch blk.Type {
	case TypeText:
		blk.Text = text
	case TypeThinking:
		blk.Text = thinking
	case TypeToolUse:
		blk.ToolID = id
	case TypeToolResult:
		blk.ToolID = toolUseID
	}
	if blk.Type != TypeThinking {
		blk.Signature = ""
	}
	if blk.Type != TypeToolUse {
		blk.ToolName, blk.Input = "", nil
	}
	if blk.Type != TypeToolResult {
		blk.OutputRaw, blk.IsError = nil, false
	} else if blk.OutputRaw != nil {
		blk.rawOutputLen = blk.OutputLen() + 1
	}
	return blk, end, nil
}

// resultTextAt flattens tool_result content at b[s] (a string, or blocks
// whose text ones are joined with "\n") and returns the index after it.
func resultTextAt(b []byte, s int) (string, int, error) {
	if s < len(b) && b[s] == '"' {
		return jsonscan.StringAt(b, s)
	}
	if s >= len(b) || b[s] != '[' {
		return "", -1, nil // let the walk skip it
	}
	var buf []byte
	n := 0
	end, err := jsonscan.Array(b, s, func(es int) (int, error) {
		var typ, text string
		var serr error
		e, err := jsonscan.Object(b, es, func(key []byte, vs int) int {
			if (string(key) != "type" && string(key) != "text") || vs >= len(b) || b[vs] != '"' {
				return -1
			}
			v, ve, err := jsonscan.StringAt(b, vs)
			if err != nil {
				serr = err
				return len(b) + 1
			}
			if string(key) == "type" {
				typ = v
			} else {
				text = v
			}
			return ve
		})
		if serr != nil {
			return -1, serr
		}
		if err != nil {
			return -1, err
		}
		if typ == TypeText {
			if n > 0 {
				buf = append(buf, '\n')
			}
			buf = append(buf, text...)
			n++
		}
		return e, nil
	})
	return string(buf), end, err
}

// AppendJSON appends the Anthropic JSON of m to dst. An unmodified message is
// copied byte for byte from its original JSON.
func AppendJSON(dst []byte, m *Message) ([]byte, error) {
	if !m.modified() && len(m.Raw) > 0 {
		return append(dst, m.Raw...), nil
	}
	dst = append(dst, `{"role":`...)
	dst = appendString(dst, m.role())
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

// JSON returns the Anthropic JSON of m: an unmodified message's original
// bytes themselves (not a copy: read-only), else a new encoding.
func JSON(m *Message) ([]byte, error) {
	if !m.modified() && len(m.Raw) > 0 {
		return m.Raw, nil
	}
	return AppendJSON(nil, m)
}

// role is the role to send: the wire role when it is not user/assistant.
func (m *Message) role() string {
	if m.WireRole != "" {
		return m.WireRole
	}
	return m.Role
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
