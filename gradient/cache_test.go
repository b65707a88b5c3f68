package gradient

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/caddy-lore/caddy-lore/internal/jsonscan"
)

// docs/context-window.md, Prompt caching: the system prompt becomes one text block with
// cache_control {type:"ephemeral"} (no ttl) and only the last block of the
// last message carries cache_control {type:"ephemeral"}.
func TestCacheBreakpointsBasic(t *testing.T) {
	m := (&conv{}).user("hi").asst("hello").add("user", []map[string]any{
		{"type": "tool_result", "tool_use_id": "x", "content": "r"},
		{"type": "text", "text": "go"},
	}).msgs(t)
	before := encode(t, m)
	sys, out := ApplyCacheBreakpoints(json.RawMessage(`"You are helpful"`), m, 0)
	mustEqual(t, "system", string(sys), `[{"type":"text","text":"You are helpful","cache_control":{"type":"ephemeral"}}]`)
	enc := encode(t, out)
	mustEqual(t, "one message breakpoint", strings.Count(enc, "cache_control"), 1)
	if !strings.HasSuffix(enc, `{"text":"go","type":"text","cache_control":{"type":"ephemeral"}}]}]`) {
		t.Fatalf("breakpoint not on the last block: %s", enc)
	}
	mustEqual(t, "input untouched", encode(t, m), before)

	// String content of the last message becomes a block.
	m = (&conv{}).user("hi").msgs(t)
	_, out = ApplyCacheBreakpoints(nil, m, 0)
	mustEqual(t, "string content", encode(t, out), `[{"role":"user","content":[{"type":"text","text":"hi","cache_control":{"type":"ephemeral"}}]}]`)

	// Empty system stays absent; no messages is a no-op.
	sys, out = ApplyCacheBreakpoints(json.RawMessage(`""`), nil, 0)
	mustEqual(t, "empty system", sys == nil && out == nil, true)

	// A client marker already on the last block is kept (with its ttl) and
	// makes an added system marker 1h too (1h markers must come first).
	m = (&conv{}).add("user", []map[string]any{
		{"type": "text", "text": "x", "cache_control": map[string]any{"type": "ephemeral", "ttl": "1h"}},
	}).msgs(t)
	sys, out = ApplyCacheBreakpoints(json.RawMessage(`[{"type":"text","text":"S"}]`), m, 0)
	mustEqual(t, "1h system", string(sys), `[{"type":"text","text":"S","cache_control":{"type":"ephemeral","ttl":"1h"}}]`)
	mustEqual(t, "client marker kept as is", &out[0], &m[0])

	// Thinking and empty text cannot be marked: the last other block is.
	m = (&conv{}).add("assistant", []map[string]any{
		{"type": "tool_use", "id": "t", "name": "Bash", "input": map[string]any{}},
		{"type": "thinking", "thinking": "hm", "signature": "s"},
		{"type": "text", "text": ""},
	}).msgs(t)
	_, out = ApplyCacheBreakpoints(nil, m, 0)
	if !strings.Contains(encode(t, out), `"type":"tool_use","cache_control":{"type":"ephemeral"}}`) {
		t.Fatalf("tool_use should carry the marker: %s", encode(t, out))
	}
}

// Never more than 4 markers counting the client's: the client's oldest
// message-level ones go first, system ones stay.
func TestCacheBreakpointsLimit(t *testing.T) {
	cc := map[string]any{"type": "ephemeral"}
	c := ongoing(session(60, 3_000), "a", 1, 100)
	in := Input{Limits: sonnet4, Messages: c.msgs(t), Distillations: rows(3)}
	r := Transform(&State{ForceMinLayer: 1}, in)
	// Give the client markers on two older messages and on the last one.
	n := len(r.Messages)
	marked := (&conv{}).
		add("user", []map[string]any{{"type": "text", "text": "older A", "cache_control": cc}}).
		add("assistant", []map[string]any{{"type": "text", "text": "older B", "cache_control": cc}}).
		add("user", []map[string]any{{"type": "text", "text": "last", "cache_control": cc}}).msgs(t)
	window := append(append(r.Messages[:n:n], marked[0], marked[1]), marked[2])
	system := json.RawMessage(`[{"type":"text","text":"A","cache_control":{"type":"ephemeral"}},{"type":"text","text":"B","cache_control":{"type":"ephemeral"}}]`)

	sys, out := ApplyCacheBreakpoints(system, window, 0)
	mustEqual(t, "system kept", strings.Count(string(sys), "cache_control"), 2)
	enc := encode(t, out)
	mustEqual(t, "total", strings.Count(string(sys), "cache_control")+strings.Count(enc, "cache_control"), 4)
	last := encode(t, out[len(out)-1:])
	mustEqual(t, "last message marker kept", strings.Count(last, "cache_control"), 1)
	mustEqual(t, "older message markers dropped", strings.Count(encode(t, out[2:len(out)-1]), "cache_control"), 0)
	prefixBlock := string(out[1].Blocks[0].Raw)
	if !strings.HasSuffix(prefixBlock, `,"cache_control":{"type":"ephemeral"}}`) {
		t.Fatalf("prefix marker on the last history block: %s", prefixBlock)
	}

	// With 2 kept elsewhere (tools), only the last message and the last
	// system block keep theirs.
	sys, out = ApplyCacheBreakpoints(system, window, 2)
	mustEqual(t, "system", string(sys), `[{"type":"text","text":"A"},{"type":"text","text":"B","cache_control":{"type":"ephemeral"}}]`)
	mustEqual(t, "messages", strings.Count(encode(t, out), "cache_control"), 1)
	mustEqual(t, "tools count", CountCacheControl(json.RawMessage(`[{"name":"a","cache_control":{"type":"ephemeral"}},{"name":"b"}]`)), 1)
}

