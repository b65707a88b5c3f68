package fakeupstream

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
)

func userText(text string) anthropic.MessageParam {
	return anthropic.NewUserMessage(anthropic.NewTextBlock(text))
}

func params(msgs ...anthropic.MessageParam) anthropic.MessageNewParams {
	return anthropic.MessageNewParams{Model: "claude-sonnet-4-5", MaxTokens: 1024, Messages: msgs}
}

func TestSDKMessageJSON(t *testing.T) {
	s, _ := newServer(t, Options{})
	var raw *http.Response
	msg, err := client(s).Messages.New(context.Background(), params(userText("hi")), option.WithResponseInto(&raw))
	if err != nil {
		t.Fatal(err)
	}
	if len(msg.Content) != 1 || msg.Content[0].Type != "text" || msg.Content[0].Text != "ok (turn 1)" {
		t.Fatalf("content = %+v", msg.Content)
	}
	if msg.StopReason != "end_turn" || msg.Role != "assistant" || msg.Model != "claude-sonnet-4-5" || !strings.HasPrefix(msg.ID, "msg_") {
		t.Fatalf("message = %s", msg.RawJSON())
	}
	// "hi" = 2 chars → 1 token; "ok (turn 1)" = 11 chars → 3 tokens.
	u := msg.Usage
	if u.InputTokens != 1 || u.OutputTokens != 3 || u.CacheReadInputTokens != 0 || u.CacheCreationInputTokens != 0 || u.ServiceTier != "standard" {
		t.Fatalf("usage = %s", u.RawJSON())
	}
	if !regexp.MustCompile(`^req_\w+$`).MatchString(raw.Header.Get("request-id")) ||
		raw.Header.Get("anthropic-ratelimit-requests-limit") != "4000" ||
		raw.Header.Get("anthropic-ratelimit-tokens-remaining") != "1999999" {
		t.Fatalf("headers = %v", raw.Header)
	}
	reqs := s.Requests()
	// anthropic-sdk-go v2 sends its key as "Authorization: Bearer" and its own
	// anthropic-version; the fake accepts both, as the real API does.
	if len(reqs) != 1 || reqs[0].Path != "/v1/messages" || reqs[0].Header.Get("Authorization") != "Bearer "+keyA ||
		reqs[0].Header.Get("anthropic-version") == "" || !strings.Contains(string(reqs[0].Body), `"max_tokens":1024`) {
		t.Fatalf("recorded = %+v", reqs)
	}
}

