// Package msg is the gateway's internal message model: a conversation as the
// pipeline sees it, decoded just enough to identify, estimate and rewrite it,
// while every block the pipeline does not change keeps its original JSON bytes
// so it can be spliced back into the upstream request unchanged.
package msg

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"strconv"

	"github.com/cespare/xxhash/v2"

	"github.com/caddy-lore/caddy-lore/internal/jsonscan"
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
	// Output is a tool_result's content as text when a transform set it (or
	// a test built the block); see OutputText. A decoded block leaves it
	// empty and keeps OutputRaw instead: tool outputs are most of a
	// session's bytes, and most turns never need them as text.
	Output    string
	OutputRaw json.RawMessage // tool_result content as sent: a string or blocks
	IsError   bool            // tool_result is_error
	Raw       json.RawMessage // original JSON of the block
	Modified  bool
	// rawOutputLen is OutputLen of OutputRaw plus one, measured when the
	// block is decoded (0: not measured): estimates read it every turn for
	// every tool output of the history, and a decoded block is reused from
	// turn to turn (DecodeArray). Only decoding sets OutputRaw.
	rawOutputLen int
}

// Message is one conversation message.
type Message struct {
	ID   string // deterministic, see ComputeID
	Role string // RoleUser or RoleAssistant: what the pipeline reasons with
	// WireRole is the role as the client sent it when it is neither user nor
	// assistant — Claude Code's mid-conversation "system" messages. They are
	// handled as user-side messages but re-encoded with their own role.
	WireRole string
	Blocks   []Block
	// StringContent is true when the client sent content as a plain string;
	// an unmodified message is then re-emitted as a string.
	StringContent bool
	Raw           json.RawMessage // original JSON of the whole message
	Content       json.RawMessage // original JSON of its content (string or array)
}

// ComputeID returns the message's deterministic id: a 128-bit hash over
// role, position and the raw content without cache_control markers, as 32
// hex digits. The same message at
// the same position hashes the same on every turn, which the raw-window pin,
// the distillation snapshot and cache-bust tracking depend on. The hash is
// xxHash64 rather than SHA-256: ids are not a security
// boundary (sessions are namespaced by a keyed credential hash), and every
// turn re-hashes the whole history — megabytes — so the hash runs at memory
// speed instead of ~1.7 GB/s.
func ComputeID(role string, position int, rawContent []byte) string {
	var pos [20]byte
	p := strconv.AppendInt(pos[:0], int64(position), 10)
	d := xxhash.NewWithSeed(0x9e3779b97f4a7c15)
	_, _ = d.WriteString(role)
	_, _ = d.Write([]byte{0})
	_, _ = d.Write(p)
	_, _ = d.Write([]byte{0})
	writeWithoutCacheControl(d, rawContent)
	var sum [16]byte
	binary.BigEndian.PutUint64(sum[:8], d.Sum64())
	// The second half re-hashes the first with another seed: one pass over
	// the content (the history is re-hashed every turn), 64 bits of
	// collision resistance, which is plenty within one session.
	d2 := xxhash.NewWithSeed(0xc2b2ae3d27d4eb4f)
	_, _ = d2.Write(sum[:8])
	_, _ = d2.Write(p)
	binary.BigEndian.PutUint64(sum[8:], d2.Sum64())
	return hex.EncodeToString(sum[:])
}

var cacheControlKey = []byte(`"cache_control"`)

// writeWithoutCacheControl hashes raw JSON with every "cache_control" member
// left out. Clients move their cache breakpoint every turn (Claude Code marks
// the newest message), and a message must keep its id when its marker moves
// away, or the raw-window pin, the prefix snapshot and calibration would see
// a new message every turn. Inside a JSON string the quotes would be escaped,
// so a match is always a real member name.
func writeWithoutCacheControl(d *xxhash.Digest, raw []byte) {
	for {
		i := bytes.Index(raw, cacheControlKey)
		if i < 0 {
			_, _ = d.Write(raw)
			return
		}
		colon := jsonscan.SkipSpace(raw, i+len(cacheControlKey))
		end := -1
		if colon < len(raw) && raw[colon] == ':' {
			end = jsonscan.SkipValue(raw, jsonscan.SkipSpace(raw, colon+1))
		}
		if end < 0 { // not a member: keep it
			_, _ = d.Write(raw[:i+len(cacheControlKey)])
			raw = raw[i+len(cacheControlKey):]
			continue
		}
		// Drop the member with one adjacent comma, so {"a":1,"cache_control":{}}
		// and {"cache_control":{},"a":1} both hash as {"a":1}.
		start := i
		k := i - 1
		for k >= 0 && isSpace(raw[k]) {
			k--
		}
		if k >= 0 && raw[k] == ',' {
			start = k
			end = jsonscan.SkipSpace(raw, end)
		} else if e := jsonscan.SkipSpace(raw, end); e < len(raw) && raw[e] == ',' {
			end = jsonscan.SkipSpace(raw, e+1)
		}
		_, _ = d.Write(raw[:start])
		raw = raw[end:]
	}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

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

// OutputText returns a tool_result's content as text (text parts joined
// with "\n"), decoding it from OutputRaw when needed. It does not cache: the
// callers (stripping, rendering) need it for few blocks.
func (b *Block) OutputText() string {
	if len(b.OutputRaw) == 0 || b.Output != "" {
		return b.Output
	}
	text, _, _ := resultTextAt(b.OutputRaw, 0)
	return text
}

// OutputLen is the length of OutputText without decoding a string content:
// its raw length less the quotes and one byte per escape (exact for \n, \t,
// \" and the like; a \uXXXX escape counts a little long).
func (b *Block) OutputLen() int {
	raw := b.OutputRaw
	if len(raw) == 0 || b.Output != "" {
		return len(b.Output)
	}
	if b.rawOutputLen > 0 {
		return b.rawOutputLen - 1
	}
	if raw[0] == '"' {
		return max(len(raw)-2-bytes.Count(raw, []byte{'\\'}), 0)
	}
	return len(b.OutputText())
}

// OutputKey returns bytes that are equal for two blocks when their outputs
// are (the raw JSON when undecoded), for duplicate detection without decoding.
func (b *Block) OutputKey() []byte {
	if len(b.OutputRaw) == 0 || b.Output != "" {
		return []byte(b.Output)
	}
	return b.OutputRaw
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
