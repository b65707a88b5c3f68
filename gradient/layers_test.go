package gradient

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/caddy-lore/caddy-lore/msg"
)

// session is a Claude-Code-shaped history: per turn a prompt, a tool call,
// its result (outLen chars, unique) and a final answer.
func session(turns, outLen int) *conv {
	c := &conv{}
	for i := 0; i < turns; i++ {
		c.user(fmt.Sprintf("prompt %d: please look at file %d", i, i))
		c.tool(idf("toolu_", i), "Bash", map[string]any{"command": fmt.Sprintf("cat f%d.go", i)}, fmt.Sprintf("output %d: %s", i, text(outLen)))
		c.asst(fmt.Sprintf("done with %d", i))
	}
	return c
}

// ongoing adds an unfinished current turn: a prompt and k tool steps.
func ongoing(c *conv, tag string, k, outLen int) *conv {
	c.user("new prompt " + tag)
	for i := 0; i < k; i++ {
		c.tool(idf("toolu_"+tag+"_", i), "Bash", map[string]any{"command": "make " + tag}, fmt.Sprintf("%s step %d: %s", tag, i, text(outLen)))
	}
	return c
}

// calibrateExactly calibrates so the overhead stays 15,000.
func calibrateExactly(st *State, r Result) {
	Calibrate(st, r.Estimate+FirstTurnOverhead)
}

// docs/context-window.md, Budgets and estimates: an uncalibrated Sonnet 4 session whose estimate
// (messages + 15,000) × 1.5 ≤ 184,000 passes through at layer 0, byte for
// byte, with no prefix, dedup or cleaning.
func TestLayer0Passthrough(t *testing.T) {
	dup := text(1_000)
	c := (&conv{}).user("<system-reminder>note</system-reminder>\n\n\n\nhello")
	c.tool("toolu_a", "Bash", map[string]any{"command": "ls"}, dup)
	c.tool("toolu_b", "Bash", map[string]any{"command": "ls"}, dup)
	c.asst("ok").user("next")
	in := c.msgs(t)
	before := encode(t, in)
	r := Transform(&State{}, Input{Model: "claude-sonnet-4", Messages: in, Distillations: rows(3)})
	mustEqual(t, "layer", r.Layer, 0)
	mustEqual(t, "bytes", encode(t, r.Messages), before)
	mustEqual(t, "same slice", &r.Messages[0], &in[0])
	mustEqual(t, "no prefix", len(r.PrefixBytes), 0)
	mustEqual(t, "urgent", r.UrgentDistill, false)
	mustEqual(t, "input untouched", encode(t, in), before)

	// The boundary: a single message of estimate 107,666 passes
	// ((107,666 + 15,000) × 1.5 = 183,999), one more token does not.
	for _, tc := range []struct {
		chars int
		layer bool
	}{{322_938, false}, {322_939, true}} {
		m := (&conv{}).user(strings.Repeat("x", tc.chars)).msgs(t)
		r := Transform(&State{}, Input{Model: "claude-sonnet-4", Messages: m})
		mustEqual(t, fmt.Sprintf("%d chars above layer 0", tc.chars), r.Layer > 0, tc.layer)
	}

	// Only the pending-tool sanitising applies at layer 0.
	c = (&conv{}).user("go").call("toolu_p", "Bash", map[string]any{}).user("what happened?")
	r = Transform(&State{}, Input{Model: "claude-sonnet-4", Messages: c.msgs(t)})
	mustEqual(t, "layer", r.Layer, 0)
	w := wire(t, r.Messages)
	mustEqual(t, "messages", len(w), 3)
	blocks := w[2]["content"].([]any)
	res := blocks[0].(map[string]any)
	mustEqual(t, "error result", res["content"].(string), InterruptedText)
	mustEqual(t, "is_error", res["is_error"].(bool), true)
	mustEqual(t, "text kept after", blocks[1].(map[string]any)["text"].(string), "what happened?")
}

// Calibrated layer 0: last input + new messages + LTM change.
func TestLayer0Calibrated(t *testing.T) {
	c := session(10, 300)
	m := c.msgs(t)
	st := &State{}
	r := Transform(st, Input{Limits: sonnet4, Messages: m, LTMTokens: 1_000})
	mustEqual(t, "layer", r.Layer, 0)
	Calibrate(st, 183_000)
	// 183,000 + the new message's 22 + LTM change 1,000 > 184,000.
	c.user("more")
	r = Transform(st, Input{Limits: sonnet4, Messages: c.msgs(t), LTMTokens: 2_000})
	if r.Layer == 0 {
		t.Fatal("expected compression: calibrated input + new + LTM delta exceeds 184,000")
	}
	st2 := &State{}
	Transform(st2, Input{Limits: sonnet4, Messages: m, LTMTokens: 1_000})
	Calibrate(st2, 183_000)
	r = Transform(st2, Input{Limits: sonnet4, Messages: c.msgs(t), LTMTokens: 1_000})
	mustEqual(t, "183,000 + 22 fits", r.Layer, 0)
}

