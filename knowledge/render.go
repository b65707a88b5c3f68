package knowledge

import (
	"strings"
	"unicode/utf8"

	"github.com/caddy-lore/caddy-lore/internal/content"
	"github.com/caddy-lore/caddy-lore/store"
)

// What of a conversation the curator sees. Durable knowledge is in what
// people and the assistant say, not in bulk tool output, and the curator's
// input is billed: long parts are clipped and only the newest messages are
// kept when the stretch is long.
const (
	maxTextChars         = 4000
	maxToolChars         = 500
	maxCallChars         = 300
	maxConversationChars = 60000
)

// renderConversation renders messages as "[role] body", oldest first,
// separated by blank lines (docs/knowledge-and-recall.md). Roles: user, assistant, and
// tool for a user message made only of tool results.
func renderConversation(msgs []store.StoredMessage) string {
	parts := make([]string, 0, len(msgs))
	for _, m := range msgs {
		role, body := messageBody(m)
		if body == "" {
			continue
		}
		parts = append(parts, "["+role+"] "+body)
	}
	total, keep := 0, len(parts)
	for keep > 0 && total+len(parts[keep-1]) <= maxConversationChars {
		keep--
		total += len(parts[keep]) + 2
	}
	if keep == len(parts) && keep > 0 { // one huge message: clip it
		keep--
		parts[keep] = clip(parts[keep], maxConversationChars)
	}
	out := strings.Join(parts[keep:], "\n\n")
	if keep > 0 {
		out = "(earlier messages omitted)\n\n" + out
	}
	return out
}

func messageBody(m store.StoredMessage) (role, body string) {
	role = m.Role
	blocks, s := content.Decode(m.Content)
	if blocks == nil {
		return role, clip(strings.TrimSpace(s), maxTextChars)
	}
	var lines []string
	results := 0
	for _, b := range blocks {
		switch b.Type {
		case "text":
			if t := strings.TrimSpace(b.Text); t != "" {
				lines = append(lines, clip(t, maxTextChars))
			}
		case "tool_use":
			lines = append(lines, "[call:"+b.Name+"] "+clip(string(b.Input), maxCallChars))
		case "tool_result":
			results++
			lines = append(lines, "[tool output] "+clip(strings.TrimSpace(content.ResultText(b.Content)), maxToolChars))
		}
	}
	if role == "user" && results > 0 && results == len(lines) {
		role = "tool"
	}
	return role, strings.Join(lines, "\n")
}

// clip cuts s to at most n bytes on a rune boundary, marking the cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + " […]"
}
