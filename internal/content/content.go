// Package content reads the content of a stored Anthropic message (a JSON
// string, or an array of blocks) for the gateway's own readers of history:
// the knowledge curator's prompt and the recall search. The turn pipeline
// has its own, byte-preserving decoder (package msg); these readers only
// need text.
package content

import (
	"bytes"
	"encoding/json"
	"strings"
)

// Block is the part of a content block the readers look at.
type Block struct {
	Type    string          `json:"type"`
	Text    string          `json:"text"`
	Name    string          `json:"name"`  // tool_use
	Input   json.RawMessage `json:"input"` // tool_use
	Content json.RawMessage `json:"content"`
}

// Decode reads a content that is a string (s) or a list of blocks;
// anything else gives neither. It looks at the first byte rather than
// trying one decoding after the other, because encoding/json validates the
// whole input before failing, which doubles the cost on long histories.
func Decode(raw json.RawMessage) (blocks []Block, s string) {
	raw = bytes.TrimLeft(raw, " \t\r\n")
	if len(raw) == 0 {
		return nil, ""
	}
	switch raw[0] {
	case '"':
		_ = json.Unmarshal(raw, &s)
	case '[':
		_ = json.Unmarshal(raw, &blocks)
	}
	return blocks, s
}

// ResultText is a tool_result's content as text: a string, or its text
// blocks joined by newlines.
func ResultText(raw json.RawMessage) string {
	blocks, s := Decode(raw)
	if blocks == nil {
		return s
	}
	parts := make([]string, 0, len(blocks))
	for _, bl := range blocks {
		if bl.Type == "text" {
			parts = append(parts, bl.Text)
		}
	}
	return strings.Join(parts, "\n")
}