// docs/context-window.md, Layers (minimum layer): the layer is sticky (1–3) while calibrated and the
// conversation does not shrink.
func TestStickyLayer(t *testing.T) {
	c := session(3, 100).user("next")
	m := c.msgs(t)
	st := calibratedState(2, len(m)-1)
	r := Transform(st, Input{Limits: sonnet4, Messages: m})
	mustEqual(t, "sticky layer", r.Layer, 2)
	mustEqual(t, "urgent", r.UrgentDistill, true)

	st = calibratedState(2, len(m)-1)
	st.LastLayerForced = true // an overflow retry forced layer 2: it sticks as 1
	r = Transform(st, Input{Limits: sonnet4, Messages: m})
	mustEqual(t, "forced layer sticks as 1", r.Layer, 1)

	st = calibratedState(2, len(m)+1) // the conversation shrank
	r = Transform(st, Input{Limits: sonnet4, Messages: m})
	mustEqual(t, "shrunk conversation", r.Layer, 0)

	st = calibratedState(2, len(m))
	st.LastKnownInput = 0 // not calibrated
	r = Transform(st, Input{Limits: sonnet4, Messages: m})
	mustEqual(t, "uncalibrated", r.Layer, 0)

	st = calibratedState(4, len(m)) // layer 4 is not sticky
	r = Transform(st, Input{Limits: sonnet4, Messages: m})
	mustEqual(t, "after layer 4", r.Layer, 0)

	st = &State{ForceMinLayer: 3}
	r = Transform(st, Input{Limits: sonnet4, Messages: m})
	mustEqual(t, "forced", r.Layer, 3)
	mustEqual(t, "one-shot", st.ForceMinLayer, 0)
	st.ForceNextLayer()
	mustEqual(t, "next layer up", st.ForceMinLayer, 4)
}

// docs/context-window.md, Idle work and post-idle compaction: after idle resume the turn skips layer 0
// with a raw budget of 20% of usable; the next one is back to 40%, and the
// pin keeps the window start while the window fits.
func TestPostIdleAndPin(t *testing.T) {
	c := session(100, 3_000)
	ongoing(c, "a", 1, 500)
	st := calibratedState(0, 0)
	st.IdleReset()
	m := c.msgs(t)
	r := Transform(st, Input{Limits: sonnet4, Messages: m, Distillations: rows(3)})
	mustEqual(t, "post-idle layer", r.Layer, 1)
	mustEqual(t, "post-idle flag consumed", r.PostIdle && !st.PostIdleCompact, true)
	mustEqual(t, "post-idle raw budget", r.RawBudget, 33_800)
	if r.RawTokens > 33_800 || r.RawTokens < 33_800-1_200 {
		t.Fatalf("raw tokens %d, want the newest messages filling ≤ 33,800", r.RawTokens)
	}
	start := st.Pin.ID
	prev := encode(t, r.Messages)
	calibrateExactly(st, r)

	moved, pinned, repinned := false, 0, 0
	for turn := 0; turn < 60 && repinned < 3; turn++ {
		c.asst("finished").user(fmt.Sprintf("turn %d", turn))
		c.tool(idf("toolu_x", turn), "Bash", map[string]any{"command": "go test"}, fmt.Sprintf("run %d %s", turn, text(3_000)))
		m = c.grow(t, m)
		in := Input{Limits: sonnet4, Messages: m, Distillations: rows(3)}
		before := *st
		keep, _ := newPlan(&before, &in, ComputeBudget(&before, sonnet4, 0)).recutPolicy(67_600)
		r = Transform(st, in)
		mustEqual(t, "sticky layer 1", r.Layer, 1)
		mustEqual(t, "raw budget back to 40%", r.RawBudget, 67_600)
		if r.RawTokens > 67_600 {
			t.Fatalf("raw tokens %d over budget", r.RawTokens)
		}
		cur := encode(t, r.Messages)
		switch st.Pin.ID {
		case start:
			// Pinned: the previous window is a byte prefix of this one.
			if !strings.HasPrefix(cur, strings.TrimSuffix(prev, "]")) {
				t.Fatalf("turn %d: pinned window changed bytes", turn)
			}
			mustEqual(t, "no bust while pinned", r.CacheBust, false)
			if moved {
				repinned++
			} else {
				pinned++
			}
		default:
			// A re-cut keeps the cost policy's share of the budget, leaving
			// room to grow pinned for the next turns (recut.go).
			if fill := keep; r.RawTokens > fill || r.RawTokens < fill-1_200 {
				t.Fatalf("re-cut filled %d tokens, want just under %d", r.RawTokens, fill)
			}
			mustEqual(t, "bust when the pin moves", r.CacheBust, true)
			if moved {
				t.Fatalf("turn %d: re-cut again after %d pinned turns; want headroom for at least 3", turn, repinned)
			}
			moved, start = true, st.Pin.ID
		}
		prev = cur
		calibrateExactly(st, r)
	}
	if !moved || pinned < 20 || repinned < 3 {
		t.Fatalf("pinned for %d turns, moved %v, then pinned for %d", pinned, moved, repinned)
	}
}

