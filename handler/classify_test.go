package handler

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/caddy-lore/caddy-lore/handler/translate"
	"github.com/caddy-lore/caddy-lore/msg"
)

func classifyBody(t *testing.T, system string, tools, messages int, lastUser string) class {
	t.Helper()
	var ts, ms []string
	for i := range tools {
		ts = append(ts, fmt.Sprintf(`{"name":"t%d","input_schema":{"type":"object"}}`, i))
	}
	for i := range messages {
		role, text := "user", fmt.Sprintf("m%d", i)
		if i%2 == 1 {
			role = "assistant"
		}
		if i == messages-1 {
			text = lastUser
		}
		enc, _ := json.Marshal(text)
		ms = append(ms, fmt.Sprintf(`{"role":%q,"content":%s}`, role, enc))
	}
	sys, _ := json.Marshal(system)
	body := fmt.Sprintf(`{"model":"m","max_tokens":5,"system":%s,"tools":[%s],"messages":[%s]}`, sys, strings.Join(ts, ","), strings.Join(ms, ","))
	req, err := translate.ParseRequest([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := msg.Decode(req.Messages)
	if err != nil {
		t.Fatal(err)
	}
	return classify(req, req.SystemText(), msgs)
}

// The classification rules (docs/architecture.md, Classification).
func TestClassify(t *testing.T) {
	long := strings.Repeat("A", 600)
	tests := []struct {
		name     string
		system   string
		tools    int
		messages int
		last     string
		want     class
	}{
		{"compaction system prompt", "You are an ANCHORED CONTEXT SUMMARIZATION ASSISTANT.", 5, 9, "go", classCompaction},
		{"anchored summary with a tool is not compaction", long, 1, 5, "Please create an anchored summary from the conversation history above.", classTurn},
		{"anchored summary without tools", long, 0, 5, "Please create an anchored summary from the conversation history above.", classCompaction},
		{"update anchored summary", long, 0, 5, "Update the anchored summary below", classCompaction},
		{"previous summary tag", long, 0, 5, "<previous-summary>x</previous-summary>", classCompaction},
		{"template with 3 headers", long, 3, 5, "<template>## Goal ## Progress ## Next Steps</template>", classTurn},
		{"template with 4 headers, tools present", long, 3, 5, "<template>## Goal ## Progress ## Next Steps ## Relevant Files</template>", classCompaction},
		{"title request 499", strings.Repeat("A", 499), 0, 1, "hi", classUtility},
		{"system 500 is a turn", strings.Repeat("A", 500), 0, 1, "hi", classTurn},
		{"two tools two messages", "short", 2, 2, "hi", classUtility},
		{"three tools", "short", 3, 2, "hi", classTurn},
		{"three messages", "short", 0, 3, "hi", classTurn},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := classifyBody(t, tc.system, tc.tools, tc.messages, tc.last); got != tc.want {
				t.Fatalf("got %v want %v", got, tc.want)
			}
		})
	}
}

// containsFoldASCII finds what strings.ToLower(s) would contain, including
// through the two non-ASCII characters that lower-case to ASCII letters.
func TestContainsFoldASCII(t *testing.T) {
	const needle = "anchored context summarization assistant"
	for _, s := range []string{
		"You are an Anchored Context SUMMARIZATION assistant.",
		"an anchored context summarization assistan",
		"—anchored context summarization assistant—",
		"anchored context summar\u0130zation assistant",  // İ lower-cases to i
		"anchored context summari\u212azation assistant", // not a k in the needle: no match either way
		"ANCHORED CONTEXT SUMMARIZATION ASSISTANT",
		"",
	} {
		if got, want := containsFoldASCII(s, needle), strings.Contains(strings.ToLower(s), needle); got != want {
			t.Errorf("containsFoldASCII(%q) = %v, strings.ToLower says %v", s, got, want)
		}
	}
	if !containsFoldASCII("a \u212aeep b", "keep") {
		t.Error("the Kelvin sign lower-cases to k")
	}
}
