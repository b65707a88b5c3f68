package gradient

import (
	"bytes"
	"encoding/json"
	"sort"
	"unicode/utf8"

	"github.com/caddy-lore/caddy-lore/internal/jsonscan"
	"github.com/caddy-lore/caddy-lore/msg"
)

// MaxBreakpoints is the API's limit of cache_control markers per request.
const MaxBreakpoints = 4

var (
	ccKey      = []byte(`_control"`) // quick filter for "cache_control"; "_" is rarer than `"` or "c"
	ccFieldKey = []byte(`cache_control`)
	cc5m       = []byte(`"cache_control":{"type":"ephemeral"}`)
	cc1h       = []byte(`"cache_control":{"type":"ephemeral","ttl":"1h"}`)
	ttl1h      = []byte(`"1h"`)
)

// slot priorities, highest first.
const (
	prioLast       = iota // last block of the last message (ours)
	prioSystemLast        // last system block (ours)
	prioClientSys         // the client's other system breakpoints
	prioPrefix            // end of the distilled prefix (ours)
	prioClientMsg         // the client's message breakpoints
)

type slot struct {
	sys    bool
	mi, bi int  // message and block index (bi alone for system blocks)
	prio   int  // lower is kept first
	order  int  // position in the prompt (system blocks, then messages)
	client bool // the block already carries cache_control
	is1h   bool // its ttl is "1h"
	keep   bool
}

// ApplyCacheBreakpoints places prompt-cache breakpoints:
//
//   - the system prompt becomes text block(s); its last block gets
//     cache_control {type: ephemeral} (a string system becomes one such
//     block; an empty or absent system stays absent, returned as nil);
//   - the last cacheable block of the last message gets one (thinking,
//     redacted_thinking and empty text blocks cannot carry it, so the last
//     other block does);
//   - at layers ≥ 1, the last history block of the distilled-prefix message
//     gets one, so the prefix stays a cache hit when the raw window after it
//     moves (see PrefixCache);
//   - the client's own markers count, and fixed is the number the caller
//     keeps elsewhere (tools, a top-level cache_control).
//
// Never more than 4 in total. When there are more, markers are kept in this
// order and the rest removed: the last message's, the last system block's,
// the client's other system ones (newest first), the prefix one, the client's
// message-level ones (newest first) — that is, the client's oldest
// message-level markers go first. A marker the client already placed where
// one is wanted is kept as is (with its ttl). An added marker gets ttl "1h"
// when a kept marker after it has "1h" (the API wants 1h markers before 5m
// ones), else no ttl.
//
// Neither the input system bytes nor the input messages are modified;
// changed messages are copies whose changed blocks carry new raw JSON.
// Malformed system JSON is returned as is.
func ApplyCacheBreakpoints(system json.RawMessage, msgs []msg.Message, fixed int) (json.RawMessage, []msg.Message) {
	sys, ok := systemBlocks(system)
	if !ok {
		return system, msgs
	}
	var slots []slot
	order := 0
	for i, b := range sys {
		has, is1h := hasCacheControl(b)
		prio := prioClientSys
		if i == len(sys)-1 {
			prio = prioSystemLast
		}
		if has || (prio == prioSystemLast && cacheable(b)) {
			slots = append(slots, slot{sys: true, bi: i, prio: prio, order: order, client: has, is1h: is1h})
		}
		order++
	}
	lastMsg, lastBlock := len(msgs)-1, -1
	if lastMsg >= 0 {
		lastBlock = lastCacheable(&msgs[lastMsg])
	}
	for mi := range msgs {
		m := &msgs[mi]
		want := -1
		prio := prioClientMsg
		if mi == lastMsg {
			want, prio = lastBlock, prioLast
		} else if m.ID == PrefixAssistantID && len(m.Blocks) >= 2 {
			want, prio = len(m.Blocks)-2, prioPrefix
		}
		scan := m.Raw == nil || bytes.Contains(m.Raw, ccKey)
		for bi := range m.Blocks {
			b := &m.Blocks[bi]
			has, is1h := false, false
			if scan && !b.Modified && len(b.Raw) > 0 && b.Raw[0] == '{' && bytes.Contains(b.Raw, ccKey) {
				has, is1h = hasCacheControl(b.Raw)
			}
			switch {
			case bi == want:
				slots = append(slots, slot{mi: mi, bi: bi, prio: prio, order: order, client: has, is1h: is1h})
			case has:
				slots = append(slots, slot{mi: mi, bi: bi, prio: prioClientMsg, order: order, client: true, is1h: is1h})
			}
			order++
		}
	}

	// Keep the best MaxBreakpoints − fixed slots.
	byPrio := make([]int, len(slots))
	for i := range byPrio {
		byPrio[i] = i
	}
	sort.SliceStable(byPrio, func(a, b int) bool {
		sa, sb := &slots[byPrio[a]], &slots[byPrio[b]]
		if sa.prio != sb.prio {
			return sa.prio < sb.prio
		}
		return sa.order > sb.order // newest first within a class
	})
	for k, i := range byPrio {
		slots[i].keep = k < MaxBreakpoints-fixed
	}

	// Apply, newest first so "a kept 1h marker after it" is known.
	later1h := false
	sysChanged := false
	out := msgs
	var owned []bool // messages of out whose blocks this call copied
	for i := len(slots) - 1; i >= 0; i-- {
		s := &slots[i]
		if s.keep == s.client {
			later1h = later1h || (s.keep && s.is1h)
			continue
		}
		var edit func([]byte) []byte
		if s.keep {
			marker := cc5m
			if later1h {
				marker = cc1h
			}
			edit = func(raw []byte) []byte { return addField(raw, marker) }
		} else {
			edit = removeCacheControl
		}
		if s.sys {
			sys[s.bi] = edit(sys[s.bi])
			sysChanged = true
			continue
		}
		if owned == nil {
			out = make([]msg.Message, len(msgs))
			copy(out, msgs)
			owned = make([]bool, len(msgs))
		}
		m := &out[s.mi]
		if !owned[s.mi] {
			blocks := make([]msg.Block, len(m.Blocks))
			copy(blocks, m.Blocks)
			*m = withBlocks(*m, blocks)
			owned[s.mi] = true
		}
		b := &m.Blocks[s.bi]
		raw := materialize(b)
		b.Raw, b.Modified = edit(raw), false
		later1h = later1h || (s.keep && s.is1h)
	}
	if len(sys) == 0 {
		return nil, out
	}
	if !sysChanged && len(bytes.TrimSpace(system)) > 0 && bytes.TrimSpace(system)[0] == '[' {
		return system, out
	}
	return joinArray(sys), out
}

