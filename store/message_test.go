package store

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/caddy-lore/caddy-lore/pricing"
)

// appendMessage writes what json.Marshal writes, as far as a reader can
// tell: both decode to the same message, and what json.Marshal refuses is
// refused.
func TestEncodeMessageDecodesAsJSONMarshal(t *testing.T) {
	usage := &pricing.Usage{InputTokens: 3, OutputTokens: 4, CacheReadTokens: 5}
	contents := []string{
		`"plain"`, `[{"type":"text","text":"a \"quoted\" <b>&amp;</b>\n\u00e9\u2028"}]`,
		" \n [ {\"type\" : \"tool_result\", \"content\": [ ] } ] \t", ``, " ", `null`, `[]`, `{}`, `12`,
		`[{"type":"text","text":"` + string([]byte{0xff, 0xfe}) + `"}]`,
	}
	for _, c := range contents {
		for _, m := range []StoredMessage{
			{ID: "m1", Role: "user", Position: 0, Content: json.RawMessage(c), At: 1700000000000},
			{ID: "id \"odd\" <x>", Role: "assistant", Position: 41, Content: json.RawMessage(c), At: 1, Model: "claude-\u00e9", Usage: usage},
		} {
			want, werr := json.Marshal(&m)
			got, gerr := appendMessage(nil, &m)
			if (werr == nil) != (gerr == nil) {
				t.Fatalf("content %q: json.Marshal err %v, appendMessage err %v", c, werr, gerr)
			}
			if werr != nil {
				continue
			}
			var a, b StoredMessage
			if err := json.Unmarshal(want, &a); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(got, &b); err != nil {
				t.Fatalf("content %q: %s does not decode: %v", c, got, err)
			}
			var ca, cb any
			_ = json.Unmarshal(a.Content, &ca)
			_ = json.Unmarshal(b.Content, &cb)
			a.Content, b.Content = nil, nil
			if !reflect.DeepEqual(a, b) || !reflect.DeepEqual(ca, cb) {
				t.Fatalf("content %q:\n got %s\nwant %s", c, got, want)
			}
		}
	}
	nilContent := StoredMessage{ID: "m", Role: "user"}
	if got, err := appendMessage(nil, &nilContent); err != nil || !json.Valid(got) {
		t.Fatalf("nil content: %s %v", got, err)
	}
	for _, bad := range []string{`[`, `{"a":}`, `"x" "y"`, `[1,]`, "\"\x01\""} {
		m := StoredMessage{ID: "m", Role: "user", Content: json.RawMessage(bad)}
		if _, err := appendMessage(nil, &m); err == nil {
			t.Errorf("content %q: accepted", bad)
		}
	}
}

// A turn's messages share one buffer; each keeps its own bytes, also when
// one outgrows the size estimated for it and the buffer moves.
func TestEncodeMessagesSharesOneBuffer(t *testing.T) {
	escaped := strings.Repeat("\x01", 300) // 6 bytes each once escaped: far over the estimate
	ms := []StoredMessage{
		{ID: "m1", Role: "user", Content: json.RawMessage(`"first"`), At: 1},
		{ID: escaped, Role: "assistant", Position: 1, Content: json.RawMessage(" [ {\"type\":\"text\" , \"text\":\"x\"} ] "), At: 2, Usage: &pricing.Usage{InputTokens: 9}},
		{ID: "m3", Role: "user", Position: 2, Content: json.RawMessage(`[{"type":"text","text":"third"}]`), At: 3},
	}
	got, err := encodeMessages(ms)
	if err != nil || len(got) != len(ms) {
		t.Fatalf("%d messages, %v", len(got), err)
	}
	for i := range ms {
		want, _ := appendMessage(nil, &ms[i])
		if b, _ := got[i].([]byte); string(b) != string(want) {
			t.Errorf("message %d:\n got %s\nwant %s", i, b, want)
		}
	}
	if _, err := encodeMessages([]StoredMessage{ms[0], {ID: "bad", Content: json.RawMessage(`[1,]`)}}); err == nil {
		t.Error("a message json.Marshal refuses was encoded")
	}
}
