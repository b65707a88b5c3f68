package gradient

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestLimitsFor(t *testing.T) {
	cases := []struct {
		model  string
		beta1M bool
		want   Limits
	}{
		{"claude-sonnet-4-20250514", false, Limits{200_000, 16_000}},
		{"claude-sonnet-4-20250514", true, Limits{1_000_000, 16_000}},
		{"claude-opus-4-20250514", false, Limits{200_000, 32_000}},
		{"claude-opus-4-1-20250805", false, Limits{200_000, 32_000}},
		{"claude-opus-4-5", false, Limits{200_000, 64_000}},
		{"claude-opus-4-6", false, Limits{1_000_000, 128_000}},
		{"claude-opus-4-7", false, Limits{1_000_000, 128_000}},
		{"claude-sonnet-4-5-20250929", false, Limits{200_000, 64_000}},
		{"claude-sonnet-4-5-20250929", true, Limits{1_000_000, 64_000}},
		{"claude-sonnet-4-5[1m]", false, Limits{1_000_000, 64_000}},
		{"claude-sonnet-4-6", false, Limits{1_000_000, 64_000}},
		{"claude-haiku-4-5-20251001", false, Limits{200_000, 64_000}},
		{"claude-haiku-4-5", true, Limits{200_000, 64_000}}, // no 1M offer
		{"us.anthropic.claude-sonnet-4-5-20250929-v1:0", false, Limits{200_000, 64_000}},
		{"Claude-Opus-4-6", false, Limits{1_000_000, 128_000}},
		{"claude-3-5-haiku-20241022", false, Limits{200_000, 8_192}},
		{"gpt-4o", false, Limits{200_000, 8_192}},
		{"", false, Limits{200_000, 8_192}},
	}
	for _, c := range cases {
		if got := LimitsFor(c.model, c.beta1M); got != c.want {
			t.Errorf("LimitsFor(%q, %v) = %+v, want %+v", c.model, c.beta1M, got, c.want)
		}
	}
	if !HasBeta1M("oauth-2025-04-20, context-1m-2025-08-07") || HasBeta1M("oauth-2025-04-20") || !HasBeta1M("x", "context-1m-2025-08-07") {
		t.Fatal("HasBeta1M")
	}
}

// The budgets of docs/context-window.md (Budgets and estimates, Layers) for
// Sonnet 4's first turn, as the prior art computes them.
func TestBudgetsWorkedExample(t *testing.T) {
	st := &State{} // first turn: uncalibrated, overhead 15,000, no LTM
	usable, distilled, raw, maxInput := budgets(st, LimitsFor("claude-sonnet-4", false), 0)
	mustEqual(t, "sonnet usable", usable, 169_000)
	mustEqual(t, "sonnet distilled", distilled, 42_250)
	mustEqual(t, "sonnet raw", raw, 67_600)
	mustEqual(t, "sonnet maxInput", maxInput, 184_000)
	b := ComputeBudget(st, LimitsFor("claude-sonnet-4", false), 0)
	mustEqual(t, "sonnet post-idle raw", b.PostIdleRaw, 33_800)
	mustEqual(t, "sonnet LTM budget", LTMBudget(st, LimitsFor("claude-sonnet-4", false)), 8_450)

	usable, _, _, maxInput = budgets(st, LimitsFor("claude-opus-4", false), 0)
	mustEqual(t, "opus usable", usable, 153_000)
	mustEqual(t, "opus maxInput", maxInput, 168_000)

	// Output reserve is capped at 32,000; LTM and calibrated overhead count.
	st = &State{Overhead: 9_000, OverheadSamples: 2}
	usable, _, _, maxInput = budgets(st, LimitsFor("claude-opus-4-6", false), 1_000)
	mustEqual(t, "opus 4.6 maxInput", maxInput, 968_000)
	mustEqual(t, "opus 4.6 usable", usable, 958_000)
	// A calibrated overhead of 0 is a real value, not "uncalibrated".
	st = &State{Overhead: 0, OverheadSamples: 1}
	usable, _, _, _ = budgets(st, sonnet4, 0)
	mustEqual(t, "zero overhead usable", usable, 184_000)
	// Usable never goes negative.
	usable, distilled, raw, _ = budgets(&State{}, Limits{Context: 20_000, MaxOutput: 8_000}, 0)
	mustEqual(t, "tiny usable", usable+distilled+raw, 0)
}

