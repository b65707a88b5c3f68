package gradient

import (
	"github.com/caddy-lore/caddy-lore/msg"
)

// currentTurnStart is where the current turn begins: the last user message,
// extended backwards past messages with tool blocks and past user messages,
// up to the first assistant message without tool blocks. With no user
// message the whole conversation is the current turn.
func currentTurnStart(msgs []msg.Message) int {
	start := -1
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].Role == msg.RoleUser {
			start = i
			break
		}
	}
	if start < 0 {
		return 0
	}
	for i := start - 1; i >= 0; i-- {
		if msgs[i].Role == msg.RoleAssistant && !msgs[i].HasToolParts() {
			break
		}
		start = i
	}
	return start
}

// protectedStart bounds the current turn that the layers keep whole (never
// stripped, deduplicated or cut) to its newest messages within budget
// tokens, and at least its last two messages (the last call and its result).
//
// Deviation: the reference kept the whole current turn. A Claude Code agent
// loop is one current turn from its prompt on — every assistant message has
// tool calls — so past the window no layer 1–3 could hold it, every turn
// fell to the emergency layer, and its tool outputs were stripped one more
// per turn, rewriting the prompt cache from the top each time. Older rounds
// of a long loop are history like any other: distilled, then cut.
func protectedStart(msgs []msg.Message, ct, budget int) int {
	start, tok := len(msgs), 0
	for i := len(msgs) - 1; i >= ct; i-- {
		tok += EstimateMessage(&msgs[i])
		if tok > budget && len(msgs)-i > 2 {
			break
		}
		start = i
	}
	return start
}

// layer0Fits is the passthrough test: the expected input, × 1.5 when
// uncalibrated, within context − output reserve.
func (p *plan) layer0Fits() bool {
	st := p.st
	var expected int
	if kw := st.KnownWindow; p.calibrated && p.windowValid(kw) && st.KnownEstimate > 0 {
		// Last actual input, with what that turn sent (prefix, stripped or
		// deduplicated messages, a dropped head) replaced by everything as it
		// is now. Counting only the messages outside the window, as before,
		// took a window whose tool outputs a layer ≥ 2 had stripped for the
		// whole history, so the next turn went back to layer 0 and overflowed.
		expected = st.LastKnownInput - st.KnownEstimate + p.inputTokens() + p.in.LTMTokens - st.LastKnownLTM
	} else if p.calibrated && p.windowValid(kw) {
		// State saved before KnownEstimate existed: the messages outside the
		// window (a dropped head, new ones) on top of the last actual input.
		expected = st.LastKnownInput + EstimateMessages(p.msgs[:kw.Start]) +
			EstimateMessages(p.msgs[kw.Count:]) + p.in.LTMTokens - st.LastKnownLTM
	} else {
		// Uncalibrated, or a history that is not the calibrated one (client
		// rewrote it): estimate from scratch.
		expected = p.inputTokens() + p.b.Overhead + p.in.LTMTokens
	}
	p.expected = expected
	if !p.calibrated {
		return expected*3 <= p.b.MaxInput*2 // × 1.5 safety factor
	}
	return expected <= p.b.MaxInput
}

// inputTokens is the estimate of all input messages (memoised).
func (p *plan) inputTokens() int {
	if p.total < 0 {
		p.total = EstimateMessages(p.msgs)
	}
	return p.total
}

// windowValid checks that a recorded window still describes this history.
func (p *plan) windowValid(w Window) bool {
	return w.Count > 0 && w.Count <= p.n && w.Start < w.Count &&
		p.msgs[w.Count-1].ID == w.LastID && p.msgs[w.Start].ID == w.StartID
}

// baseAt returns message i deduplicated and cleaned, with its estimate.
// Messages are processed newest first (dedup needs the later ones).
func (p *plan) baseAt(i int) *proc {
	if p.base == nil {
		p.base = make([]proc, 0, min(p.n, 256))
	}
	for p.lo > i {
		p.lo--
		j := p.lo
		m := p.msgs[j]
		blocks := m.Blocks
		if reps := p.dd.feed(j); reps != nil {
			blocks = make([]msg.Block, len(m.Blocks))
			copy(blocks, m.Blocks)
			for _, r := range reps {
				b := &blocks[r.block]
				*b = msg.Block{Type: msg.TypeToolResult, ToolID: b.ToolID, Output: r.text, IsError: b.IsError, Modified: true}
			}
		}
		changed := len(blocks) > 0 && &blocks[0] != &m.Blocks[0]
		if cleaned := cleanBlocks(blocks); cleaned != nil {
			blocks, changed = cleaned, true
		}
		if changed {
			m = withBlocks(m, blocks)
		}
		p.base = append(p.base, proc{m: m, est: EstimateMessage(&m), done: true})
	}
	return &p.base[p.n-1-i]
}

// strippedAt returns message i (< ct) with its tool outputs stripped.
func (p *plan) strippedAt(i int) *proc {
	k := p.ct - 1 - i
	for len(p.strip) <= k {
		p.strip = append(p.strip, proc{})
	}
	s := &p.strip[k]
	if !s.done {
		base := p.baseAt(i)
		s.m, s.est, s.done = base.m, base.est, true
		if blocks := stripBlocks(p.msgs, i, base.m.Blocks); blocks != nil {
			s.m = withBlocks(base.m, blocks)
			s.est = EstimateMessage(&s.m)
		}
	}
	return s
}

// currentTurnTokens is the estimate of the (cleaned) current turn.
func (p *plan) currentTurnTokens() int {
	if !p.hasCT {
		for i := p.n - 1; i >= p.ct; i-- {
			p.ctTok += p.baseAt(i).est
		}
		p.hasCT = true
	}
	return p.ctTok
}