// materialize returns a block's JSON object: its raw bytes when unmodified,
// else its re-encoded fields (a string-content text is an object then).
func materialize(b *msg.Block) []byte {
	if !b.Modified && len(b.Raw) > 0 && b.Raw[0] == '{' {
		return b.Raw
	}
	raw, err := msg.AppendBlockJSON(nil, b)
	if err != nil {
		return b.Raw
	}
	return raw
}

// lastCacheable is the index of the last block that can carry cache_control.
func lastCacheable(m *msg.Message) int {
	for i := len(m.Blocks) - 1; i >= 0; i-- {
		b := &m.Blocks[i]
		switch {
		case b.Type == msg.TypeThinking, b.Type == "redacted_thinking":
		case b.Type == msg.TypeText && b.Text == "":
		default:
			return i
		}
	}
	return -1
}

// systemBlocks turns the request's system into block objects: nil for an
// absent, null or empty system; one text block for a string; the elements of
// an array. ok is false for anything else or malformed JSON.
func systemBlocks(system json.RawMessage) ([][]byte, bool) {
	t := bytes.TrimSpace(system)
	switch {
	case len(t) == 0 || bytes.Equal(t, []byte("null")):
		return nil, true
	case t[0] == '"':
		if canonicalString(t) { // as the decode and re-encode below would write it
			if len(t) == 2 {
				return nil, true
			}
			b := make([]byte, 0, len(t)+24)
			b = append(append(append(b, `{"type":"text","text":`...), t...), '}')
			return [][]byte{b}, true
		}
		s, err := jsonscan.String(t) // re-encoded below as encoding/json would decode it
		if err != nil {
			return nil, false
		}
		if s == "" {
			return nil, true
		}
		return [][]byte{encodeTextBlock(s)}, true
	case t[0] == '[':
		out, ok := arrayObjects(t)
		if !ok {
			return nil, false
		}
		return out, true
	}
	return nil, false
}

// canonicalString reports whether t is a well-formed JSON string that
// jsonscan.AppendString would write exactly so from its decoded text: valid
// UTF-8, no U+2028 or U+2029 unescaped, and only the escapes it writes
// itself (\" \\ \n \r \t \b \f). Such a string (most system prompts) is
// used as it is, without decoding and encoding it again.
func canonicalString(t []byte) bool {
	if jsonscan.SkipString(t, 0) != len(t) || !utf8.Valid(t) ||
		bytes.Contains(t, []byte("\u2028")) || bytes.Contains(t, []byte("\u2029")) {
		return false
	}
	for rest := t; ; {
		i := bytes.IndexByte(rest, '\\')
		if i < 0 {
			return true
		}
		switch rest[i+1] { // SkipString: every backslash starts an escape
		case '"', '\\', 'n', 'r', 't', 'b', 'f':
		default:
			return false
		}
		rest = rest[i+2:]
	}
}

// cacheable reports whether a system block may carry a marker (not an empty
// text block).
func cacheable(obj []byte) bool {
	typ, text := fieldValue(obj, "type"), fieldValue(obj, "text")
	return !bytes.Equal(typ, []byte(`"text"`)) || !bytes.Equal(text, []byte(`""`))
}

func joinArray(items [][]byte) json.RawMessage {
	n := 2
	for _, it := range items {
		n += len(it) + 1
	}
	out := make([]byte, 0, n)
	out = append(out, '[')
	for i, it := range items {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, it...)
	}
	return append(out, ']')
}

// CountCacheControl counts the top-level cache_control markers of the
// objects in a JSON array (for the tools array: pass the result as fixed).
func CountCacheControl(array json.RawMessage) int {
	if !bytes.Contains(array, ccKey) {
		return 0
	}
	arr, ok := arrayObjects(bytes.TrimSpace(array))
	if !ok {
		return 0
	}
	n := 0
	for _, b := range arr {
		if has, _ := hasCacheControl(bytes.TrimSpace(b)); has {
			n++
		}
	}
	return n
}

// hasCacheControl reports whether a JSON object has a top-level
// cache_control (not null), and whether its ttl is "1h".
func hasCacheControl(obj []byte) (has, is1h bool) {
	v := fieldValue(obj, "cache_control")
	if len(v) == 0 || bytes.Equal(v, []byte("null")) {
		return false, false
	}
	return true, bytes.Contains(v, ttl1h)
}
