package handler

import (
	"strings"
	"unicode/utf8"

	"github.com/caddy-lore/caddy-lore/handler/translate"
	"github.com/caddy-lore/caddy-lore/metrics/label"
	"github.com/caddy-lore/caddy-lore/msg"
)

// class is what a Messages request is (docs/architecture.md, Classification).
type class int

const (
	classTurn       class = iota // a conversation turn: the full pipeline
	classUtility                 // title or other small utility call: forwarded untouched, not stored
	classCompaction              // the client asks for a summary of the conversation
)

// String is the class's metrics label.
func (c class) String() string {
	switch c {
	case classUtility:
		return label.ClassUtility
	case classCompaction:
		return label.ClassCompaction
	default:
		return label.ClassTurn
	}
}

// Utility-request limits (docs/architecture.md, Classification, rule 2).
const (
	utilityMaxTools     = 2
	utilityMaxMessages  = 2
	utilityMaxSystemLen = 500
)

// compactionHeaders are the section headers of a summary template; a last
// user message with <template> and at least 4 of them asks for a compaction.
var compactionHeaders = []string{"## Goal", "## Progress", "## Key Decisions", "## Next Steps",
	"## Critical Context", "## Relevant Files"}

// classify applies the rules of docs/architecture.md, Classification, in
// order. msgs may be nil when the messages could not be decoded; such a
// request is a turn the upstream will judge.
func classify(req *translate.Request, system string, msgs []msg.Message) class {
	if isCompaction(req.ToolCount, system, msgs) {
		return classCompaction
	}
	if req.ToolCount <= utilityMaxTools && req.MessageCount <= utilityMaxMessages &&
		utf8.RuneCountInString(system) < utilityMaxSystemLen {
		return classUtility
	}
	return classTurn
}

func isCompaction(tools int, system string, msgs []msg.Message) bool {
	if containsFoldASCII(system, "anchored context summarization assistant") {
		return true
	}
	last := lastUserText(msgs)
	if last == "" {
		return false
	}
	if tools == 0 && (strings.Contains(last, "anchored summary from the conversation history above") ||
		strings.Contains(last, "Update the anchored summary below") ||
		strings.Contains(last, "<previous-summary>")) {
		return true
	}
	if strings.Contains(last, "<template>") {
		n := 0
		for _, h := range compactionHeaders {
			if strings.Contains(last, h) {
				n++
			}
		}
		return n >= 4
	}
	return false
}

// lastUserText is the text blocks of the last user message joined with "\n".
func lastUserText(msgs []msg.Message) string {
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].Role != msg.RoleUser {
			continue
		}
		var parts []string
		for _, b := range msgs[i].Blocks {
			if b.Type == msg.TypeText {
				parts = append(parts, b.Text)
			}
		}
		return strings.Join(parts, "\n")
	}
	return ""
}

// firstUserText is the fingerprint source: the first user message's text
// blocks concatenated with no separator.
func firstUserText(msgs []msg.Message) string {
	for i := range msgs {
		if msgs[i].Role == msg.RoleUser {
			return msgs[i].Text()
		}
	}
	return ""
}

// containsFoldASCII reports whether strings.ToLower(s) contains needle
// (lower-case ASCII), without copying s: Claude Code's system prompt,
// searched on every turn, is tens of kilobytes. The two non-ASCII
// characters ToLower turns into ASCII letters, the dotted capital I (into
// i) and the Kelvin sign (into k), send s the slow way.
func containsFoldASCII(s, needle string) bool {
	if strings.Contains(s, "\u0130") || strings.Contains(s, "\u212a") {
		return strings.Contains(strings.ToLower(s), needle)
	}
	n := len(needle)
	for i := 0; i+n <= len(s); i++ {
		j := 0
		for ; j < n; j++ {
			c := s[i+j]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != needle[j] {
				break
			}
		}
		if j == n {
			return true
		}
	}
	return false
}
