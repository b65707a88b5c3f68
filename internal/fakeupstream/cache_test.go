package fakeupstream

import (
	"strings"
	"testing"
	"time"
)

type usage struct{ input, read, creation, c5m, c1h int }

func cacheUsageOf(t *testing.T, r response) usage {
	t.Helper()
	if r.Status != 200 {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	u := r.json(t)["usage"].(map[string]any)
	cc := u["cache_creation"].(map[string]any)
	n := func(m map[string]any, k string) int { return int(m[k].(float64)) }
	return usage{n(u, "input_tokens"), n(u, "cache_read_input_tokens"), n(u, "cache_creation_input_tokens"),
		n(cc, "ephemeral_5m_input_tokens"), n(cc, "ephemeral_1h_input_tokens")}
}

func text(s string, ttl ...string) map[string]any {
	b := map[string]any{"type": "text", "text": s}
	if len(ttl) > 0 {
		cc := map[string]any{"type": "ephemeral"}
		if ttl[0] != "" {
			cc["ttl"] = ttl[0]
		}
		b["cache_control"] = cc
	}
	return b
}

func msg(role string, blocks ...any) map[string]any {
	return map[string]any{"role": role, "content": blocks}
}

var (
	sysText = strings.Repeat("s", 400) // 100 tokens
	blockA  = strings.Repeat("a", 100)
	blockB  = strings.Repeat("b", 20)
	blockC  = strings.Repeat("c", 40)
	blockD  = strings.Repeat("d", 8)
)

// turn1 = system S (bp) + user [A (bp), B]: chars 400 | 500 | 520.
func turn1(sysTTL string) map[string]any {
	return map[string]any{"model": "claude-sonnet-4-5", "max_tokens": 64,
		"system":   []any{text(sysText, sysTTL)},
		"messages": []any{msg("user", text(blockA, ""), text(blockB))}}
}

// turn2 appends assistant "ok (turn 1)" and user [C (bp), D]: chars 400 | 500 | 520 | 531 | 571 | 579.
func turn2(sysTTL string) map[string]any {
	return map[string]any{"model": "claude-sonnet-4-5", "max_tokens": 64,
		"system": []any{text(sysText, sysTTL)},
		"messages": []any{msg("user", text(blockA), text(blockB)), msg("assistant", text("ok (turn 1)")),
			msg("user", text(blockC, ""), text(blockD))}}
}

func send(t *testing.T, s *Server, body map[string]any, headers ...string) usage {
	t.Helper()
	b := mustJSON(t, body)
	u := cacheUsageOf(t, post(t, s, "/v1/messages", b, headers...))
	if total := u.input + u.read + u.creation; total != EstimateTokens([]byte(b)) {
		t.Fatalf("input+read+creation = %d, EstimateTokens = %d", total, EstimateTokens([]byte(b)))
	}
	if u.c5m+u.c1h != u.creation {
		t.Fatalf("creation split %+v", u)
	}
	return u
}

func TestCacheSecondTurnReadsFirst(t *testing.T) {
	s, _ := newServer(t, Options{})
	// Turn 1: nothing cached; written up to A = ceil(500/4) = 125; B after it: 130-125 = 5.
	if u := send(t, s, turn1("")); u != (usage{input: 5, read: 0, creation: 125, c5m: 125}) {
		t.Fatalf("turn 1 %+v", u)
	}
	// Turn 2: the prefix up to A is read (125); written up to C = ceil(571/4)=143 → 18; D: 145-143 = 2.
	if u := send(t, s, turn2("")); u != (usage{input: 2, read: 125, creation: 18, c5m: 18}) {
		t.Fatalf("turn 2 %+v", u)
	}
	// The same turn again reads everything up to C.
	if u := send(t, s, turn2("")); u != (usage{input: 2, read: 143}) {
		t.Fatalf("turn 2 again %+v", u)
	}
	// Another credential has its own cache.
	if u := send(t, s, turn2(""), "x-api-key: "+keyB); u != (usage{input: 2, creation: 143, c5m: 143}) {
		t.Fatalf("key B %+v", u)
	}
	// Changing tools invalidates everything.
	withTool := turn2("")
	withTool["tools"] = []any{map[string]any{"name": "bash", "input_schema": map[string]any{"type": "object"}}}
	// tool: 4 + 17 chars; C now at 592 → 148; total 600 → 150.
	if u := send(t, s, withTool); u != (usage{input: 2, creation: 148, c5m: 148}) {
		t.Fatalf("tools changed %+v", u)
	}
}

func TestCacheTTL(t *testing.T) {
	s, clk := newServer(t, Options{})
	send(t, s, turn1(""))
	clk.advance(4 * time.Minute)
	if u := send(t, s, turn1("")); u.read != 125 { // refreshes the 5m entry
		t.Fatalf("after 4m %+v", u)
	}
	clk.advance(4 * time.Minute)
	if u := send(t, s, turn1("")); u.read != 125 {
		t.Fatalf("after 8m (refreshed at 4m) %+v", u)
	}
	clk.advance(5*time.Minute + time.Second)
	if u := send(t, s, turn1("")); u != (usage{input: 5, creation: 125, c5m: 125}) {
		t.Fatalf("expired %+v", u)
	}
}

func TestCacheOneHourSplit(t *testing.T) {
	s, clk := newServer(t, Options{})
	// System written for 1h (100), A for 5m (125-100 = 25).
	if u := send(t, s, turn1("1h")); u != (usage{input: 5, creation: 125, c5m: 25, c1h: 100}) {
		t.Fatalf("turn 1 %+v", u)
	}
	clk.advance(10 * time.Minute)
	// The 5m entry at A expired, the 1h system entry did not.
	if u := send(t, s, turn2("1h")); u != (usage{input: 2, read: 100, creation: 43, c5m: 43}) {
		t.Fatalf("turn 2 %+v", u)
	}
}

func TestCacheLookback(t *testing.T) {
	s, _ := newServer(t, Options{})
	send(t, s, turn1(""))
	// 22 assistant blocks push C to position 25; A (position 1) is outside
	// the 20-block lookback, so only the system breakpoint is read.
	var many []any
	for i := 0; i < 22; i++ {
		many = append(many, text("x"))
	}
	body := map[string]any{"model": "claude-sonnet-4-5", "max_tokens": 64, "system": []any{text(sysText, "")},
		"messages": []any{msg("user", text(blockA), text(blockB)), msg("assistant", many...), msg("user", text(blockC, ""))}}
	// chars: 400+100+20+22+40 = 582 → 146.
	if u := send(t, s, body); u != (usage{read: 100, creation: 46, c5m: 46}) {
		t.Fatalf("%+v", u)
	}
}

func TestCacheAutomaticAndStringContent(t *testing.T) {
	s, _ := newServer(t, Options{})
	// Top-level cache_control marks the last block; string content equals one text block.
	b1 := map[string]any{"model": "m", "max_tokens": 8, "cache_control": map[string]any{"type": "ephemeral"},
		"system": sysText, "messages": []any{map[string]any{"role": "user", "content": blockA}}}
	if u := send(t, s, b1); u != (usage{creation: 125, c5m: 125}) {
		t.Fatalf("turn 1 %+v", u)
	}
	b2 := map[string]any{"model": "m", "max_tokens": 8, "system": []any{text(sysText)},
		"messages": []any{msg("user", text(blockA)), msg("assistant", text("ok (turn 1)")), msg("user", text(blockC, ""))}}
	// read 125; C at 551 → 138.
	if u := send(t, s, b2); u != (usage{read: 125, creation: 13, c5m: 13}) {
		t.Fatalf("turn 2 %+v", u)
	}
	// A different model does not share the cache.
	b2["model"] = "other"
	if u := send(t, s, b2); u.read != 0 {
		t.Fatalf("other model %+v", u)
	}
}

func TestCacheStreamingUsage(t *testing.T) {
	s, _ := newServer(t, Options{})
	send(t, s, turn1(""))
	body := turn2("")
	body["stream"] = true
	r := post(t, s, "/v1/messages", mustJSON(t, body))
	if !strings.Contains(r.Body, `"usage":{"input_tokens":2,"cache_creation_input_tokens":18,"cache_read_input_tokens":125,"cache_creation":{"ephemeral_5m_input_tokens":18,"ephemeral_1h_input_tokens":0},"output_tokens":1,"service_tier":"standard"}`) ||
		!strings.Contains(r.Body, `"usage":{"input_tokens":2,"cache_creation_input_tokens":18,"cache_read_input_tokens":125,"output_tokens":3}`) {
		t.Fatalf("stream:\n%s", r.Body)
	}
}
