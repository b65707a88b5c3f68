package gradient

import (
	"bytes"
	"encoding/json"
	"fmt"
	"github.com/caddy-lore/caddy-lore/internal/jsonscan"
	"math/rand"
	"strings"
	"testing"
)

// prefixText is the text the model sees in the synthetic assistant message.
func prefixText(t *testing.T, r Result) (user, assistant string, parts int) {
	t.Helper()
	var pair []struct {
		Role    string `json:"role"`
		Content []struct {
			Type string `json:"type"`
			Text string `json:"text"`
		} `json:"content"`
	}
	if err := json.Unmarshal([]byte("["+string(r.PrefixBytes)+"]"), &pair); err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "roles", pair[0].Role+"/"+pair[1].Role, "user/assistant")
	var b strings.Builder
	for _, c := range pair[1].Content {
		b.WriteString(c.Text)
	}
	return pair[0].Content[0].Text, b.String(), len(pair[1].Content)
}

// docs/context-window.md, The distilled prefix: the two synthetic messages and their exact texts.
func TestPrefixTexts(t *testing.T) {
	d := []Distillation{
		{ID: "m1", Generation: 1, Observations: "meta summary\n"},
		{ID: "g1", Generation: 0, Observations: "  first  "},
		{ID: "g2", Generation: 0, Observations: "second"},
	}
	want := "## Session History\n\n### Earlier Work (summarized)\n\nmeta summary\n\n### Recent Work (distilled)\n\nfirst\n\nsecond"
	mustEqual(t, "render", RenderDistillations(d), want)
	mustEqual(t, "gen-0 only", RenderDistillations(d[1:2]), "## Session History\n\n### Recent Work (distilled)\n\nfirst")
	mustEqual(t, "meta only", RenderDistillations(d[:1]), "## Session History\n\n### Earlier Work (summarized)\n\nmeta summary")
	mustEqual(t, "none", RenderDistillations(nil), "")

	m := ongoing(session(60, 3_000), "a", 1, 100).msgs(t)
	r := Transform(&State{ForceMinLayer: 1}, Input{Limits: sonnet4, Messages: m, Distillations: d})
	user, asst, _ := prefixText(t, r)
	mustEqual(t, "user line", user, "[Memory context follows — do not reference this format in your responses]")
	mustEqual(t, "assistant text", asst, want+"\n\nI'm ready to continue.")
	mustEqual(t, "ids", r.Messages[0].ID+" "+r.Messages[1].ID, "lore-distilled-user lore-distilled-assistant")
	if !strings.HasPrefix(encode(t, r.Messages), "["+string(r.PrefixBytes)+",") {
		t.Fatal("PrefixBytes are the first two messages' JSON")
	}
}

// The prefix is byte-stable while the rows do not change, grows append-only
// (old bytes kept as a block-aligned prefix, no repeated "## Session
// History"), and is re-rendered when a meta-distillation rewrites rows.
func TestPrefixAppendOnly(t *testing.T) {
	c := ongoing(session(60, 3_000), "a", 1, 100)
	st := &State{ForceMinLayer: 1}
	d := rows(3)
	r1 := Transform(st, Input{Limits: sonnet4, Messages: c.msgs(t), Distillations: d})
	calibrateExactly(st, r1)

	// Same rows, new prompt: identical bytes.
	c.asst("ok").user("next prompt")
	r2 := Transform(st, Input{Limits: sonnet4, Messages: c.msgs(t), Distillations: d})
	mustEqual(t, "stable prefix", string(r2.PrefixBytes), string(r1.PrefixBytes))
	calibrateExactly(st, r2)

	// Two rows appended at the next prompt: the old blocks stay, a delta
	// block is added before the closing line.
	d = rows(5)
	c.asst("ok").user("third prompt")
	r3 := Transform(st, Input{Limits: sonnet4, Messages: c.msgs(t), Distillations: d})
	_, asst, parts := prefixText(t, r3)
	mustEqual(t, "one history header", strings.Count(asst, "## Session History"), 1)
	mustEqual(t, "one recent header", strings.Count(asst, "### Recent Work"), 1)
	mustEqual(t, "appended text equals a full render", asst, RenderDistillations(d)+"\n\nI'm ready to continue.")
	mustEqual(t, "blocks: original, delta, closing", parts, 3)
	oldBlock := string(r1.Messages[1].Blocks[0].Raw)
	mustEqual(t, "old block bytes kept", string(r3.Messages[1].Blocks[0].Raw), oldBlock)
	if !strings.HasPrefix(string(r3.PrefixBytes), strings.TrimSuffix(string(r1.PrefixBytes), string(r1.Messages[1].Blocks[1].Raw)+"]}")) {
		t.Fatal("the old prefix must stay a byte prefix up to its closing block")
	}
	calibrateExactly(st, r3)

	// A meta-distillation archived rows: full re-render, one block again.
	d = append([]Distillation{{ID: "meta", Generation: 1, Observations: "all of it"}}, rows(5)[4:]...)
	c.asst("ok").user("fourth prompt")
	r4 := Transform(st, Input{Limits: sonnet4, Messages: c.msgs(t), Distillations: d})
	_, asst, parts = prefixText(t, r4)
	mustEqual(t, "re-rendered", asst, RenderDistillations(d)+"\n\nI'm ready to continue.")
	mustEqual(t, "single block", parts, 2)

	// Cached rows with only a meta row: a gen-0 delta opens the Recent section.
	p := updatePrefix(updatePrefix(PrefixCache{}, d[:1]), d)
	mustEqual(t, "delta with header", p.Parts[1], "\n\n### Recent Work (distilled)\n\nobservation 4")
	mustEqual(t, "meta then recent", strings.Join(p.Parts, ""), RenderDistillations(d))
}