// Layer 1 keeps the current turn whole, the newest messages within 40%,
// and ties an empty prefix to urgent distillation when messages are lost.
func TestLayer1Window(t *testing.T) {
	c := ongoing(session(100, 3_000), "a", 3, 2_000)
	m := c.msgs(t)
	r := Transform(&State{ForceMinLayer: 1}, Input{Limits: sonnet4, Messages: m})
	mustEqual(t, "layer", r.Layer, 1)
	mustEqual(t, "urgent without prefix", r.UrgentDistill, true)
	mustEqual(t, "starts with a user message", r.Messages[0].Role, msg.RoleUser)
	last := r.Messages[len(r.Messages)-7:]
	for i, id := range ids(m[len(m)-7:]) {
		mustEqual(t, "current turn kept", last[i].ID, id)
	}
	first := indexOf(m, r.Messages[0].ID)
	if first <= 0 {
		t.Fatalf("window should drop old messages, starts at %d", first)
	}
	if EstimateMessages(m[first-1:]) <= 67_600 && m[first-1].Role == msg.RoleUser {
		t.Fatal("window could have held one more message")
	}

	r = Transform(&State{ForceMinLayer: 1}, Input{Limits: sonnet4, Messages: m, Distillations: rows(2)})
	mustEqual(t, "urgent with prefix", r.UrgentDistill, false)
	mustEqual(t, "prefix first", r.Messages[0].ID, PrefixUserID)
	mustEqual(t, "distilled tokens", r.DistilledTokens, EstimateMessages(r.Messages[:2]))
}

// Layers 2 and 3: stripping and the distillation selection.
func TestLayers2And3(t *testing.T) {
	c := ongoing(session(30, 3_000), "a", 1, 2_000)
	m := c.msgs(t)
	n := len(m)
	r := Transform(&State{ForceMinLayer: 2}, Input{Limits: sonnet4, Messages: m, Distillations: rows(8)})
	mustEqual(t, "layer", r.Layer, 2)
	mustEqual(t, "urgent", r.UrgentDistill, true)
	w := wire(t, r.Messages)
	for i := 2; i < len(w); i++ {
		idx := n - (len(w) - i) // input index
		for _, blk := range contentBlocks(w[i]) {
			if blk["type"] != "tool_result" {
				continue
			}
			out := blk["content"].(string)
			stripped := strings.HasPrefix(out, "[output omitted — Bash: 1 lines")
			protected := idx >= n-4
			mustEqual(t, fmt.Sprintf("message %d stripped", idx), stripped, !protected)
		}
	}
	if !strings.Contains(string(r.PrefixBytes), "observation 0") {
		t.Fatal("layer 2 keeps all distillations")
	}

	r = Transform(&State{ForceMinLayer: 3}, Input{Limits: sonnet4, Messages: m, Distillations: rows(8)})
	mustEqual(t, "layer", r.Layer, 3)
	mustEqual(t, "urgent", r.UrgentDistill, true)
	p := string(r.PrefixBytes)
	if strings.Contains(p, "observation 2") || !strings.Contains(p, "observation 3") || !strings.Contains(p, "observation 7") {
		t.Fatalf("layer 3 keeps the last 5 distillations: %s", p)
	}
	ct := currentTurnStart(m)
	w = wire(t, r.Messages)
	for i := 2; i < len(w); i++ {
		idx := n - (len(w) - i)
		for _, blk := range contentBlocks(w[i]) {
			if blk["type"] == "tool_result" {
				stripped := strings.HasPrefix(blk["content"].(string), "[output omitted")
				mustEqual(t, fmt.Sprintf("layer 3 message %d stripped", idx), stripped, idx < ct)
			}
		}
	}
}

// Natural escalation: when the newest step alone (a call and a result that
// are never cut) is larger than 40% of usable the turn goes to layer 2, when
// it is larger than 55% to layer 4.
func TestEscalation(t *testing.T) {
	base := session(60, 3_000)
	st := &State{}
	c := ongoing(base.clone(), "big", 1, 220_000) // ~73K tokens in one result
	r := Transform(st, Input{Limits: sonnet4, Messages: c.msgs(t), Distillations: rows(2)})
	mustEqual(t, "layer", r.Layer, 2)
	c = ongoing(base.clone(), "huge", 1, 300_000) // ~100K
	r = Transform(&State{}, Input{Limits: sonnet4, Messages: c.msgs(t), Distillations: rows(2)})
	mustEqual(t, "layer", r.Layer, 4)
	mustEqual(t, "urgent", r.UrgentDistill, true)
}