func TestSDKMessageStreamMatchesJSON(t *testing.T) {
	s, _ := newServer(t, Options{})
	c := client(s)
	p := params(userText("first"), anthropic.NewAssistantMessage(anthropic.NewTextBlock("ok (turn 1)")), userText("second [[thinking]]"))
	want, err := c.Messages.New(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	stream := c.Messages.NewStreaming(context.Background(), p)
	var acc anthropic.Message
	var types []string
	for stream.Next() {
		ev := stream.Current()
		types = append(types, ev.Type)
		if err := acc.Accumulate(ev); err != nil {
			t.Fatal(err)
		}
		if ev.Type == "message_start" && (ev.Message.Usage.InputTokens != want.Usage.InputTokens || ev.Message.StopReason != "") {
			t.Fatalf("message_start = %s", ev.RawJSON())
		}
		if ev.Type == "message_delta" && (ev.Usage.InputTokens != want.Usage.InputTokens || ev.Usage.OutputTokens != want.Usage.OutputTokens) {
			t.Fatalf("message_delta usage = %s", ev.Usage.RawJSON())
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	wantTypes := "message_start content_block_start content_block_delta content_block_delta content_block_delta content_block_delta content_block_delta content_block_stop " +
		"content_block_start content_block_delta content_block_delta content_block_delta content_block_stop message_delta message_stop"
	if got := strings.Join(types, " "); got != wantTypes {
		t.Fatalf("events (ping is skipped by the SDK):\n%s\nwant\n%s", got, wantTypes)
	}
	if len(acc.Content) != 2 || acc.Content[0].Type != "thinking" || acc.Content[0].Thinking != "thinking about turn 2" ||
		acc.Content[0].Signature != want.Content[0].Signature || !strings.HasPrefix(acc.Content[0].Signature, "EqQB") ||
		acc.Content[1].Text != "ok (turn 2)" || acc.StopReason != "end_turn" {
		t.Fatalf("accumulated = %s", mustJSON(t, acc.Content))
	}
	// "first"+"ok (turn 1)"+"second [[thinking]]" = 5+11+19 = 35 chars → 9 tokens.
	// Output "thinking about turn 2" + "ok (turn 2)" = 21+11 = 32 → 8.
	if acc.Usage.InputTokens != 9 || acc.Usage.OutputTokens != 8 || want.Usage.InputTokens != 9 || want.Usage.OutputTokens != 8 {
		t.Fatalf("usage stream %s json %s", acc.Usage.RawJSON(), want.Usage.RawJSON())
	}
}

func TestRawSSEFraming(t *testing.T) {
	s, _ := newServer(t, Options{})
	r := post(t, s, "/v1/messages", `{"model":"m","max_tokens":10,"stream":true,"messages":[{"role":"user","content":"yo"}]}`)
	if r.Status != 200 || r.Header.Get("Content-Type") != "text/event-stream; charset=utf-8" || r.Header.Get("request-id") == "" {
		t.Fatalf("%d %v", r.Status, r.Header)
	}
	want := `event: message_start
data: {"type":"message_start","message":{"id":"MSGID","type":"message","role":"assistant","model":"m","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":1,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"cache_creation":{"ephemeral_5m_input_tokens":0,"ephemeral_1h_input_tokens":0},"output_tokens":1,"service_tier":"standard"}}}

event: content_block_start
data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}

event: ping
data: {"type":"ping"}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"ok "}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"(turn "}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"1)"}}

event: content_block_stop
data: {"type":"content_block_stop","index":0}

event: message_delta
data: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"input_tokens":1,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":3}}

event: message_stop
data: {"type":"message_stop"}

`
	got := regexp.MustCompile(`"id":"msg_\w+"`).ReplaceAllString(r.Body, `"id":"MSGID"`)
	if got != want {
		t.Fatalf("stream:\n%s\nwant:\n%s", got, want)
	}
}

func TestSDKToolUseLoop(t *testing.T) {
	s, _ := newServer(t, Options{})
	c := client(s)
	tools := []anthropic.ToolUnionParam{{OfTool: &anthropic.ToolParam{
		Name: "bash", InputSchema: anthropic.ToolInputSchemaParam{Properties: map[string]any{"command": map[string]any{"type": "string"}}},
	}}}
	p := params(userText("list files [[tool:bash]]"))
	p.Tools = tools
	stream := c.Messages.NewStreaming(context.Background(), p)
	var acc anthropic.Message
	for stream.Next() {
		if err := acc.Accumulate(stream.Current()); err != nil {
			t.Fatal(err)
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if acc.StopReason != "tool_use" || len(acc.Content) != 2 || acc.Content[0].Text != "ok (turn 1)" {
		t.Fatalf("reply = %s", mustJSON(t, acc.Content))
	}
	tu := acc.Content[1]
	if tu.Type != "tool_use" || tu.Name != "bash" || string(tu.Input) != `{"command":"echo hi"}` || !regexp.MustCompile(`^toolu_01[0-9a-f]{22}$`).MatchString(tu.ID) {
		t.Fatalf("tool_use = %s", tu.RawJSON())
	}
	// Output: "ok (turn 1)" 11 + "bash" 4 + {"command":"echo hi"} 21 = 36 chars → 9 tokens.
	if acc.Usage.OutputTokens != 9 {
		t.Fatalf("output tokens = %d", acc.Usage.OutputTokens)
	}
	// The same prompt gives the same tool id (deterministic), non-streaming too.
	again, err := c.Messages.New(context.Background(), p)
	if err != nil || again.Content[1].ID != tu.ID {
		t.Fatalf("again: %v %s", err, again.RawJSON())
	}
	// Second turn: answer the tool; the reply ends the loop.
	p.Messages = append(p.Messages, acc.ToParam(), anthropic.NewUserMessage(anthropic.NewToolResultBlock(tu.ID, "hi\n", false)))
	final, err := c.Messages.New(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	if final.StopReason != "end_turn" || final.Content[0].Text != "ok (turn 2)" || len(final.Content) != 1 {
		t.Fatalf("final = %s", final.RawJSON())
	}
}

func TestObservationsReply(t *testing.T) {
	s, _ := newServer(t, Options{})
	p := params(userText("Transcript:\n[user] fix the bug\n[assistant] looking\n  [user] thanks\nnot a turn [user]"))
	p.System = []anthropic.TextBlockParam{{Text: "Distill the transcript into an <observations> block."}}
	p.Messages[0].OfUser.Content = append(p.Messages[0].OfUser.Content, anthropic.NewTextBlock("[assistant] done [[tool:bash]]"))
	msg, err := client(s).Messages.New(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	if len(msg.Content) != 1 || msg.Content[0].Text != "<observations>\n- distilled 4 messages\n</observations>" || msg.StopReason != "end_turn" {
		t.Fatalf("reply = %s", msg.RawJSON())
	}
}

func TestMaxTokens(t *testing.T) {
	s, _ := newServer(t, Options{})
	r := post(t, s, "/v1/messages", `{"model":"m","max_tokens":0,"messages":[{"role":"user","content":"warm"}]}`)
	m := r.json(t)
	if r.Status != 200 || m["stop_reason"] != "max_tokens" || len(m["content"].([]any)) != 0 || m["usage"].(map[string]any)["output_tokens"] != 0.0 {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	r = post(t, s, "/v1/messages", `{"model":"m","max_tokens":1,"messages":[{"role":"user","content":"x [[tool:bash]]"}]}`)
	m = r.json(t)
	content := m["content"].([]any)
	if m["stop_reason"] != "max_tokens" || len(content) != 1 || content[0].(map[string]any)["text"] != "ok (" {
		t.Fatalf("%s", r.Body)
	}
}

func TestSDKErrors(t *testing.T) {
	s, _ := newServer(t, Options{})
	_, err := client(s, option.WithAPIKey("sk-wrong")).Messages.New(context.Background(), params(userText("hi")))
	var ae *anthropic.Error
	if !errors.As(err, &ae) || ae.StatusCode != 401 || ae.Type() != "authentication_error" || !strings.HasPrefix(ae.RequestID, "req_") ||
		!strings.Contains(ae.RawJSON(), `"message":"Invalid bearer token"`) {
		t.Fatalf("err = %v", err)
	}
	_, err = client(s).Messages.New(context.Background(), anthropic.MessageNewParams{Model: "m", MaxTokens: 5})
	if !errors.As(err, &ae) || ae.StatusCode != 400 || ae.Type() != "invalid_request_error" || !strings.Contains(ae.RawJSON(), `"message":"messages: Field required"`) {
		t.Fatalf("err = %v", err)
	}
}

func TestSDKMidStreamError(t *testing.T) {
	s, _ := newServer(t, Options{})
	stream := client(s).Messages.NewStreaming(context.Background(), params(userText("boom [[stream:error]]")))
	n := 0
	for stream.Next() {
		n++
	}
	var ae *anthropic.Error
	if err := stream.Err(); !errors.As(err, &ae) || ae.StatusCode != 200 || ae.Type() != "overloaded_error" || !strings.Contains(ae.RawJSON(), `"message":"Overloaded"`) {
		t.Fatalf("err = %v", err)
	}
	if n != 2 { // message_start, content_block_start
		t.Fatalf("events before the error = %d", n)
	}
}

func TestSDKCountTokensAndModels(t *testing.T) {
	s, _ := newServer(t, Options{})
	c := client(s)
	ct, err := c.Messages.CountTokens(context.Background(), anthropic.MessageCountTokensParams{
		Model:    "claude-sonnet-4-5",
		Messages: []anthropic.MessageParam{userText("0123456789")},
		System:   anthropic.MessageCountTokensParamsSystemUnion{OfString: anthropic.String("abcdef")},
	})
	if err != nil || ct.InputTokens != 4 { // 10+6 = 16 chars
		t.Fatalf("count = %v %v", ct, err)
	}
	if got := EstimateTokens([]byte(`{"system":"abcdef","messages":[{"role":"user","content":[{"type":"text","text":"0123456789"}]}]}`)); got != 4 {
		t.Fatalf("EstimateTokens = %d", got)
	}
	r := post(t, s, "/v1/messages/count_tokens", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"x"}]}`)
	wantError(t, r, 400, "invalid_request_error", "max_tokens: Extra inputs are not permitted")

	page, err := c.Models.List(context.Background(), anthropic.ModelListParams{})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range page.Data {
		ids = append(ids, m.ID)
	}
	if strings.Join(ids, ",") != "claude-sonnet-4-6,claude-opus-4-6,claude-opus-4-5-20251101,claude-haiku-4-5-20251001,claude-sonnet-4-5-20250929" ||
		page.HasMore || page.FirstID != "claude-sonnet-4-6" || page.Data[4].DisplayName != "Claude Sonnet 4.5" {
		t.Fatalf("models = %s", page.RawJSON())
	}
	m, err := c.Models.Get(context.Background(), "claude-haiku-4-5", anthropic.ModelGetParams{})
	if err != nil || m.ID != "claude-haiku-4-5-20251001" || m.MaxInputTokens != 200000 {
		t.Fatalf("model = %v %v", m, err)
	}
}

func TestEstimateTokensRule(t *testing.T) {
	body := `{"tools":[{"name":"bash","description":"run","input_schema":{"type":"object"},"cache_control":{"type":"ephemeral"}}],
	"system":[{"type":"text","text":"sys"}],
	"messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/png","data":"AAAA"}},{"type":"text","text":"look"}]},
	{"role":"assistant","content":[{"type":"thinking","thinking":"hmm","signature":"x"},{"type":"tool_use","id":"toolu_1","name":"bash","input":{"a":1}}]},
	{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":[{"type":"text","text":"out"}]}]}]}`
	// tools 4+3+17 ({"type":"object"}) + sys 3 + image 6400 + look 4 + hmm 3 + bash 4+{"a":1} 7 + out 3 = 6448 → 1612.
	var v any
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatal(err)
	}
	if got := EstimateTokens([]byte(body)); got != 1612 {
		t.Fatalf("EstimateTokens = %d", got)
	}
	if got := EstimateTokens([]byte("not json at all!")); got != 4 {
		t.Fatalf("non-JSON = %d", got)
	}
}