func TestJSONObjectSurgery(t *testing.T) {
	cases := map[string]string{
		`{"cache_control":{"type":"ephemeral"},"type":"text","text":"x"}`:      `{"type":"text","text":"x"}`,
		`{"type":"text", "cache_control" : {"type":"ephemeral"} , "text":"x"}`: `{"type":"text" , "text":"x"}`,
		`{"type":"text","text":"a \"cache_control\" b","cache_control":null}`:  `{"type":"text","text":"a \"cache_control\" b"}`,
		`{ "cache_control": {} }`: `{  }`,
		`{"type":"text"}`:         `{"type":"text"}`,
	}
	for in, want := range cases {
		mustEqual(t, "remove from "+in, string(removeCacheControl([]byte(in))), want)
	}
	mustEqual(t, "add", string(addField([]byte(`{"a":1} `), cc5m)), `{"a":1,"cache_control":{"type":"ephemeral"}} `)
	mustEqual(t, "add to empty", string(addField([]byte(`{ }`), cc5m)), `{ "cache_control":{"type":"ephemeral"}}`)
	has, is1h := hasCacheControl([]byte(`{"text":"\"cache_control\":1","x":[{"cache_control":2}]}`))
	mustEqual(t, "nested or quoted markers are not top-level", has || is1h, false)
}

// A string system becomes the text block encoding/json's reading of it
// would give, escapes, astral characters and invalid UTF-8 included (that
// one as "\ufffd" where encoding/json's rune would be written raw: the same
// text, and the API refuses such a body anyway).
func TestSystemBlocksStringAsEncodingJSON(t *testing.T) {
	for _, raw := range []string{`"plain"`, `"a \"q\" \\ \n\t\u00e9\ud83d\ude00 <b>&"`, "\"bad \xff utf8\"", `""`, ` "spaced" `,
		// used as sent (canonicalString) or not: the same bytes either way
		`"lines\n\ttabbed \"quoted\" back\\slash \b\f\r é 漢字 🎉"`, `"slash \/ escaped"`, `"\u0041 escaped"`,
		"\"raw \u2028 separator\"", `"ends in a backslash \\"`, `"\\u2028 is not an escape"`} {
		got, ok := systemBlocks(json.RawMessage(raw))
		var s string
		if err := json.Unmarshal([]byte(raw), &s); err != nil || !ok {
			t.Fatalf("%q: %v %v", raw, err, ok)
		}
		var want [][]byte
		if s != "" {
			want = [][]byte{encodeTextBlock(s)}
		}
		same := sameBlock
		if utf8.ValidString(raw) {
			same = func(a, b []byte) bool { return string(a) == string(b) } // byte for byte: the cached prefix
		}
		if len(got) != len(want) || len(got) == 1 && !same(got[0], want[0]) {
			t.Errorf("%q: got %q, want %q", raw, got, want)
		}
	}
	if _, ok := systemBlocks(json.RawMessage(`"unterminated`)); ok {
		t.Error("a malformed string was read")
	}
}

// A string system in the form encoding would give it is used as sent; any
// other form is decoded and re-encoded (TestSystemBlocksStringAsEncodingJSON
// checks both give the same bytes).
func TestCanonicalString(t *testing.T) {
	for raw, want := range map[string]bool{
		`"plain"`: true, `""`: true, `"a\n\t\"b\" \\ \b\f\r é 🎉"`: true, `"ends \\"`: true,
		`"slash \/"`: false, `"\u0041"`: false, "\"raw \u2028\"": false, "\"bad \xff\"": false,
		`"unterminated`: false, `"raw` + "\n" + `newline"`: false,
	} {
		if got := canonicalString([]byte(raw)); got != want {
			t.Errorf("canonicalString(%q) = %v, want %v", raw, got, want)
		}
	}
}

func sameBlock(a, b []byte) bool {
	var x, y map[string]any
	return json.Unmarshal(a, &x) == nil && json.Unmarshal(b, &y) == nil && x["type"] == y["type"] && x["text"] == y["text"]
}

// A string canonicalString accepts is exactly what decoding it and encoding
// the text again writes: using it as sent changes no byte of the request.
func FuzzCanonicalString(f *testing.F) {
	for _, s := range []string{`"plain"`, `""`, `"a\n\t\"b\" \\ \b\f\r"`, `"é 漢字 🎉"`, `"ends \\"`, `"\/"`, `"\u0041"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if !canonicalString(raw) {
			return
		}
		s, err := jsonscan.String(raw)
		if err != nil {
			t.Fatalf("%q is canonical but does not decode: %v", raw, err)
		}
		if again := jsonscan.AppendString(nil, s); !bytes.Equal(again, raw) {
			t.Fatalf("%q is canonical but encodes as %q", raw, again)
		}
	})
}
