// Package msg is the gateway's internal message model: a conversation as the
// pipeline sees it, decoded just enough to identify, estimate and rewrite it,
// while every block the pipeline does not change keeps its original JSON bytes
// so it can be spliced back into the upstream request unchanged.
package msg

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strconv"
)

// Roles of a message. Anything the client sends other than "assistant" is
// treated as "user", as the Messages API does.
const (
	RoleUser      = "user"
	RoleAssistant = "assistant"
)

// Block types the pipeline looks inside. Every other type (image, document,
// redacted_thinking, server tool blocks, ...) is carried as raw JSON only.
const (
	TypeText       = "text"
	TypeThinking   = "thinking"
	TypeToolUse    = "tool_use"
	TypeToolResult = "tool_result"
)

// Block is one content block. Raw holds the block's original JSON; when a
// transform changes the block it sets Modified and the encoder rebuilds the
// JSON from the decoded fields instead.
type Block struct {
	Type      string
	Text      string          // text of a text block, thinking of a thinking block
	Signature string          // thinking signature, kept for the round trip
	ToolID    string          // tool_use id, or tool_result tool_use_id
	ToolName  string          // tool_use name
	Input     json.RawMessage // tool_use input
	Output    string          // tool_result content, text parts joined with "\n"
	IsError   bool            // tool_result is_error
	Raw       json.RawMessage // original JSON of the block
	Modified  bool
}

// Message is one conversation message.
type Message struct {
	ID     string // deterministic, see ComputeID
	Role   string
	Blocks []Block
	// StringContent is true when the client sent content as a plain string;
	// an unmodified message is then re-emitted as a string.
	StringContent bool
	Raw           json.RawMessage // original JSON of the whole message
	Content       json.RawMessage // original JSON of its content (string or array)
}

// ComputeID returns the message's deterministic id: SHA-256 over role,
// position and the raw content, truncated to 32 hex digits. The same message at
// the same position hashes the same on every turn, which the raw-window pin,
// the distillation snapshot and cache-bust tracking depend on.
func ComputeID(role string, position int, rawContent []byte) string {
	h := sha256.New()
	h.Write([]byte(role))
	h.Write([]byte{0})
	h.Write([]byte(strconv.Itoa(position)))
	h.Write([]byte{0})
	h.Write(rawContent)
	sum := h.Sum(nil)
	return hex.EncodeToString(sum[:16])
}

// Text returns the concatenated text of the message's text blocks, with no
// separator (the reference's fingerprint rule: "AB" and ["A","B"] are equal).
func (m *Message) Text() string {
	if len(m.Blocks) == 1 && m.Blocks[0].Type == TypeText {
		return m.Blocks[0].Text
	}
	var n int
	for i := range m.Blocks {
		if m.Blocks[i].Type == TypeText {
			n += len(m.Blocks[i].Text)
		}
	}
	buf := make([]byte, 0, n)
	for i := range m.Blocks {
		if m.Blocks[i].Type == TypeText {
			buf = append(buf, m.Blocks[i].Text...)
		}
	}
	return string(buf)
}

// HasToolParts reports whether the message carries tool_use or tool_result blocks.
func (m *Message) HasToolParts() bool {
	for i := range m.Blocks {
		if t := m.Blocks[i].Type; t == TypeToolUse || t == TypeToolResult {
			return true
		}
	}
	return false
}
