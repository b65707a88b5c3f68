package handler

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/caddy-lore/caddy-lore/handler/translate"
	"github.com/caddy-lore/caddy-lore/pricing"
)

func TestWithRecallTool(t *testing.T) {
	got, ok := withRecallTool(json.RawMessage(`[{"name":"bash","input_schema":{"type":"object"}}]`))
	if !ok || !strings.HasPrefix(string(got), `[{"name":"bash","input_schema":{"type":"object"}},{"name":"recall",`) || !json.Valid(got) {
		t.Fatalf("appended: %v %s", ok, got)
	}
	for _, tools := range []string{``, `[]`, ` [ ] `, `null`, `[{"name":"recall","input_schema":{}}]`, `{"not":"an array"}`} {
		if _, ok := withRecallTool(json.RawMessage(tools)); ok {
			t.Errorf("recall added to %q", tools)
		}
	}
	// A tool merely mentioning "recall" still gets ours.
	if _, ok := withRecallTool(json.RawMessage(`[{"name":"notes","description":"\"recall\" later"}]`)); !ok {
		t.Error("a mention of recall blocked the tool")
	}
}

func TestRecallCalls(t *testing.T) {
	content := json.RawMessage(`[{"type":"text","text":"searching"},{"type":"tool_use","id":"t1","name":"recall","input":{"query":"redis port","scope":"session"}},{"type":"tool_use","id":"t2","name":"Bash","input":{}}]`)
	calls, others := recallCalls(content)
	if len(calls) != 1 || calls[0] != (recallCall{ID: "t1", Query: "redis port", Scope: "session"}) || !others {
		t.Fatalf("calls %+v others %v", calls, others)
	}
	kept := withoutRecallBlocks(content, false)
	if len(kept) != 2 || strings.Contains(string(kept[1]), "recall") {
		t.Fatalf("kept %s", kept)
	}
	msgs, err := followUpMessages(json.RawMessage(`[{"type":"tool_use","id":"t1","name":"recall","input":{}}]`), calls, []string{"found it"})
	if err != nil || !json.Valid([]byte("["+string(msgs)+"]")) ||
		!strings.Contains(string(msgs), `{"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":"found it"}]}`) {
		t.Fatalf("follow-up messages %s %v", msgs, err)
	}
	if got := string(appendMessages(json.RawMessage(`[{"a":1}]`), []byte(`{"b":2}`))); got != `[{"a":1},{"b":2}]` {
		t.Fatalf("appendMessages = %s", got)
	}
	if got := string(appendMessages(json.RawMessage(`[]`), []byte(`{"b":2}`))); got != `[{"b":2}]` {
		t.Fatalf("appendMessages = %s", got)
	}
}

// sse renders events as an upstream stream.
func sse(events ...string) string {
	var b strings.Builder
	for _, e := range events {
		var head struct {
			Type string `json:"type"`
		}
		_ = json.Unmarshal([]byte(e), &head)
		fmt.Fprintf(&b, "event: %s\ndata: %s\n\n", head.Type, e)
	}
	return b.String()
}

const (
	evStart   = `{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[],"usage":{"input_tokens":100,"output_tokens":1}}}`
	evStop    = `{"type":"message_stop"}`
	evToolUse = `{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":20}}`
	evEndTurn = `{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":7}}`
)

func textBlock(i int, text string) []string {
	return []string{
		fmt.Sprintf(`{"type":"content_block_start","index":%d,"content_block":{"type":"text","text":""}}`, i),
		fmt.Sprintf(`{"type":"content_block_delta","index":%d,"delta":{"type":"text_delta","text":%q}}`, i, text),
		fmt.Sprintf(`{"type":"content_block_stop","index":%d}`, i),
	}
}

func toolBlock(i int, id, name, input string) []string {
	return []string{
		fmt.Sprintf(`{"type":"content_block_start","index":%d,"content_block":{"type":"tool_use","id":%q,"name":%q,"input":{}}}`, i, id, name),
		fmt.Sprintf(`{"type":"content_block_delta","index":%d,"delta":{"type":"input_json_delta","partial_json":%q}}`, i, input),
		fmt.Sprintf(`{"type":"content_block_stop","index":%d}`, i),
	}
}

func join(parts ...any) []string {
	var out []string
	for _, p := range parts {
		switch v := p.(type) {
		case string:
			out = append(out, v)
		case []string:
			out = append(out, v...)
		}
	}
	return out
}

