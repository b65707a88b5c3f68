package fakeupstream

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
)

// The real API signs every thinking block it returns and, with thinking
// enabled, refuses a request whose thinking block was altered, and one whose
// final assistant turn before a trailing tool_result does not start with its
// own thinking block. A gateway that rewrites history can break both rules,
// so the fake enforces them (see validateThinking).

// thinkingEnabled reports whether the request asks for extended thinking
// (type "enabled" or "adaptive").
func (p *msgRequest) thinkingEnabled() bool {
	t, _ := p.root["thinking"].(map[string]any)
	switch str(t, "type") {
	case "enabled", "adaptive":
		return true
	}
	return false
}

// sign is the signature of a thinking text under the server's key: "EqQB"
// and base64 of HMAC-SHA256, so only this server can issue valid ones.
func sign(key []byte, thinking string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(thinking))
	return "EqQB" + base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// validateThinking applies the two thinking rules when thinking is enabled:
//   - every thinking block's signature must be this server's signature of its
//     text ("Invalid `signature` in `thinking` block");
//   - when the last turn is a user turn holding tool_result blocks, the
//     assistant turn just before it must start with a thinking or
//     redacted_thinking block.
func (p *msgRequest) validateThinking(key []byte) *apiError {
	if !p.thinkingEnabled() {
		return nil
	}
	for i, m := range p.Messages {
		for j, b := range m.Blocks {
			if b.Type != "thinking" {
				continue
			}
			if !hmac.Equal([]byte(str(b.obj, "signature")), []byte(sign(key, str(b.obj, "thinking")))) {
				return invalidRequest("messages.%d.content.%d: Invalid `signature` in `thinking` block", i, j)
			}
		}
	}
	// The trailing user turn (consecutive same-role messages form one turn)
	// and the assistant turn before it.
	end, results := len(p.Messages), false
	for end > 0 && p.Messages[end-1].Role == "user" {
		end--
		results = results || hasToolResult(p.Messages[end])
	}
	if !results || end == len(p.Messages) {
		return nil
	}
	start := end
	for start > 0 && p.Messages[start-1].Role == "assistant" {
		start--
	}
	if start == end {
		return nil
	}
	first := p.Messages[start].Blocks
	if len(first) > 0 && (first[0].Type == "thinking" || first[0].Type == "redacted_thinking") {
		return nil
	}
	found := "nothing"
	if len(first) > 0 {
		found = "`" + first[0].Type + "`"
	}
	return invalidRequest("messages.%d.content.0.type: Expected `thinking` or `redacted_thinking`, but found %s. "+
		"When `thinking` is enabled, a final `assistant` message must start with a thinking block "+
		"(preceeding the lastmost set of `tool_use` and `tool_result` blocks). We recommend you include "+ //nolint:misspell // the real API's text
		"thinking blocks from previous turns. To avoid this requirement, disable `thinking`.", start, found)
}

func hasToolResult(m message) bool {
	for _, b := range m.Blocks {
		if b.Type == "tool_result" {
			return true
		}
	}
	return false
}
