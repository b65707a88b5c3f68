package gradient

import (
	"bytes"
	"github.com/caddy-lore/caddy-lore/msg"
)

// dedupMinChars is the smallest tool output deduplication looks at.
const dedupMinChars = 600

// Tool outputs on the Anthropic wire: a tool_use block in an assistant
// message, its tool_result in the next user message. The reference's "tool
// part" is that pair; the helpers below work on the pair directly.

// toolUseOf finds the tool_use answered by a tool_result of message i: it must
// be in the immediately preceding assistant message.
func toolUseOf(msgs []msg.Message, i int, id string) *msg.Block {
	if i == 0 || id == "" || msgs[i-1].Role != msg.RoleAssistant {
		return nil
	}
	for j := range msgs[i-1].Blocks {
		b := &msgs[i-1].Blocks[j]
		if b.Type == msg.TypeToolUse && b.ToolID == id {
			return b
		}
	}
	return nil
}

func toolName(use *msg.Block) string {
	if use == nil || use.ToolName == "" {
		return "unknown"
	}
	return use.ToolName
}

// deduper replaces earlier tool outputs by annotations when a later output of
// the same tool is identical or, for read tools, when a later read of the
// same path covers the earlier range. Outputs under 600 chars are ignored,
// outputs of the current turn are never replaced (but count as "later"
// outputs).
//
// Deviation: the reference compared 32-bit FNV-1a hashes of the outputs.
// Equal hashes stand for equal content; here outputs are bucketed by tool and
// length and compared byte for byte (memequal stops at the first difference),
// which is the same test without hash collisions and without hashing every
// byte — hashing was a third of the time of a layer-3 transform.
//
// An output's fate depends only on the outputs after it, so messages are fed
// newest first (feed(n-1), feed(n-2), …) and each decision is made when its
// message is fed: the gradient only pays for the messages its window walks
// over.
type deduper struct {
	msgs    []msg.Message
	ct      int // current-turn start
	content map[contentKey][][]byte
	reads   map[string][]readRange
}

type contentKey struct {
	tool string
	n    int
}

// replacement is one tool_result block to replace: its index and new text.
type replacement struct {
	block int
	text  string
}

// feed registers message i and returns the replacements for its blocks.
// Messages must be fed in strictly decreasing order.
func (d *deduper) feed(i int) []replacement {
	m := &d.msgs[i]
	if m.Role != msg.RoleUser {
		return nil
	}
	type pending struct {
		key   contentKey
		text  []byte
		rng   readRange
		isRng bool
	}
	var regs [4]pending
	toRegister := regs[:0]
	var out []replacement
	for j := range m.Blocks {
		b := &m.Blocks[j]
		if b.Type != msg.TypeToolResult || b.OutputLen() < dedupMinChars {
			continue
		}
		use := toolUseOf(d.msgs, i, b.ToolID)
		if use == nil {
			continue // orphan: removed later anyway
		}
		// Outputs are compared as sent (raw JSON), without decoding them.
		key := b.OutputKey()
		p := pending{key: contentKey{use.ToolName, len(key)}, text: key}
		if isReadTool(use.ToolName) {
			p.rng, p.isRng = parseReadRange(use.Input)
		}
		toRegister = append(toRegister, p)
		if i >= d.ct {
			continue
		}
		dup := d.seen(p.key, p.text)
		covered := false
		if p.isRng {
			for _, later := range d.reads[p.rng.path] {
				if later.covers(p.rng) {
					covered = true
					break
				}
			}
		}
		if !dup && !covered {
			continue
		}
		text := DedupAnnotation(use.ToolName)
		if p.isRng {
			text = DedupReadAnnotation(p.rng)
		}
		out = append(out, replacement{block: j, text: text})
	}
	for _, p := range toRegister {
		if d.content == nil {
			d.content = make(map[contentKey][][]byte)
		}
		d.content[p.key] = append(d.content[p.key], p.text)
		if p.isRng {
			if d.reads == nil {
				d.reads = make(map[string][]readRange)
			}
			d.reads[p.rng.path] = append(d.reads[p.rng.path], p.rng)
		}
	}
	return out
}

// seen reports whether an output equal to text was fed for the same tool.
func (d *deduper) seen(key contentKey, text []byte) bool {
	for _, s := range d.content[key] {
		if bytes.Equal(s, text) {
			return true
		}
	}
	return false
}

// stripBlocks replaces the tool outputs of message i (already deduplicated
// and cleaned: blocks) by strip annotations. Outputs that dedup already
// replaced are left as they are, and an output is only replaced when the
// annotation is smaller (the reference also "stripped" a 2-byte "ok" into a
// 60-byte annotation). Returns nil when nothing changed.
func stripBlocks(msgs []msg.Message, i int, blocks []msg.Block) []msg.Block {
	var out []msg.Block
	for j := range blocks {
		b := &blocks[j]
		if b.Type != msg.TypeToolResult || b.Modified {
			continue
		}
		text := StripAnnotation(toolName(toolUseOf(msgs, i, b.ToolID)), b.OutputText())
		nb := msg.Block{Type: msg.TypeToolResult, ToolID: b.ToolID, Output: text, IsError: b.IsError, Modified: true}
		if EstimateBlock(&nb) >= EstimateBlock(b) {
			continue
		}
		if out == nil {
			out = make([]msg.Block, len(blocks))
			copy(out, blocks)
		}
		out[j] = nb
	}
	return out
}

