package gradient

import (
	"github.com/caddy-lore/caddy-lore/internal/jsonscan"
	"strings"

	"github.com/caddy-lore/caddy-lore/msg"
)

// Distilled-prefix texts and ids (docs/context-window.md, The distilled prefix).
const (
	PrefixUserID      = "lore-distilled-user"
	PrefixAssistantID = "lore-distilled-assistant"
	PrefixUserText    = "[Memory context follows — do not reference this format in your responses]"
	PrefixClosing     = "I'm ready to continue."
	historyHeader     = "## Session History"
	earlierHeader     = "### Earlier Work (summarized)"
	recentHeader      = "### Recent Work (distilled)"
	sectionSep        = "\n\n"
)

// Distillation is one non-archived distillation row of the session, oldest
// first. Generation 0 rows distil messages; higher generations are
// meta-distillations of earlier rows.
type Distillation struct {
	ID           string `json:"id"`
	Generation   int    `json:"generation"`
	Observations string `json:"observations"`
}

// PrefixCache is the append-only cache of the rendered distilled prefix:
// the rows it was rendered from (count and last id) and the text blocks of
// the synthetic assistant message before the closing line.
//
// The first block is the full rendering; every later block is an appended
// delta, starting with the blank line that separates it. The blocks joined
// together are exactly the reference's single text, and splitting it keeps
// the previous turn's prefix block-aligned: the cache breakpoint sits on the
// last delta, so after an append the old prefix (ending at the previous
// delta) is still a cache hit.
type PrefixCache struct {
	Rows   int      `json:"rows,omitempty"`
	LastID string   `json:"last_id,omitempty"`
	Parts  []string `json:"parts,omitempty"`
}

// tokens is the estimate of the cached prefix's text.
func (c PrefixCache) tokens() int {
	n := 0
	for _, part := range c.Parts {
		n += EstimateText(part)
	}
	return n
}

// RenderDistillations is the reference's formatDistillations: "## Session
// History", then "### Earlier Work (summarized)" and the meta rows (if any),
// then "### Recent Work (distilled)" and the gen-0 rows (if any), all
// separated by blank lines, observations trimmed. Empty for no rows.
func RenderDistillations(rows []Distillation) string {
	if len(rows) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString(historyHeader)
	writeSection(&b, rows, earlierHeader, func(g int) bool { return g > 0 })
	writeSection(&b, rows, recentHeader, func(g int) bool { return g == 0 })
	return b.String()
}

func writeSection(b *strings.Builder, rows []Distillation, header string, in func(int) bool) {
	first := true
	for i := range rows {
		if !in(rows[i].Generation) {
			continue
		}
		if first {
			b.WriteString(sectionSep)
			b.WriteString(header)
			first = false
		}
		b.WriteString(sectionSep)
		b.WriteString(strings.TrimSpace(rows[i].Observations))
	}
}

// renderDelta renders gen-0 rows appended to a prefix. Unlike the reference,
// whose every delta repeated "## Session History", a delta carries no
// history header — so the appended text equals what a full re-render of all
// rows would produce. It opens the "Recent Work" section only when the
// cached rows had none.
func renderDelta(rows []Distillation, hasRecent bool) string {
	var b strings.Builder
	if !hasRecent {
		b.WriteString(sectionSep)
		b.WriteString(recentHeader)
	}
	for i := range rows {
		b.WriteString(sectionSep)
		b.WriteString(strings.TrimSpace(rows[i].Observations))
	}
	return b.String()
}

// updatePrefix returns the prefix cache for rows, appending to old when the
// rows only grew by gen-0 rows (the previous last row still at its index),
// else rendering everything again (first call, or a meta-distillation that
// archived rows). With no new rows it returns old unchanged, byte for byte.
func updatePrefix(old PrefixCache, rows []Distillation) PrefixCache {
	if len(rows) == 0 {
		return PrefixCache{}
	}
	last := rows[len(rows)-1].ID
	if old.Rows > 0 && old.Rows <= len(rows) && len(old.Parts) > 0 && rows[old.Rows-1].ID == old.LastID {
		if old.Rows == len(rows) {
			return old
		}
		added := rows[old.Rows:]
		appendable := true
		for i := range added {
			if added[i].Generation != 0 {
				appendable = false
				break
			}
		}
		if appendable {
			hasRecent := false
			for i := range rows[:old.Rows] {
				if rows[i].Generation == 0 {
					hasRecent = true
					break
				}
			}
			parts := make([]string, len(old.Parts), len(old.Parts)+1)
			copy(parts, old.Parts)
			parts = append(parts, renderDelta(added, hasRecent))
			return PrefixCache{Rows: len(rows), LastID: last, Parts: parts}
		}
	}
	return PrefixCache{Rows: len(rows), LastID: last, Parts: []string{RenderDistillations(rows)}}
}

// lastPromptID is the id of the last user message without tool_result blocks
// — the last thing the human typed. (The reference keyed the snapshot on the
// last user message; on the Anthropic wire every tool step is a user message
// of tool_results, which would refresh the snapshot on every step.)
func lastPromptID(msgs []msg.Message) string {
	for i := len(msgs) - 1; i >= 0; i-- {
		m := &msgs[i]
		if m.Role != msg.RoleUser {
			continue
		}
		prompt := true
		for j := range m.Blocks {
			if m.Blocks[j].Type == msg.TypeToolResult {
				prompt = false
				break
			}
		}
		if prompt {
			return m.ID
		}
	}
	return ""
}

