package distill

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/caddy-lore/caddy-lore/gradient"
	"github.com/caddy-lore/caddy-lore/store"
)

func stored(role string, minute int, content string) indexed {
	return indexed{Msg: store.StoredMessage{Role: role, Content: json.RawMessage(content),
		At: t0.Add(time.Duration(minute) * time.Minute).UnixMilli()}}
}

func quote(s string) string { b, _ := json.Marshal(s); return string(b) }

// Rendering per docs/context-window.md, Distillation: "[role] (HH:MM) body", blank lines between,
// tool outputs over 2,000 characters replaced by the strip annotation.
func TestRender(t *testing.T) {
	big := "FAIL internal/retry/retry_test.go\n" + strings.Repeat("x", 2000)
	edge := strings.Repeat("é", 2000) // 2,000 characters, 4,000 bytes: kept
	msgs := []indexed{
		stored("user", 0, `"Fix the retry bug in internal/retry.go"`),
		stored("assistant", 1, `[{"type":"thinking","thinking":"read it first","signature":"sig"},`+
			`{"type":"text","text":"Looking."},{"type":"tool_use","id":"toolu_1","name":"Read","input":{"path":"internal/retry.go"}}]`),
		stored("user", 2, `[{"type":"tool_result","tool_use_id":"toolu_1","content":"line1\nline2"}]`),
		stored("assistant", 3, `[{"type":"tool_use","id":"toolu_2","name":"Bash","input":{"command":"go test ./..."}}]`),
		stored("user", 4, `[{"type":"tool_result","tool_use_id":"toolu_2","content":[{"type":"text","text":`+quote(big)+`}]},`+
			`{"type":"text","text":"Still failing?"}]`),
		stored("user", 65, `[{"type":"tool_result","tool_use_id":"toolu_9","content":`+quote(edge)+`},{"type":"image","source":{}}]`),
	}
	got := render(msgs, toolNames(msgs), time.UTC)
	want := "[user] (14:00) Fix the retry bug in internal/retry.go\n\n" +
		"[assistant] (14:01) [reasoning] read it first\nLooking.\n[call:Read] {\"path\":\"internal/retry.go\"}\n\n" +
		"[tool] (14:02) [tool:Read] line1\nline2\n\n" +
		"[assistant] (14:03) [call:Bash] {\"command\":\"go test ./...\"}\n\n" +
		"[user] (14:04) [tool:Bash] [output omitted — Bash: 2 lines, contained errors, paths: internal/retry/retry_test.go — use recall for details]\nStill failing?\n\n" +
		"[tool] (15:05) [tool:tool] " + edge + "\n[image]"
	if got != want {
		t.Errorf("render =\n%s\nwant\n%s", got, want)
	}
	if d := sessionDate(msgs, time.UTC); d != "March 3, 2026" {
		t.Errorf("sessionDate = %q", d)
	}
	long := `{"content":"` + strings.Repeat("a", 2100) + `"}`
	if got := clip(long); got != long[:2000]+"… [input truncated — 2114 chars]" {
		t.Errorf("clip = %q", got[1990:])
	}
}

// docs/context-window.md, Distillation: the <observations> block (parsing half).
func TestParseObservations(t *testing.T) {
	tests := map[string]string{
		"<observations>\n- a\n- b\n</observations>":       "- a\n- b",
		"Sure!\n<OBSERVATIONS>\n- x\n</Observations> bye": "- x",
		"  - no tags here  \n":                            "- no tags here",
		"":                                                "",
		"  \n\t":                                          "",
		"<observations>\n\n</observations>":               "",
		"<observations>\n- cut off by max_tokens":         "- cut off by max_tokens",
		"<observations>- one</observations><observations>2": "- one",
	}
	for in, want := range tests {
		if got := ParseObservations(in); got != want {
			t.Errorf("ParseObservations(%q) = %q, want %q", in, got, want)
		}
	}
}

// The prompts ask for an <observations> block (the worker and the fake
// upstream key on it); the compaction prompt does not.
func TestPrompts(t *testing.T) {
	for name, p := range map[string]string{"observer": ObserverSystem, "reflector": ReflectorSystem,
		"observer user": observerUser("", "March 3, 2026", "[user] (14:00) hi")} {
		if !strings.Contains(p, "Output only an <observations> block") {
			t.Errorf("%s prompt does not ask for an <observations> block", name)
		}
	}
	u := observerUser("- earlier", "March 3, 2026", "[user] (14:00) hi")
	want := "Previous observations (already recorded; do not repeat them):\n<previous-observations>\n- earlier\n</previous-observations>\n\n" +
		"Session date: March 3, 2026\n\nConversation:\n\n[user] (14:00) hi\n\n" +
		"Record the observations of this conversation. Output only an <observations> block."
	if u != want {
		t.Errorf("observerUser =\n%s\nwant\n%s", u, want)
	}
	if got := reflectorUser("", []string{"- a", "- b"}); got != "Consolidate these 2 segments, oldest first.\n\n"+
		"Segment 1:\n- a\n\n---\n\nSegment 2:\n- b\n\nOutput only an <observations> block." {
		t.Errorf("reflectorUser = %q", got)
	}
	if got := reflectorUser("- meta", []string{"- c"}); got != "<previous-meta-summary>\n- meta\n</previous-meta-summary>\n\n"+
		"Update the summary above in place with this new segment.\n\nSegment 1:\n- c\n\nOutput only an <observations> block." {
		t.Errorf("anchored reflectorUser = %q", got)
	}
	for _, p := range []string{CompactSystem, compactUser([]gradient.Distillation{{Observations: "- x"}}, "prev")} {
		if strings.Contains(p, "<observations>") {
			t.Errorf("compaction prompt mentions <observations>: %q", p)
		}
	}
}