// Layer 4 always returns something that fits: the last 2 distillations, the
// whole current turn and a tail of at most clamp(25%, 2,000, 8,000).
func TestLayer4AlwaysFits(t *testing.T) {
	c := ongoing(session(200, 3_000), "a", 2, 1_000)
	m := c.msgs(t)
	st := &State{ForceMinLayer: 4}
	r := Transform(st, Input{Limits: sonnet4, Messages: m, Distillations: rows(6)})
	mustEqual(t, "layer", r.Layer, 4)
	if r.RawTokens > 8_000 {
		t.Fatalf("tail %d over 8,000", r.RawTokens)
	}
	p := string(r.PrefixBytes)
	if strings.Contains(p, "observation 3") || !strings.Contains(p, "observation 4") || !strings.Contains(p, "observation 5") {
		t.Fatalf("layer 4 keeps the last 2 distillations: %s", p)
	}
	ct := currentTurnStart(m)
	if i := indexOf(r.Messages, m[ct].ID); i < 0 || len(r.Messages)-i != len(m)-ct {
		t.Fatal("current turn not whole")
	}
	if r.Estimate+FirstTurnOverhead > 184_000 {
		t.Fatal("layer 4 does not fit")
	}

	// A chain longer than the whole window is not one untouchable current
	// turn: layer 1 cuts inside it, keeps its newest steps whole and pairs
	// every call in the window with its result.
	c = ongoing(session(2, 100), "chain", 200, 3_000)
	m = c.msgs(t)
	r = Transform(&State{}, Input{Limits: sonnet4, Messages: m, Distillations: rows(1)})
	mustEqual(t, "layer", r.Layer, 1)
	if r.Estimate+FirstTurnOverhead > 184_000 {
		t.Fatalf("estimate %d + overhead over 184,000", r.Estimate)
	}
	w := wire(t, r.Messages)
	if !strings.Contains(encode(t, r.Messages[len(r.Messages)-4:]), "chain step 199:") {
		t.Fatal("the newest step is not in the window")
	}
	uses := map[string]bool{}
	for _, mm := range w {
		for _, blk := range contentBlocks(mm) {
			switch blk["type"] {
			case "tool_use":
				uses[blk["id"].(string)] = true
			case "tool_result":
				if !uses[blk["tool_use_id"].(string)] {
					t.Fatalf("a result without its call: %v", blk["tool_use_id"])
				}
				if strings.HasPrefix(blk["content"].(string), "[output omitted") {
					t.Fatal("layer 1 strips nothing")
				}
			}
		}
	}
	if strings.Contains(encode(t, r.Messages), "chain step 0:") {
		t.Fatal("the chain's oldest step should be cut")
	}
}

func contentBlocks(m map[string]any) []map[string]any {
	arr, _ := m["content"].([]any)
	out := make([]map[string]any, 0, len(arr))
	for _, b := range arr {
		out = append(out, b.(map[string]any))
	}
	return out
}

func TestCurrentTurnStart(t *testing.T) {
	c := (&conv{}).user("a").asst("answer")
	c.user("b").call("t1", "Bash", map[string]any{}).result("t1", "x").call("t2", "Bash", map[string]any{}).result("t2", "y")
	mustEqual(t, "chain after a prompt", currentTurnStart(c.msgs(t)), 2)
	c = (&conv{}).user("a").call("t1", "Bash", map[string]any{}).result("t1", "x").user("b")
	mustEqual(t, "unfinished chain joins", currentTurnStart(c.msgs(t)), 0)
	c = (&conv{}).asst("hello")
	mustEqual(t, "no user message", currentTurnStart(c.msgs(t)), 0)
	mustEqual(t, "empty", currentTurnStart(nil), 0)
}

// Sessions share nothing: concurrent transforms of separate states give the
// same bytes (go test -race).
func TestConcurrentSessions(t *testing.T) {
	m := ongoing(session(120, 2_000), "a", 2, 1_000).msgs(t)
	want := encode(t, Transform(&State{ForceMinLayer: 2}, Input{Limits: sonnet4, Messages: m, Distillations: rows(4)}).Messages)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := Transform(&State{ForceMinLayer: 2}, Input{Limits: sonnet4, Messages: m, Distillations: rows(4)})
			if got := encode(t, r.Messages); got != want {
				t.Error("concurrent transform differs")
			}
		}()
	}
	wg.Wait()
}