// withBlocks returns a copy of m carrying new blocks, re-encoded on output.
func withBlocks(m msg.Message, blocks []msg.Block) msg.Message {
	m.Blocks = blocks
	m.Raw = nil
	m.StringContent = false
	return m
}

// Pairing safety (docs/context-window.md, Layers: Pairing and order), run on every
// output, layer 0 included. Each step returns its input slice untouched when
// it has nothing to do, and never writes into a slice it did not allocate.

// dropTrailingPrefill drops trailing assistant messages without tool blocks
// (an assistant prefill the API would reject or continue).
func dropTrailingPrefill(out []msg.Message) []msg.Message {
	for len(out) > 0 {
		last := &out[len(out)-1]
		if last.Role != msg.RoleAssistant || last.HasToolParts() {
			break
		}
		out = out[:len(out)-1]
	}
	return out
}

// answerPending gives every tool_use without a tool_result in the next
// message an error result, "[tool execution interrupted — session
// recovered]" with is_error, placed after the tool_results already at the
// start of the next user message, or in a new user message when the next
// message is not a user message (or there is none).
func answerPending(out []msg.Message) []msg.Message {
	var res []msg.Message // nil until the first change
	for k := 0; k < len(out); k++ {
		m := &out[k]
		var next *msg.Message
		if k+1 < len(out) && out[k+1].Role == msg.RoleUser {
			next = &out[k+1]
		}
		var missing []msg.Block
		if m.Role == msg.RoleAssistant {
			for j := range m.Blocks {
				b := &m.Blocks[j]
				if b.Type != msg.TypeToolUse || b.ToolID == "" || (next != nil && hasResult(next, b.ToolID)) {
					continue
				}
				missing = append(missing, msg.Block{Type: msg.TypeToolResult, ToolID: b.ToolID,
					Output: InterruptedText, IsError: true, Modified: true})
			}
		}
		if missing == nil {
			if res != nil {
				res = append(res, *m)
			}
			continue
		}
		if res == nil {
			res = make([]msg.Message, k, len(out)+1)
			copy(res, out[:k])
		}
		res = append(res, *m)
		if next == nil {
			res = append(res, msg.Message{ID: "lore-interrupted-" + m.ID, Role: msg.RoleUser, Blocks: missing})
			continue
		}
		lead := 0
		for lead < len(next.Blocks) && next.Blocks[lead].Type == msg.TypeToolResult {
			lead++
		}
		blocks := make([]msg.Block, 0, len(next.Blocks)+len(missing))
		blocks = append(blocks, next.Blocks[:lead]...)
		blocks = append(blocks, missing...)
		blocks = append(blocks, next.Blocks[lead:]...)
		res = append(res, withBlocks(*next, blocks))
		k++ // the next message has been emitted
	}
	if res == nil {
		return out
	}
	return res
}

func hasResult(m *msg.Message, id string) bool {
	for j := range m.Blocks {
		if m.Blocks[j].Type == msg.TypeToolResult && m.Blocks[j].ToolID == id {
			return true
		}
	}
	return false
}

// removeOrphans removes tool_result blocks that do not answer a tool_use of
// the immediately preceding assistant message; a user message left without
// blocks becomes the single text "[tool results provided]". When owned, out
// is the caller's own slice and is changed in place.
func removeOrphans(out []msg.Message, owned bool) []msg.Message {
	var res []msg.Message
	if owned {
		res = out[:0]
	}
	for k := range out {
		m := &out[k]
		var kept []msg.Block
		changed := false
		if m.Role == msg.RoleUser {
			for j := range m.Blocks {
				b := &m.Blocks[j]
				paired := k > 0 && out[k-1].Role == msg.RoleAssistant && hasUse(&out[k-1], b.ToolID)
				orphan := b.Type == msg.TypeToolResult && !paired
				if orphan && !changed {
					changed = true
					kept = make([]msg.Block, j, len(m.Blocks))
					copy(kept, m.Blocks[:j])
				}
				if changed && !orphan {
					kept = append(kept, *b)
				}
			}
		}
		if !changed {
			if res != nil && !owned {
				res = append(res, *m)
			}
			continue
		}
		if res == nil {
			res = make([]msg.Message, k, len(out))
			copy(res, out[:k])
		}
		if len(kept) == 0 {
			kept = []msg.Block{textBlock(ResultsPlaceholder)}
		}
		if owned {
			out[k] = withBlocks(*m, kept)
			continue
		}
		res = append(res, withBlocks(*m, kept))
	}
	if res == nil || owned {
		return out
	}
	return res
}

func hasUse(m *msg.Message, id string) bool {
	for j := range m.Blocks {
		if m.Blocks[j].Type == msg.TypeToolUse && m.Blocks[j].ToolID == id {
			return true
		}
	}
	return false
}

// fixPairs runs the pairing steps in order: trailing prefill, pending
// tool_use, orphaned tool_result. owned says out may be changed in place.
func fixPairs(out []msg.Message, owned bool) []msg.Message {
	out = dropTrailingPrefill(out)
	fixed := answerPending(out)
	owned = owned || (len(fixed) > 0 && len(out) > 0 && &fixed[0] != &out[0])
	return removeOrphans(fixed, owned)
}
