package translate

import (
	"bytes"
	"encoding/json"
	"testing"
)

var systemCases = []string{
	`"You are Claude Code."`,
	`"a\nb \"q\" \u00e9 \ud83d\ude00"`,
	`[{"type":"text","text":"A"},{"type":"text","text":"B","cache_control":{"type":"ephemeral"}}]`,
	`[{"text":"A","type":"text"},{"type":"image","text":"skip"},{"type":"text","text":""}]`,
	`[{"type":"text","text":"A","extra":[1,{"x":"y"}]}]`,
	`[]`,
	`[{"type":"text","text":null}]`,
	`[{"Type":"text","Text":"case"}]`,
	`[{"type":"text","text":"A"},"stray"]`,
	`[{"type":"text","text":5}]`,
	`{"type":"text","text":"not an array"}`,
	`"\xff invalid utf-8"`,
	`[{"type":"text","text":"x","type":"image"}]`,
	`[{"type":"text"},{"type":"text"},{"type":"text","text":"A"}]`,
}

// The jsonscan path must give what the encoding/json path gives on every
// well-formed system prompt.
func TestSystemTextFastMatchesJSON(t *testing.T) {
	for _, c := range systemCases {
		if got, want := (&Request{System: []byte(c)}).SystemText(), systemTextJSON([]byte(c)); got != want {
			t.Errorf("%s: got %q want %q", c, got, want)
		}
	}
	if _, ok := systemTextFast([]byte(`[{"type":"text","text":"A"}]`)); !ok {
		t.Fatal("the plain shape must take the fast path")
	}
}

func FuzzSystemText(f *testing.F) {
	for _, c := range systemCases {
		f.Add(c)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sys := bytes.TrimSpace([]byte(s))
		if len(sys) == 0 || !json.Valid(sys) {
			return // malformed bodies are the upstream's to reject
		}
		if got, want := (&Request{System: []byte(s)}).SystemText(), systemTextJSON(sys); got != want {
			t.Fatalf("%q: got %q want %q", s, got, want)
		}
	})
}
