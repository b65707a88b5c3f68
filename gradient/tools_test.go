package gradient

import (
	"fmt"
	"math/rand"
	"regexp"
	"strings"
	"testing"

	"github.com/caddy-lore/caddy-lore/msg"
)

// The prior art's pairing rules (docs/context-window.md, Layers: Pairing and order): a tool_use and its result survive a layer ≥ 1
// window as a pair: the user message starts with the tool_result, then its
// text.
func TestToolPairSurvives(t *testing.T) {
	c := session(60, 3_000).user("list files")
	c.call("toolu_1", "Bash", map[string]any{"command": "ls"})
	c.add("user", []map[string]any{
		{"type": "tool_result", "tool_use_id": "toolu_1", "content": "file1.ts"},
		{"type": "text", "text": "and then?"},
	})
	r := Transform(&State{ForceMinLayer: 1}, Input{Limits: sonnet4, Messages: c.msgs(t)})
	mustEqual(t, "layer", r.Layer, 1)
	w := wire(t, r.Messages)
	use := contentBlocks(w[len(w)-2])[0]
	mustEqual(t, "tool_use id", use["id"].(string), "toolu_1")
	last := contentBlocks(w[len(w)-1])
	mustEqual(t, "tool_result first", last[0]["type"].(string)+"/"+last[0]["tool_use_id"].(string), "tool_result/toolu_1")
	mustEqual(t, "output", last[0]["content"].(string), "file1.ts")
	mustEqual(t, "text after", last[1]["text"].(string), "and then?")
}

// docs/context-window.md, Layers: Pairing and order: tool_results whose tool_use is not in the
// immediately preceding assistant message are removed; a message left
// empty becomes "[tool results provided]".
func TestOrphanedResults(t *testing.T) {
	c := (&conv{}).user("hi").asst("sure")
	c.add("user", []map[string]any{
		{"type": "tool_result", "tool_use_id": "toolu_gone", "content": "x"},
		{"type": "tool_result", "tool_use_id": "toolu_gone2", "content": "y"},
	})
	c.call("toolu_ok", "Bash", map[string]any{})
	c.add("user", []map[string]any{
		{"type": "tool_result", "tool_use_id": "toolu_ok", "content": "kept"},
		{"type": "tool_result", "tool_use_id": "toolu_other", "content": "orphan"},
	})
	in := c.msgs(t)
	before := encode(t, in)
	out := fixPairs(in, false)
	w := wire(t, out)
	mustEqual(t, "placeholder", js(w[2]["content"]), `[{"text":"[tool results provided]","type":"text"}]`)
	last := contentBlocks(w[4])
	mustEqual(t, "only the match kept", len(last), 1)
	mustEqual(t, "match", last[0]["content"].(string), "kept")
	mustEqual(t, "input untouched", encode(t, in), before)

	// At index 0 too, and a window cut that orphans a result.
	c = (&conv{}).result("toolu_x", "out").asst("done")
	w = wire(t, fixPairs(c.msgs(t), false))
	mustEqual(t, "index 0", js(w[0]["content"]), `[{"text":"[tool results provided]","type":"text"}]`)

	// No tool results: the very same slice.
	m := (&conv{}).user("a").asst("b").user("c").msgs(t)
	mustEqual(t, "no-op", &fixPairs(m, false)[0], &m[0])
}

// docs/context-window.md, Layers: Pairing and order: a tool_use without result becomes an error result
// "[tool execution interrupted — session recovered]" in the following user
// message, or in a new user message.
func TestPendingToolUse(t *testing.T) {
	c := (&conv{}).user("go")
	c.add("assistant", []map[string]any{
		{"type": "tool_use", "id": "toolu_a", "name": "Bash", "input": map[string]any{}},
		{"type": "tool_use", "id": "toolu_b", "name": "Read", "input": map[string]any{}},
	})
	c.add("user", []map[string]any{
		{"type": "tool_result", "tool_use_id": "toolu_a", "content": "done"},
		{"type": "text", "text": "hm"},
	})
	c.call("toolu_c", "Bash", map[string]any{}) // last message, no result at all
	w := wire(t, fixPairs(c.msgs(t), false))
	mustEqual(t, "messages", len(w), 5)
	blocks := contentBlocks(w[2])
	mustEqual(t, "order", blocks[0]["tool_use_id"].(string)+","+blocks[1]["tool_use_id"].(string)+","+blocks[2]["type"].(string), "toolu_a,toolu_b,text")
	mustEqual(t, "error text", blocks[1]["content"].(string), "[tool execution interrupted — session recovered]")
	mustEqual(t, "is_error", blocks[1]["is_error"].(bool), true)
	added := contentBlocks(w[4])
	mustEqual(t, "new user message", w[4]["role"].(string)+"/"+added[0]["tool_use_id"].(string), "user/toolu_c")
	mustEqual(t, "deterministic", encode(t, fixPairs(c.msgs(t), false)), encode(t, fixPairs(c.msgs(t), false)))
}