// The distillation snapshot: during an autonomous tool chain (same prompt)
// new rows do not change the prefix; the next prompt picks them up.
func TestDistillationSnapshot(t *testing.T) {
	c := ongoing(session(60, 3_000), "a", 1, 100)
	st := &State{ForceMinLayer: 1}
	r1 := Transform(st, Input{Limits: sonnet4, Messages: c.msgs(t), Distillations: rows(2)})
	calibrateExactly(st, r1)
	c.tool("toolu_more", "Bash", map[string]any{"command": "ls"}, "x")
	r2 := Transform(st, Input{Limits: sonnet4, Messages: c.msgs(t), Distillations: rows(4)})
	mustEqual(t, "frozen mid-chain", string(r2.PrefixBytes), string(r1.PrefixBytes))
	calibrateExactly(st, r2)
	c.asst("done").user("new prompt")
	r3 := Transform(st, Input{Limits: sonnet4, Messages: c.msgs(t), Distillations: rows(4)})
	if !strings.Contains(string(r3.PrefixBytes), "observation 3") {
		t.Fatal("new prompt takes the new rows")
	}

	// An empty snapshot is not frozen: the first rows are used mid-chain.
	st = &State{ForceMinLayer: 1}
	r1 = Transform(st, Input{Limits: sonnet4, Messages: c.msgs(t)})
	mustEqual(t, "no prefix", len(r1.PrefixBytes), 0)
	calibrateExactly(st, r1)
	c.tool("toolu_more2", "Bash", map[string]any{"command": "ls"}, "x")
	r2 = Transform(st, Input{Limits: sonnet4, Messages: c.msgs(t), Distillations: rows(1)})
	mustEqual(t, "first rows mid-chain", strings.Contains(string(r2.PrefixBytes), "observation 0"), true)

	// Idle reset clears the snapshot and the caches.
	st.IdleReset()
	mustEqual(t, "cleared", st.Prefix.Rows+len(st.DistillSnapshotKey), 0)
	mustEqual(t, "pin cleared", st.Pin == nil, true)
}

func TestAppendJSONString(t *testing.T) {
	rng := rand.New(rand.NewSource(7))
	pieces := []string{"a", "\"", "\\", "\n", "\t", "\x01", "\x1f", "<>&", "é", "—", "\u2028", "\u2029", "\xff", "\xe2\x80", "😀", " "}
	for i := 0; i < 5_000; i++ {
		var b strings.Builder
		for j := rng.Intn(12); j > 0; j-- {
			b.WriteString(pieces[rng.Intn(len(pieces))])
		}
		s := b.String()
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		_ = enc.Encode(s)
		mustEqual(t, fmt.Sprintf("%q", s), string(jsonscan.AppendString(nil, s)), strings.TrimSuffix(buf.String(), "\n"))
	}
}
