package fakeupstream

import (
	"strings"
	"testing"
)

// loopBody is a Messages request with thinking enabled.
func loopBody(t *testing.T, msgs ...any) string {
	return mustJSON(t, map[string]any{
		"model": "claude-sonnet-4-5", "max_tokens": 32000,
		"thinking": map[string]any{"type": "enabled", "budget_tokens": 31999},
		"messages": msgs,
	})
}

func plainUser(s string) map[string]any { return map[string]any{"role": "user", "content": s} }

func resultMsg(id, out string) map[string]any {
	return map[string]any{"role": "user", "content": []any{map[string]any{"type": "tool_result", "tool_use_id": id, "content": out}}}
}

// The loop asks for the files one by one with signed thinking; a client that
// sends the blocks back unchanged goes on, to the final answer.
func TestLoopRoundsAndThinking(t *testing.T) {
	s, _ := newServer(t, Options{})
	msgs := []any{plainUser("read them [[loop:2]]")}
	for round := 1; ; round++ {
		r := post(t, s, "/v1/messages", loopBody(t, msgs...))
		if r.Status != 200 {
			t.Fatalf("round %d: %d %s", round, r.Status, r.Body)
		}
		content := r.json(t)["content"].([]any)
		if round == 3 {
			if got := content[0].(map[string]any)["text"]; got != "LOOP DONE: read 2 files" {
				t.Fatalf("final answer %v", got)
			}
			break
		}
		think, use := content[0].(map[string]any), content[1].(map[string]any)
		if think["type"] != "thinking" || !strings.HasPrefix(think["signature"].(string), "EqQB") {
			t.Fatalf("round %d: no signed thinking first: %v", round, content)
		}
		if cmd := use["input"].(map[string]any)["command"]; cmd != "cat f_00"+string(rune('0'+round))+".txt" {
			t.Fatalf("round %d asks for %v", round, cmd)
		}
		msgs = append(msgs, map[string]any{"role": "assistant", "content": content},
			resultMsg(use["id"].(string), "LOOP "+string(rune('0'+round))+" of 2\nfile body"))
	}
}

// The two thinking rules, and the summary answer a compacting client gets.
func TestLoopThinkingRules(t *testing.T) {
	s, _ := newServer(t, Options{})
	first := post(t, s, "/v1/messages", loopBody(t, plainUser("go [[loop:3]]"))).json(t)["content"].([]any)
	think, use := first[0].(map[string]any), first[1].(map[string]any)
	id := use["id"].(string)

	altered := map[string]any{"type": "thinking", "thinking": think["thinking"].(string) + " (edited)", "signature": think["signature"]}
	r := post(t, s, "/v1/messages", loopBody(t, plainUser("go [[loop:3]]"),
		map[string]any{"role": "assistant", "content": []any{altered, use}}, resultMsg(id, "LOOP 1 of 3")))
	wantError(t, r, 400, "invalid_request_error", "messages.1.content.0: Invalid `signature` in `thinking` block")

	r = post(t, s, "/v1/messages", loopBody(t, plainUser("go [[loop:3]]"),
		map[string]any{"role": "assistant", "content": []any{map[string]any{"type": "text", "text": "calling"}, use}}, resultMsg(id, "LOOP 1 of 3")))
	if r.Status != 400 || !strings.Contains(r.Body, "Expected `thinking` or `redacted_thinking`, but found `text`") {
		t.Fatalf("missing thinking: %d %s", r.Status, r.Body)
	}
	// An assistant message merged into the final turn from before counts:
	// its first block must be the thinking.
	r = post(t, s, "/v1/messages", loopBody(t, plainUser("go [[loop:3]]"),
		map[string]any{"role": "assistant", "content": "earlier text"},
		map[string]any{"role": "assistant", "content": []any{think, use}}, resultMsg(id, "LOOP 1 of 3")))
	if r.Status != 400 {
		t.Fatalf("merged final turn starting with text: %d %s", r.Status, r.Body)
	}

	summary := map[string]any{"role": "user", "content": []any{
		map[string]any{"type": "tool_result", "tool_use_id": id, "content": "LOOP 1 of 3"},
		map[string]any{"type": "text", "text": "Your task is to create a detailed summary of the conversation so far."}}}
	r = post(t, s, "/v1/messages", loopBody(t, plainUser("go [[loop:3]]"), map[string]any{"role": "assistant", "content": []any{think, use}}, summary))
	if r.Status != 200 || !strings.Contains(r.Body, "LOOP 1 of 3") || !strings.Contains(r.Body, "<summary>") {
		t.Fatalf("summary: %d %s", r.Status, r.Body)
	}
	bills := s.Bills()
	if len(bills) != 5 || bills[1].Status != 400 || bills[4].Status != 200 || bills[4].Input+bills[4].CacheRead+bills[4].Creation5m == 0 {
		t.Fatalf("ledger: %+v", bills)
	}
}