// docs/context-window.md, Layers: Pairing and order: a trailing assistant message with only text is
// dropped; with tool blocks it is kept.
func TestTrailingPrefill(t *testing.T) {
	m := (&conv{}).user("a").asst("b").user("c").asst("prefill").asst("more").msgs(t)
	out := fixPairs(m, false)
	mustEqual(t, "dropped", len(out), 3)
	mustEqual(t, "last is user", out[2].Role, msg.RoleUser)
	r := Transform(&State{}, Input{Limits: sonnet4, Messages: m})
	mustEqual(t, "dropped at layer 0", len(r.Messages), 3)

	m = (&conv{}).user("a").call("toolu_1", "Bash", map[string]any{}).msgs(t)
	out = fixPairs(m, false)
	mustEqual(t, "kept", out[1].ID, m[1].ID)
}

func TestStripAnnotation(t *testing.T) {
	mustEqual(t, "plain", StripAnnotation("Bash", "a\nb\nc"), "[output omitted — Bash: 3 lines — use recall for details]")
	mustEqual(t, "errors", StripAnnotation("Bash", "Build FAILED:\nok"), "[output omitted — Bash: 2 lines, contained errors — use recall for details]")
	out := "see src/a.go and ./pkg/b_test.go, /home/u/x.tsx:12, src/a.go again, a/b.c d/e.f g/h.i j/k.l"
	mustEqual(t, "paths", StripAnnotation("Grep", out),
		"[output omitted — Grep: 1 lines, paths: src/a.go, ./pkg/b_test.go, home/u/x.tsx, a/b.c, d/e.f — use recall for details]")
	mustEqual(t, "empty", StripAnnotation("Read", ""), "[output omitted — Read: 1 lines — use recall for details]")
	for w, want := range map[string]bool{
		"Error: x": true, "an error.": true, "errors": false, "fail": true, "failed": true, "FAILURE": true,
		"failures": false, "my_error": false, "panic:": true, "Traceback (most": true, "exceptional": false,
		"NullPointerException": false, "exception": true, "é error": true,
	} {
		mustEqual(t, fmt.Sprintf("HasErrorWord(%q)", w), HasErrorWord(w), want)
	}
	// Paths are only looked for in the first 64 KiB.
	long := strings.Repeat("x ", 40_000) + "late/path.go"
	mustEqual(t, "scan limit", StripAnnotation("Bash", long), "[output omitted — Bash: 1 lines — use recall for details]")
}

// FindPaths is the reference's regexp, without the regexp.
func TestFindPathsMatchesRegexp(t *testing.T) {
	re := regexp.MustCompile(`(?:[\w.-]+/)+[\w.-]+\.\w{1,5}`)
	alphabet := []byte("ab1_.-/ /.x\n:")
	rng := rand.New(rand.NewSource(1))
	for i := 0; i < 20_000; i++ {
		b := make([]byte, rng.Intn(40))
		for j := range b {
			b[j] = alphabet[rng.Intn(len(alphabet))]
		}
		s := string(b)
		var want []string
		for _, m := range re.FindAllString(s, -1) {
			dup := false
			for _, w := range want {
				dup = dup || w == m
			}
			if !dup && len(want) < 5 {
				want = append(want, m)
			}
		}
		if got := FindPaths(s, 5); strings.Join(got, "|") != strings.Join(want, "|") {
			t.Fatalf("FindPaths(%q) = %q, want %q", s, got, want)
		}
	}
}

