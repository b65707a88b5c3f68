package translate

import (
	"encoding/json"
	"github.com/caddy-lore/caddy-lore/internal/jsonscan"
	"math/rand/v2"
	"testing"
)

// The hand-written writers must produce exactly what encoding/json (with
// SetEscapeHTML(false)) produces for the same values.
func TestAppendJSONStringMatchesEncodingJSON(t *testing.T) {
	cases := []string{"", "plain", `quote " back \ slash`, "<b>&amp;</b>", "\n\r\t\b\f\x00\x01\x1f\x7f",
		"héllo wörld ✓ 🎉", "line\u2028sep\u2029para", "bad \xff\xfe utf8 \xc3", "\u00e9\u0301"}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 2000; i++ {
		b := make([]byte, rng.IntN(40))
		for j := range b {
			b[j] = byte(rng.IntN(256))
		}
		cases = append(cases, string(b))
	}
	for _, s := range cases {
		want, err := marshalJSON(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := jsonscan.AppendString(nil, s); string(got) != string(want) {
			t.Fatalf("%q:\n got %s\nwant %s", s, got, want)
		}
	}
	for _, f := range []float64{0, 1, 0.7, 0.2, 0.999999, 1e-7, 0.1 + 0.2} {
		want, _ := json.Marshal(f)
		if got := appendFloat(nil, f); string(got) != string(want) {
			t.Fatalf("%v: %s want %s", f, got, want)
		}
	}
}

func TestWritersMatchEncodingJSON(t *testing.T) {
	for _, body := range []string{fullOpenAIRequest,
		`{"model":"m","messages":[{"role":"user","content":"a\u2028b <x>"},{"role":"assistant","content":"","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{\"k\": [1, 2]}"}}]},{"role":"tool","tool_call_id":"c","content":null}],"temperature":0.3}`} {
		r := mustParseOpenAI(t, body)
		got, _ := r.ToAnthropic()
		want, err := marshalJSON(&r.anth)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Fatalf("anthropic writer\n got %s\nwant %s", got, want)
		}
	}
	msgs := []oaiOutMessage{
		{Role: "system", Content: "s <&>"},
		{Role: "user", Content: json.RawMessage(`"raw \u003c"`)},
		{Role: "user", Content: []oaiOutPart{{Type: "text", Text: "t"}, {Type: "image_url", ImageURL: &oaiImageURL{URL: "https://x"}}, {Type: "file", File: &oaiOutFile{FileData: "data:application/pdf;base64,AA"}}}},
		{Role: "assistant", ToolCalls: []oaiOutToolCall{{ID: "a", Type: "function", Function: oaiFunction{Name: "f", Arguments: `{"x":"<y>"}`}}}},
		{Role: "tool", ToolCallID: "a", Content: json.RawMessage(`"out"`)},
	}
	want, _ := marshalJSON(msgs)
	if got := appendOpenAIMessages(nil, msgs); string(got) != string(want) {
		t.Fatalf("openai writer\n got %s\nwant %s", got, want)
	}
	u := OpenAIUsage{PromptTokens: 1, CompletionTokens: 2, TotalTokens: 3, PromptTokensDetails: OpenAIPromptDetails{CachedTokens: 4, CacheWriteTokens: 5}}
	wantU, _ := marshalJSON(u)
	if got := appendOpenAIUsage(nil, u); string(got) != string(wantU) {
		t.Fatalf("usage writer %s want %s", got, wantU)
	}
}