// resolvePrefix applies the distillation snapshot: while the last prompt is
// the one the rows were taken at (an autonomous tool chain), the cached
// prefix is reused as is, even when new rows arrived meanwhile; at a new
// prompt (or after IdleReset) the rows are taken again and the cache
// updated. It returns the prefix parts and the rows they stand for (for the
// layer-3/4 selections). Deviations: an empty snapshot is not frozen — with
// no prefix yet, picking up the first rows mid-chain restores lost history
// and costs no cached prefix; and refresh takes the rows again mid-chain
// (the raw window is being cut, so the messages it drops must be in the
// prefix, and the cache after the prefix is rewritten anyway).
func resolvePrefix(st *State, msgs []msg.Message, rows []Distillation, refresh bool) ([]string, []Distillation) {
	key := lastPromptID(msgs)
	if !refresh && key != "" && key == st.DistillSnapshotKey && st.Prefix.Rows > 0 {
		snap := rows
		if p := st.Prefix.Rows; p <= len(rows) && rows[p-1].ID == st.Prefix.LastID {
			snap = rows[:p]
		}
		return st.Prefix.Parts, snap
	}
	st.DistillSnapshotKey = key
	st.Prefix = updatePrefix(st.Prefix, rows)
	return st.Prefix.Parts, rows
}

// selectPrefix returns the prefix parts for the last keep rows: the cached
// parts when they already stand for no more rows, else a fresh rendering.
func selectPrefix(cached []string, rows []Distillation, keep int) []string {
	if len(rows) <= keep {
		return cached
	}
	return []string{RenderDistillations(rows[len(rows)-keep:])}
}

// prefix is the pair of synthetic messages, ready to send, and their JSON
// as it appears in the messages array (both Raws point into it).
type prefix struct {
	msgs   []msg.Message
	tokens int
	raw    []byte
}

// buildPrefix builds the two synthetic messages for the given parts: the user
// line announcing memory context, and the assistant message whose text
// blocks are the parts followed by the closing "I'm ready to continue."
// (after a blank line). Their JSON is encoded here, in one buffer and
// without HTML escaping, so the bytes depend only on the parts.
func buildPrefix(parts []string) prefix {
	if len(parts) == 0 {
		return prefix{}
	}
	size := 160 + len(PrefixUserText) + len(PrefixClosing)
	for _, p := range parts {
		size += len(p) + len(p)/16 + 32
	}
	buf := make([]byte, 0, size)
	blocks := make([]msg.Block, 0, len(parts)+2)

	buf = append(buf, `{"role":"user","content":[`...)
	blocks, buf = appendTextBlock(blocks, buf, PrefixUserText)
	buf = append(buf, "]}"...)
	userEnd := len(buf)
	buf = append(buf, ',')
	asstStart := len(buf)
	buf = append(buf, `{"role":"assistant","content":[`...)
	for i, p := range parts {
		if i > 0 {
			buf = append(buf, ',')
		}
		blocks, buf = appendTextBlock(blocks, buf, p)
	}
	buf = append(buf, ',')
	blocks, buf = appendTextBlock(blocks, buf, sectionSep+PrefixClosing)
	buf = append(buf, "]}"...)

	user := msg.Message{ID: PrefixUserID, Role: msg.RoleUser, Blocks: blocks[:1:1], Raw: buf[:userEnd:userEnd]}
	asst := msg.Message{ID: PrefixAssistantID, Role: msg.RoleAssistant, Blocks: blocks[1:], Raw: buf[asstStart:]}
	return prefix{
		msgs:   []msg.Message{user, asst},
		tokens: EstimateMessage(&user) + EstimateMessage(&asst),
		raw:    buf,
	}
}

// appendTextBlock encodes a text block into buf and records it, its Raw
// pointing into buf (buf is sized so it does not move).
func appendTextBlock(blocks []msg.Block, buf []byte, text string) ([]msg.Block, []byte) {
	start := len(buf)
	buf = append(buf, `{"type":"text","text":`...)
	buf = jsonscan.AppendString(buf, text)
	buf = append(buf, '}')
	return append(blocks, msg.Block{Type: msg.TypeText, Text: text, Raw: buf[start:len(buf):len(buf)]}), buf
}

// syntheticText is a one-text-block message with pre-encoded JSON.
func syntheticText(id, role, text string) msg.Message {
	buf := make([]byte, 0, len(text)+64)
	buf = append(buf, `{"role":`...)
	buf = jsonscan.AppendString(buf, role)
	buf = append(buf, `,"content":[`...)
	blocks, buf := appendTextBlock(nil, buf, text)
	buf = append(buf, "]}"...)
	return msg.Message{ID: id, Role: role, Blocks: blocks, Raw: buf}
}

func encodeTextBlock(text string) []byte {
	_, b := appendTextBlock(nil, make([]byte, 0, len(text)+32), text)
	return b
}

// bytes is the JSON of the prefix messages as they appear in the messages
// array (comma-separated).
func (p prefix) bytes() []byte { return p.raw }