// Dedup (docs/context-window.md, Layers): identical outputs and covered reads.
func TestDedup(t *testing.T) {
	big := text(700)
	read := func(c *conv, id string, in map[string]any, out string) { c.tool(id, "Read", in, out) }
	c := (&conv{}).user("start")
	c.tool("t1", "Bash", map[string]any{"command": "make"}, big)
	c.tool("t2", "Bash", map[string]any{"command": "make"}, text(599))
	c.tool("t3", "Grep", map[string]any{"pattern": "x"}, big) // other tool: kept
	read(c, "r1", map[string]any{"file_path": "/src/a.go", "offset": 10, "limit": 20}, "A"+big)
	read(c, "r2", map[string]any{"file_path": "/src/a.go"}, "B"+big)                           // full, later than r1
	read(c, "r3", map[string]any{"file_path": "/src/b.go"}, "C"+big)                           // full
	read(c, "r4", map[string]any{"file_path": "/src/b.go", "offset": 1, "limit": 50}, "D"+big) // ranged, later
	read(c, "r5", map[string]any{"path": "/src/c.go", "offset": 5, "limit": 10}, "E"+big)
	read(c, "r6", map[string]any{"path": "/src/c.go", "offset": 1, "limit": 100}, "F"+big) // superset
	read(c, "r7", map[string]any{"filePath": "/src/d.go", "offset": 30}, "G"+big)
	read(c, "r8", map[string]any{"filePath": "/src/d.go", "offset": 20}, "H"+big) // open-ended, earlier start
	read(c, "r9", map[string]any{"file": "/src/e.go", "offset": 1, "limit": 10}, "I"+big)
	read(c, "r10", map[string]any{"file": "/src/e.go", "offset": 5, "limit": 10}, "J"+big) // overlaps, no superset
	c.tool("t4", "Bash", map[string]any{"command": "make"}, text(599))
	c.asst("done").user("again")
	c.tool("t5", "Bash", map[string]any{"command": "make"}, big) // current turn: the later copy
	r := Transform(&State{ForceMinLayer: 1}, Input{Limits: sonnet4, Messages: c.msgs(t)})
	got := map[string]string{}
	for _, m := range wire(t, r.Messages) {
		for _, b := range contentBlocks(m) {
			if b["type"] == "tool_result" {
				got[b["tool_use_id"].(string)] = b["content"].(string)
			}
		}
	}
	want := map[string]string{
		"t1":  "[duplicate output — same content as later Bash in this session — use recall for details]",
		"r1":  "[earlier read of /src/a.go lines 10-29 — see latest read below for current content]",
		"r5":  "[earlier read of /src/c.go lines 5-14 — see latest read below for current content]",
		"r7":  "[earlier read of /src/d.go from line 30 — see latest read below for current content]",
		"t2":  text(599),
		"t3":  big,
		"r2":  "B" + big,
		"r3":  "C" + big, // a ranged read never covers a full one
		"r9":  "I" + big,
		"t5":  big, // the current turn is never replaced
		"r10": "J" + big,
	}
	for id, w := range want {
		mustEqual(t, "output of "+id, got[id], w)
	}

	// Two identical outputs in one message are both kept (neither is later).
	c = (&conv{}).user("x")
	c.add("assistant", []map[string]any{
		{"type": "tool_use", "id": "p1", "name": "Bash", "input": map[string]any{}},
		{"type": "tool_use", "id": "p2", "name": "Bash", "input": map[string]any{}},
	})
	c.add("user", []map[string]any{
		{"type": "tool_result", "tool_use_id": "p1", "content": big},
		{"type": "tool_result", "tool_use_id": "p2", "content": big},
	})
	c.asst("ok").user("y")
	r = Transform(&State{ForceMinLayer: 1}, Input{Limits: sonnet4, Messages: c.msgs(t)})
	mustEqual(t, "parallel duplicates kept", strings.Count(encode(t, r.Messages), big), 2)

	for _, tc := range []struct {
		later, earlier readRange
		want           bool
	}{
		{readRange{path: "a"}, readRange{path: "a", offset: 5, hasOff: true}, true},
		{readRange{path: "a", offset: 1, hasOff: true, limit: 10, hasLim: true}, readRange{path: "a"}, false},
		{readRange{path: "a", offset: 3, hasOff: true}, readRange{path: "a", offset: 3, hasOff: true, limit: 5, hasLim: true}, true},
		{readRange{path: "a", offset: 4, hasOff: true}, readRange{path: "a", offset: 3, hasOff: true}, false},
		{readRange{path: "a", limit: 10, hasLim: true}, readRange{path: "a", offset: 2, hasOff: true, limit: 9, hasLim: true}, true},
		{readRange{path: "a", offset: 1, hasOff: true, limit: 10, hasLim: true}, readRange{path: "a", offset: 5, hasOff: true}, false},
		{readRange{path: "b"}, readRange{path: "a"}, false},
	} {
		mustEqual(t, fmt.Sprintf("%+v covers %+v", tc.later, tc.earlier), tc.later.covers(tc.earlier), tc.want)
	}
	rr, ok := parseReadRange([]byte(`not json but src/x.go is here`))
	mustEqual(t, "fallback path", rr.path+fmt.Sprint(ok), "src/x.gotrue")
}

func TestCharClass(t *testing.T) {
	for c := 0; c < 256; c++ {
		b := byte(c)
		word := b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '_'
		mustEqual(t, fmt.Sprintf("isWord(%q)", b), isWord(b), word)
		mustEqual(t, fmt.Sprintf("isPathChar(%q)", b), isPathChar(b), word || b == '.' || b == '-')
	}
}
