package fakeupstream

import (
	"strings"
	"testing"
)

func TestValidation(t *testing.T) {
	s, _ := newServer(t, Options{ContextLimit: 10})
	cases := []struct{ name, body, msg string }{
		{"model", `{"max_tokens":1,"messages":[{"role":"user","content":"x"}]}`, "model: Field required"},
		{"max_tokens", `{"model":"m","messages":[{"role":"user","content":"x"}]}`, "max_tokens: Field required"},
		{"messages", `{"model":"m","max_tokens":1}`, "messages: Field required"},
		{"empty messages", `{"model":"m","max_tokens":1,"messages":[]}`, "messages: at least one message is required"},
		{"bad role", `{"model":"m","max_tokens":1,"messages":[{"role":"tool","content":"x"}]}`, "messages.0.role: Input should be 'user', 'assistant' or 'system'"},
		{"empty content", `{"model":"m","max_tokens":1,"messages":[{"role":"user","content":""}]}`, "messages.0: all messages must have non-empty content except for the optional final assistant message"},
		{"orphan tool_result", `{"model":"m","max_tokens":1,"messages":[
			{"role":"user","content":"a"},
			{"role":"assistant","content":[{"type":"tool_use","id":"toolu_A","name":"bash","input":{}}]},
			{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_A","content":"ok"},{"type":"tool_result","tool_use_id":"toolu_B","content":"??"}]}]}`,
			"messages.2.content.1: unexpected `tool_use_id` found in `tool_result` blocks: toolu_B. Each `tool_result` block must have a corresponding `tool_use` block in the previous message."},
		{"tool_result with no assistant before", `{"model":"m","max_tokens":1,"messages":[
			{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_X","content":"ok"}]}]}`,
			"messages.0.content.0: unexpected `tool_use_id` found in `tool_result` blocks: toolu_X. Each `tool_result` block must have a corresponding `tool_use` block in the previous message."},
		{"tool_use without result", `{"model":"m","max_tokens":1,"messages":[
			{"role":"user","content":"a"},
			{"role":"assistant","content":[{"type":"text","text":"t"},{"type":"tool_use","id":"toolu_A","name":"bash","input":{}},{"type":"tool_use","id":"toolu_C","name":"bash","input":{}}]},
			{"role":"user","content":"no results"}]}`,
			"messages.1: `tool_use` ids were found without `tool_result` blocks immediately after: toolu_A, toolu_C. Each `tool_use` block must have a corresponding `tool_result` block in the next message."},
		{"five breakpoints", `{"model":"m","max_tokens":1,"system":[{"type":"text","text":"a","cache_control":{"type":"ephemeral"}},{"type":"text","text":"b","cache_control":{"type":"ephemeral"}}],
			"messages":[{"role":"user","content":[{"type":"text","text":"c","cache_control":{"type":"ephemeral"}},{"type":"text","text":"d","cache_control":{"type":"ephemeral","ttl":"1h"}}]}],
			"cache_control":{"type":"ephemeral"}}`,
			"A maximum of 4 blocks with cache_control may be provided. Found 5."},
		{"bad ttl", `{"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"text","text":"c","cache_control":{"type":"ephemeral","ttl":"2h"}}]}]}`,
			"messages.0.content.0.cache_control.ttl: Input should be '5m' or '1h'"},
		// 41 chars → 11 tokens > 10.
		{"context limit", `{"model":"m","max_tokens":1,"messages":[{"role":"user","content":"` + strings.Repeat("x", 41) + `"}]}`,
			"prompt is too long: 11 tokens > 10 maximum"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wantError(t, post(t, s, "/v1/messages", c.body), 400, "invalid_request_error", c.msg)
		})
	}
	// 40 chars → 10 tokens: exactly at the limit is fine.
	if r := post(t, s, "/v1/messages", `{"model":"m","max_tokens":1,"messages":[{"role":"user","content":"`+strings.Repeat("x", 40)+`"}]}`); r.Status != 200 {
		t.Fatalf("at limit: %d %s", r.Status, r.Body)
	}
}

func TestValidToolSequences(t *testing.T) {
	s, _ := newServer(t, Options{})
	for name, body := range map[string]string{
		"paired": `{"model":"m","max_tokens":9,"messages":[{"role":"user","content":"a"},
			{"role":"assistant","content":[{"type":"tool_use","id":"toolu_A","name":"bash","input":{}}]},
			{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_A","content":"ok"}]}]}`,
		"merged same-role turns": `{"model":"m","max_tokens":9,"messages":[{"role":"user","content":"a"},
			{"role":"assistant","content":[{"type":"tool_use","id":"toolu_A","name":"bash","input":{}}]},
			{"role":"assistant","content":[{"type":"tool_use","id":"toolu_B","name":"bash","input":{}}]},
			{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_A","content":"ok"}]},
			{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_B","content":"ok"}]}]}`,
		"final assistant prefill with tool_use": `{"model":"m","max_tokens":9,"messages":[{"role":"user","content":"a"},
			{"role":"assistant","content":[{"type":"tool_use","id":"toolu_A","name":"bash","input":{}}]}]}`,
		"four breakpoints": `{"model":"m","max_tokens":9,"tools":[{"name":"t","input_schema":{"type":"object"},"cache_control":{"type":"ephemeral","ttl":"1h"}}],
			"system":[{"type":"text","text":"a","cache_control":{"type":"ephemeral"}}],
			"messages":[{"role":"user","content":[{"type":"text","text":"c","cache_control":{"type":"ephemeral"}}]}],"cache_control":{"type":"ephemeral"}}`,
	} {
		t.Run(name, func(t *testing.T) {
			if r := post(t, s, "/v1/messages", body); r.Status != 200 {
				t.Fatalf("%d %s", r.Status, r.Body)
			}
		})
	}
}

func TestRawBytesNotHTMLEscaped(t *testing.T) {
	s, _ := newServer(t, Options{ContextLimit: 10})
	r := post(t, s, "/v1/messages", `{"model":"m","max_tokens":1,"messages":[{"role":"user","content":"`+strings.Repeat("x", 41)+`"}]}`)
	if !strings.Contains(r.Body, `"message":"prompt is too long: 11 tokens > 10 maximum"`) {
		t.Fatal(r.Body)
	}
	r = post(t, s, "/v1/messages", `{"model":"m","max_tokens":99,"stream":true,"messages":[{"role":"user","content":"<observations>"}]}`)
	if !strings.Contains(r.Body, `"text":"<observations>\n- "`) || !strings.Contains(r.Body, `"text":"messages\n</observations>"`) {
		t.Fatal(r.Body)
	}
}