// at returns message i as a layer presents it: stripped when strip is on,
// i is before the current turn and more than protectEnd messages from the
// end; else deduplicated and cleaned.
func (p *plan) at(i int, strip bool, protectEnd int) *proc {
	if strip && i < p.ct && p.n-i > protectEnd {
		return p.strippedAt(i)
	}
	return p.baseAt(i)
}

// tryFit is layers 1–3: the prefix within distBudget, the current turn and
// then older messages, newest first, within rawBudget. Layer 1 first tries
// the pinned window. An uncalibrated result must also pass the 1.5 safety
// factor against the input ceiling.
//
// Deviation: messages are counted as they will be sent — deduplicated,
// cleaned and, at layers 2–3, stripped. The reference sized the window with
// the unstripped estimates and stripped afterwards, so stripping never let a
// layer hold more history.
func (p *plan) tryFit(layer int, pre prefix, distBudget, rawBudget int, strip bool, protectEnd int) (Result, bool) {
	if len(pre.msgs) > 0 && pre.tokens > distBudget {
		return Result{}, false
	}
	ctTok := p.currentTurnTokens()
	if ctTok > rawBudget {
		return Result{}, false
	}
	cut, rawTok := -1, 0
	fill := rawBudget
	if layer == 1 {
		keep, trigger := p.recutPolicy(rawBudget)
		if tok, ok := p.pinnedWindow(trigger); ok {
			cut, rawTok = p.st.Pin.Index, tok
		} else if !p.postIdle {
			// A re-cut, or a first cut past the window: keep the cost
			// optimum's share and let the pinned window grow from there.
			// The post-idle turn fills its own (20%) budget.
			fill = keep
		}
	}
	if cut < 0 {
		cut, rawTok = p.ct, ctTok
		for i := p.ct - 1; i >= 0; i-- {
			e := p.at(i, strip, protectEnd).est
			if rawTok+e > fill {
				break
			}
			rawTok += e
			cut = i
		}
		cut, rawTok = p.align(cut, rawTok, len(pre.msgs) > 0, strip, protectEnd)
		if layer == 1 {
			p.st.Pin = &Pin{Index: cut, ID: p.msgs[cut].ID}
		}
	}
	if !p.calibrated && (pre.tokens+rawTok)*3 > p.b.MaxInput*2 {
		return Result{}, false
	}
	p.cut = cut
	out := p.assemble(pre, cut, func(i int) *proc { return p.at(i, strip, protectEnd) })
	return Result{
		Messages:        out,
		Layer:           layer,
		UrgentDistill:   layer >= 2 || (len(pre.msgs) == 0 && cut > 0),
		PrefixBytes:     pre.bytes(),
		DistilledTokens: pre.tokens,
	}, true
}

// align keeps a window without prefix from starting with an assistant
// message (the API wants a user message first): leading assistant messages
// older than the current turn are dropped from it.
func (p *plan) align(cut, tok int, hasPrefix, strip bool, protectEnd int) (int, int) {
	for !hasPrefix && cut < p.ct && p.msgs[cut].Role == msg.RoleAssistant {
		tok -= p.at(cut, strip, protectEnd).est
		cut++
	}
	return cut, tok
}

// emergency is layer 4: the last 2 distillations, the current turn's
// protected part (cleaned, never stripped) and older messages newest first
// within clamp(25% of usable, 2,000, 8,000). It always returns.
//
// Deviation: the reference sent the whole current turn however long, so a
// long autonomous chain failed on every retry; here the current turn is
// bounded (protectedStart) and its older steps are history like the rest.
func (p *plan) emergency(pre prefix) Result {
	tail := min(max(pct(p.b.Usable, layer4TailPct), layer4TailMin), layer4TailMax)
	remaining := max(tail-p.currentTurnTokens(), 0)
	cut, older := p.ct, 0
	for i := p.ct - 1; i >= 0; i-- {
		e := p.baseAt(i).est
		if older+e > remaining {
			break
		}
		older += e
		cut = i
	}
	cut, _ = p.align(cut, older, len(pre.msgs) > 0, false, 0)
	p.cut = cut
	out := p.assemble(pre, cut, p.baseAt)
	return Result{Messages: out, Layer: 4, UrgentDistill: true, PrefixBytes: pre.bytes(), DistilledTokens: pre.tokens}
}

// assemble builds prefix + messages [cut, n), repairs pairing, and makes sure
// the window starts with a user message.
func (p *plan) assemble(pre prefix, cut int, get func(int) *proc) []msg.Message {
	out := make([]msg.Message, 0, len(pre.msgs)+p.n-cut+2)
	out = append(out, pre.msgs...)
	for i := cut; i < p.n; i++ {
		out = append(out, get(i).m)
	}
	out = fixPairs(out, true)
	if len(out) > 0 && out[0].Role == msg.RoleAssistant {
		ph := syntheticText("lore-placeholder-user", msg.RoleUser, EmptyPlaceholder)
		out = append([]msg.Message{ph}, out...)
	}
	if k := len(pre.msgs); k > 0 && len(out) > k && out[k].Role == msg.RoleAssistant {
		// The API merges consecutive assistant messages into one turn. A
		// window that starts with an assistant message would merge into the
		// prefix's, and when that is the final assistant turn (the window
		// holds only the last step), thinking would have to come first and
		// the prefix's text would be there instead: the API refuses it.
		ph := syntheticText("lore-placeholder-window", msg.RoleUser, EmptyPlaceholder)
		out = append(out[:k:k], append([]msg.Message{ph}, out[k:]...)...)
	}
	return out
}