// A recall-only answer is held open and continued; the client sees one
// message: the text before the call, then the continuation re-indexed,
// usage summed over both rounds, and never the recall block.
func TestRecallRelayRounds(t *testing.T) {
	var client translate.Accumulator
	var seen []string
	rr := &recallRelay{send: func(ev translate.Event) error {
		client.Add(ev)
		seen = append(seen, string(ev.Data))
		return nil
	}}
	finals := 0
	final := func() { finals++ }
	r1 := rr.round(strings.NewReader(sse(join(evStart, textBlock(0, "Let me look."), toolBlock(1, "toolu_r", "recall", `{"query":"redis port"}`), evToolUse, evStop)...)), true, final)
	if !r1.ok || !r1.followUp || r1.others || len(r1.calls) != 1 || r1.calls[0].Query != "redis port" || finals != 0 {
		t.Fatalf("round 1: %+v finals %d", r1, finals)
	}
	if !strings.Contains(string(r1.content), `"name":"recall"`) || r1.usage.InputTokens != 100 || r1.usage.OutputTokens != 20 {
		t.Fatalf("round 1 content/usage: %s %+v", r1.content, r1.usage)
	}
	for _, s := range seen {
		if strings.Contains(s, "recall") || strings.Contains(s, "message_delta") || strings.Contains(s, "message_stop") {
			t.Fatalf("client saw %s in round 1", s)
		}
	}
	rr.finished(r1.usage)
	thinking := []string{
		`{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":""}}`,
		`{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"after the tool result"}}`,
		`{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"sig2"}}`,
		`{"type":"content_block_stop","index":0}`,
	}
	r2 := rr.round(strings.NewReader(sse(join(evStart, thinking, textBlock(1, "Port 6399."), evEndTurn, evStop)...)), false, final)
	if !r2.ok || r2.followUp || finals != 1 || !client.Done() {
		t.Fatalf("round 2: %+v finals %d done %v", r2, finals, client.Done())
	}
	reply := client.Response()
	if !sameJSON(reply.Content, `[{"type":"text","text":"Let me look."},{"type":"text","text":"Port 6399."}]`) {
		t.Fatalf("client content %s", reply.Content)
	}
	// The context the model last read (round 2's input), the output of both.
	if reply.Usage.InputTokens != 100 || reply.Usage.OutputTokens != 27 || reply.StopReason != "end_turn" {
		t.Fatalf("client usage %+v stop %s", reply.Usage, reply.StopReason)
	}
	starts := 0
	for _, s := range seen {
		if strings.Contains(s, `"message_start"`) {
			starts++
		}
	}
	if starts != 1 {
		t.Fatalf("%d message_start events reached the client", starts)
	}
}

// Beside the client's tools, the recall block is hidden and the answer ends
// as the model ended it (the results go with the next request).
func TestRecallRelayMixed(t *testing.T) {
	var client translate.Accumulator
	rr := &recallRelay{send: func(ev translate.Event) error { client.Add(ev); return nil }}
	r := rr.round(strings.NewReader(sse(join(evStart, toolBlock(0, "toolu_r", "recall", `{"query":"q"}`), toolBlock(1, "toolu_b", "Bash", `{"command":"ls"}`), evToolUse, evStop)...)), true, nil)
	if !r.ok || r.followUp || !r.others || len(r.calls) != 1 {
		t.Fatalf("mixed: %+v", r)
	}
	reply := client.Response()
	if !sameJSON(reply.Content, `[{"type":"tool_use","id":"toolu_b","name":"Bash","input":{"command":"ls"}}]`) || reply.StopReason != "tool_use" {
		t.Fatalf("client content %s stop %s", reply.Content, reply.StopReason)
	}
}

func TestRecallRelayClose(t *testing.T) {
	var client translate.Accumulator
	rr := &recallRelay{send: func(ev translate.Event) error { client.Add(ev); return nil }, out: 3, last: pricing.Usage{InputTokens: 5, OutputTokens: 1}}
	client.Add(translate.Event{Name: "message_start", Data: []byte(evStart)})
	if !rr.close(nil) || !client.Done() || client.Response().StopReason != "end_turn" || client.Response().Usage.OutputTokens != 3 {
		t.Fatalf("close: %+v", client.Response())
	}
}

func sameJSON(a json.RawMessage, b string) bool {
	var x, y any
	return json.Unmarshal(a, &x) == nil && json.Unmarshal([]byte(b), &y) == nil && fmt.Sprint(x) == fmt.Sprint(y)
}

func TestRecallRelayFail(t *testing.T) {
	var got []translate.Event
	rr := &recallRelay{send: func(ev translate.Event) error {
		got = append(got, translate.Event{Name: ev.Name, Raw: append([]byte(nil), ev.Raw...)})
		return nil
	}}
	rr.fail([]byte(`{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`))
	rr.fail([]byte(`<html>bad gateway</html>`))
	if len(got) != 2 || got[0].Name != "error" || !strings.Contains(string(got[0].Raw), "overloaded_error") ||
		!strings.Contains(string(got[1].Raw), `"type":"api_error"`) {
		t.Fatalf("error events %+v", got)
	}
}

func TestRecallAllowedAndBlankText(t *testing.T) {
	for tc, want := range map[string]bool{``: true, `{"type":"auto"}`: true, `{"type":"any"}`: false, `{"type":"tool","name":"bash"}`: false, `{"type":"none"}`: false} {
		if recallAllowed(json.RawMessage(tc)) != want {
			t.Errorf("recallAllowed(%s) != %v", tc, want)
		}
	}
	got := withoutBlankText(json.RawMessage(`[{"type":"text","text":"\n\n"},{"type":"tool_use","id":"t","name":"recall","input":{}}]`))
	if len(got) != 1 || !strings.Contains(string(got[0]), "tool_use") {
		t.Fatalf("blank text kept: %s", got)
	}
	if raw := string(withRaw(translate.Event{Name: "x", Data: []byte("a\nb")}).Raw); raw != "event: x\ndata: a\ndata: b\n\n" {
		t.Fatalf("multi-line data: %q", raw)
	}
}