func TestCalibrateEMA(t *testing.T) {
	st := &State{LastTransformEstimate: 10_000, LastWindow: Window{Count: 7, LTM: 300}}
	Calibrate(st, 30_000)
	mustEqual(t, "first sample taken as is", st.Overhead, 20_000)
	mustEqual(t, "known input", st.LastKnownInput, 30_000)
	mustEqual(t, "known count", st.LastKnownMessageCount, 7)
	mustEqual(t, "known ltm", st.LastKnownLTM, 300)
	mustEqual(t, "calibrated", st.Calibrated(), true)

	st.LastTransformEstimate = 10_000
	Calibrate(st, 20_000) // sample 10,000
	mustEqual(t, "EMA", st.Overhead, 17_000)

	st.LastTransformEstimate = 40_000
	Calibrate(st, 30_000) // sample clamps to 0: round(0.7 × 17,000) = 11,900
	mustEqual(t, "EMA with clamped sample", st.Overhead, 11_900)

	// Rounding is half up, as JavaScript's Math.round: 0.7 × 5 = 3.5 → 4.
	st = &State{Overhead: 5, OverheadSamples: 1, LastTransformEstimate: 1}
	Calibrate(st, 1)
	mustEqual(t, "half up", st.Overhead, 4)

	// No transform estimate yet: no overhead sample, but the input is known.
	st = &State{}
	Calibrate(st, 12_345)
	mustEqual(t, "no sample", st.OverheadSamples, 0)
	mustEqual(t, "still 15,000", st.EffectiveOverhead(), FirstTurnOverhead)
	mustEqual(t, "known input", st.LastKnownInput, 12_345)
}

func TestStateJSONRoundTrip(t *testing.T) {
	c := &conv{}
	c.user("start")
	for i := 0; i < 40; i++ {
		c.tool(idf("t", i), "Bash", map[string]any{"command": "ls"}, text(3_000))
	}
	c.user("go on")
	st := &State{ForceMinLayer: 1}
	in := Input{Limits: sonnet4, Messages: c.msgs(t), Distillations: rows(3)}
	r1 := Transform(st, in)
	Calibrate(st, 60_000)

	raw, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	var loaded State
	if err := json.Unmarshal(raw, &loaded); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&loaded, st) {
		t.Fatalf("round trip changed the state:\n%+v\n%+v", loaded, *st)
	}
	r2 := Transform(st, in)
	r3 := Transform(&loaded, in)
	mustEqual(t, "same layer", r3.Layer, r2.Layer)
	mustEqual(t, "same bytes", encode(t, r3.Messages), encode(t, r2.Messages))
	mustEqual(t, "layer 1 kept", r1.Layer, 1)
	if len(raw) > 2_000 {
		t.Fatalf("state is %d bytes, want it compact", len(raw))
	}
}

func TestEstimate(t *testing.T) {
	c := (&conv{}).user("abcd").tool("toolu_1", "Bash", map[string]any{"c": 1}, "12345")
	m := c.msgs(t)
	mustEqual(t, "text message", EstimateMessage(&m[0]), 20+2)
	// tool_use: name "Bash" + input {"c":1} = 4 + 7 chars → 4, + 50.
	mustEqual(t, "tool_use message", EstimateMessage(&m[1]), 20+4+50)
	mustEqual(t, "tool_result message", EstimateMessage(&m[2]), 20+2+50)
	mustEqual(t, "sum", EstimateMessages(m), 22+74+72)
	mustEqual(t, "ceil", EstimateText("abcdefg"), 3)
}

// Bust tracking and the /compact hint (docs/context-window.md, After the answer).
func TestBookkeeping(t *testing.T) {
	m := ongoing(session(60, 3_000), "a", 1, 100).msgs(t)
	st := &State{}
	for i := 1; i <= 4; i++ {
		st.ForceMinLayer = 2
		r := Transform(st, Input{Limits: sonnet4, Messages: m})
		mustEqual(t, "layer", r.Layer, 2)
		mustEqual(t, "hint on the third turn only", r.CompactHint, i == 3)
		mustEqual(t, "same window, no bust", r.CacheBust, false)
	}
	mustEqual(t, "streak", st.ConsecutiveHighLayer, 4)
	r := Transform(st, Input{Limits: sonnet4, Messages: m}) // no force: layer 0
	mustEqual(t, "layer 0", r.Layer, 0)
	mustEqual(t, "streak reset", st.ConsecutiveHighLayer, 0)
	mustEqual(t, "layer change busts", r.CacheBust, true)
	mustEqual(t, "counts", st.BustCount*100+st.TransformCount, 105)

	st = &State{}
	var last Result
	for i := 0; i < 20; i++ {
		st.ForceMinLayer = 1 + i%2*2 // alternate layers 1 and 3: every turn busts
		last = Transform(st, Input{Limits: sonnet4, Messages: m})
	}
	mustEqual(t, "busts", st.BustCount, 19)
	mustEqual(t, "high bust rate at 20 transforms", last.HighBustRate, true)
}

// budgets is ComputeBudget as a tuple, for the figures above.
func budgets(st *State, l Limits, ltm int) (usable, distilled, raw, maxInput int) {
	b := ComputeBudget(st, l, ltm)
	return b.Usable, b.Distilled, b.Raw, b.MaxInput
}
