package translate

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/packages/ssestream"

	"github.com/caddy-lore/caddy-lore/pricing"
)

// anthSSE builds an Anthropic SSE stream from (event name, data) pairs.
func anthSSE(pairs ...string) string {
	var b strings.Builder
	for i := 0; i+1 < len(pairs); i += 2 {
		b.WriteString("event: " + pairs[i] + "\ndata: " + pairs[i+1] + "\n\n")
	}
	return b.String()
}

// A text block, then two tool_use blocks in one turn.
var multiToolStream = anthSSE(
	"message_start", `{"type":"message_start","message":{"id":"msg_2","type":"message","role":"assistant","content":[],"model":"claude-x","stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":12,"cache_read_input_tokens":100,"cache_creation_input_tokens":7,"output_tokens":1}}}`,
	"content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`,
	"ping", `{"type":"ping"}`,
	"content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Let me <check> & see."}}`,
	"content_block_stop", `{"type":"content_block_stop","index":0}`,
	"content_block_start", `{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_a","name":"read","input":{}}}`,
	"content_block_delta", `{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":""}}`,
	"content_block_delta", `{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"path\":"}}`,
	"content_block_delta", `{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"\"a.go\"}"}}`,
	"content_block_stop", `{"type":"content_block_stop","index":1}`,
	"content_block_start", `{"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"toolu_b","name":"ls","input":{}}}`,
	"content_block_delta", `{"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{}"}}`,
	"content_block_stop", `{"type":"content_block_stop","index":2}`,
	"message_delta", `{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"input_tokens":12,"cache_creation_input_tokens":7,"cache_read_input_tokens":100,"output_tokens":42}}`,
	"message_stop", `{"type":"message_stop"}`,
)

// recorder records every Write separately.
type recorder struct{ writes []string }

func (r *recorder) Write(p []byte) (int, error) {
	r.writes = append(r.writes, string(p))
	return len(p), nil
}

func (r *recorder) String() string { return strings.Join(r.writes, "") }

// translateStream runs an Anthropic SSE stream through a StreamTranslator
// and returns the writes each event produced.
func translateStream(t *testing.T, sse string, includeUsage bool) ([][]string, string) {
	t.Helper()
	rec := &recorder{}
	tr := NewStreamTranslator(rec, "claude-requested", 1700000000, includeUsage)
	er := NewEventReader(strings.NewReader(sse))
	var perEvent [][]string
	for {
		ev, err := er.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		before := len(rec.writes)
		if err := tr.Event(ev); err != nil {
			t.Fatal(err)
		}
		perEvent = append(perEvent, rec.writes[before:])
	}
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	return perEvent, rec.String()
}

func TestStreamTranslatorMultiToolIncludeUsage(t *testing.T) {
	perEvent, out := translateStream(t, multiToolStream, true)
	const p = `data: {"id":"chatcmpl-msg_2","object":"chat.completion.chunk","created":1700000000,"model":"claude-x","choices":[{"index":0,"delta":`
	const s = `,"logprobs":null,"finish_reason":null}],"usage":null}` + "\n\n"
	want := []string{
		p + `{"role":"assistant","content":""}` + s, // message_start
		``, // content_block_start (empty text)
		``, // ping
		p + `{"content":"Let me <check> & see."}` + s,
		``,
		p + `{"tool_calls":[{"index":0,"id":"toolu_a","type":"function","function":{"name":"read","arguments":""}}]}` + s,
		``, // empty partial_json
		p + `{"tool_calls":[{"index":0,"function":{"arguments":"{\"path\":"}}]}` + s,
		p + `{"tool_calls":[{"index":0,"function":{"arguments":"\"a.go\"}"}}]}` + s,
		``,
		p + `{"tool_calls":[{"index":1,"id":"toolu_b","type":"function","function":{"name":"ls","arguments":""}}]}` + s,
		p + `{"tool_calls":[{"index":1,"function":{"arguments":"{}"}}]}` + s,
		``,
		p + `{},"logprobs":null,"finish_reason":"tool_calls"}],"usage":null}` + "\n\n",
		`data: {"id":"chatcmpl-msg_2","object":"chat.completion.chunk","created":1700000000,"model":"claude-x","choices":[],` +
			`"usage":{"prompt_tokens":119,"completion_tokens":42,"total_tokens":161,"prompt_tokens_details":{"cached_tokens":100,"cache_write_tokens":7}}}` + "\n\n" +
			"data: [DONE]\n\n",
	}
	if len(perEvent) != len(want) {
		t.Fatalf("%d events, want %d", len(perEvent), len(want))
	}
	for i, w := range perEvent {
		// Incremental: each event is answered by at most one Write, made
		// before the next event is read.
		if len(w) > 1 {
			t.Errorf("event %d: %d writes, want at most 1", i, len(w))
		}
		if got := strings.Join(w, ""); got != want[i] {
			t.Errorf("event %d:\n got %q\nwant %q", i, got, want[i])
		}
	}

	// The official client reads it: same id on every chunk, tool calls keyed
	// by index, finish_reason, usage from the usage chunk.
	cc := readWithOpenAIClient(t, out)
	if cc.ID != "chatcmpl-msg_2" || cc.Model != "claude-x" || cc.Created != 1700000000 || len(cc.Choices) != 1 {
		t.Fatalf("%+v", cc)
	}
	m := cc.Choices[0].Message
	if cc.Choices[0].FinishReason != "tool_calls" || m.Role != "assistant" || m.Content != "Let me <check> & see." || len(m.ToolCalls) != 2 ||
		m.ToolCalls[0].ID != "toolu_a" || m.ToolCalls[0].Type != "function" || m.ToolCalls[0].Function.Name != "read" ||
		m.ToolCalls[0].Function.Arguments != `{"path":"a.go"}` ||
		m.ToolCalls[1].ID != "toolu_b" || m.ToolCalls[1].Function.Name != "ls" || m.ToolCalls[1].Function.Arguments != `{}` {
		t.Fatalf("message %+v", m)
	}
	if cc.Usage.PromptTokens != 119 || cc.Usage.CompletionTokens != 42 || cc.Usage.TotalTokens != 161 {
		t.Fatalf("usage %+v", cc.Usage)
	}
}

// readWithOpenAIClient decodes an OpenAI SSE body with openai-go's own stream
// decoder and accumulator.
func readWithOpenAIClient(t *testing.T, body string) openai.ChatCompletion {
	t.Helper()
	res := &http.Response{Header: http.Header{"Content-Type": {"text/event-stream"}}, Body: io.NopCloser(strings.NewReader(body))}
	stream := ssestream.NewStream[openai.ChatCompletionChunk](ssestream.NewDecoder(res), nil)
	defer func() { _ = stream.Close() }()
	var acc openai.ChatCompletionAccumulator
	n := 0
	for stream.Next() {
		if !acc.AddChunk(stream.Current()) {
			t.Fatalf("chunk %d not accumulated (id changed?)", n)
		}
		n++
	}
	if err := stream.Err(); err != nil {
		t.Fatalf("stream error: %v", err)
	}
	return acc.ChatCompletion
}

func TestStreamTranslatorTextNoUsage(t *testing.T) {
	// The docs' minimal text stream, with a stop_sequence stop.
	sse := anthSSE(
		"message_start", `{"type": "message_start", "message": {"id": "msg_1nZ", "type": "message", "role": "assistant", "content": [], "model": "claude-sonnet-4-5-20250929", "stop_reason": null, "stop_sequence": null, "usage": {"input_tokens": 25, "output_tokens": 1}}}`,
		"content_block_start", `{"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}`,
		"ping", `{"type": "ping"}`,
		"content_block_delta", `{"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hello"}}`,
		"content_block_delta", `{"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "!"}}`,
		"content_block_stop", `{"type": "content_block_stop", "index": 0}`,
		"message_delta", `{"type": "message_delta", "delta": {"stop_reason": "stop_sequence", "stop_sequence":"END"}, "usage": {"output_tokens": 15}}`,
		"message_stop", `{"type": "message_stop"}`,
	)
	_, out := translateStream(t, sse, false)
	const p = `data: {"id":"chatcmpl-msg_1nZ","object":"chat.completion.chunk","created":1700000000,"model":"claude-sonnet-4-5-20250929","choices":[{"index":0,"delta":`
	const s = `,"logprobs":null,"finish_reason":null}]}` + "\n\n"
	want := p + `{"role":"assistant","content":""}` + s +
		p + `{"content":"Hello"}` + s +
		p + `{"content":"!"}` + s +
		p + `{},"logprobs":null,"finish_reason":"stop"}]}` + "\n\n" +
		"data: [DONE]\n\n"
	if out != want {
		t.Fatalf("got\n%s\nwant\n%s", out, want)
	}
	cc := readWithOpenAIClient(t, out)
	if cc.Choices[0].Message.Content != "Hello!" || cc.Choices[0].FinishReason != "stop" || cc.Usage.TotalTokens != 0 {
		t.Fatalf("%+v", cc)
	}
}

func TestStreamTranslatorStopVariants(t *testing.T) {
	for stop, want := range map[string]string{"end_turn": "stop", "max_tokens": "length", "tool_use": "tool_calls", "refusal": "content_filter", "pause_turn": "stop"} {
		sse := anthSSE(
			"message_start", `{"type":"message_start","message":{"id":"msg_s","model":"m","usage":{"input_tokens":3,"output_tokens":1}}}`,
			"content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":"x"}}`,
			"message_delta", `{"type":"message_delta","delta":{"stop_reason":"`+stop+`"},"usage":{"output_tokens":2}}`,
			"message_stop", `{"type":"message_stop"}`)
		_, out := translateStream(t, sse, true)
		cc := readWithOpenAIClient(t, out)
		if string(cc.Choices[0].FinishReason) != want || cc.Choices[0].Message.Content != "x" ||
			cc.Usage.PromptTokens != 3 || cc.Usage.CompletionTokens != 2 || cc.Usage.TotalTokens != 5 {
			t.Errorf("%s: %+v", stop, cc)
		}
	}
	// message_stop without message_delta: finish_reason "stop".
	_, out := translateStream(t, anthSSE("message_start", `{"type":"message_start","message":{"id":"msg_n","model":"m"}}`, "message_stop", `{"type":"message_stop"}`), false)
	if !strings.Contains(out, `"finish_reason":"stop"`) || !strings.HasSuffix(out, "data: [DONE]\n\n") {
		t.Fatalf("%s", out)
	}
}

func TestStreamTranslatorThinking(t *testing.T) {
	sse := anthSSE(
		"message_start", `{"type":"message_start","message":{"id":"msg_t","model":"m","usage":{"input_tokens":1,"output_tokens":1}}}`,
		"content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}}`,
		"content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"hmm"}}`,
		"content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"EqQB"}}`,
		"content_block_stop", `{"type":"content_block_stop","index":0}`,
		"content_block_start", `{"type":"content_block_start","index":1,"content_block":{"type":"redacted_thinking","data":"xx"}}`,
		"content_block_start", `{"type":"content_block_start","index":2,"content_block":{"type":"text","text":""}}`,
		"content_block_delta", `{"type":"content_block_delta","index":2,"delta":{"type":"text_delta","text":"ok"}}`,
		"message_delta", `{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":9}}`,
		"message_stop", `{"type":"message_stop"}`)
	_, out := translateStream(t, sse, false)
	const p = `data: {"id":"chatcmpl-msg_t","object":"chat.completion.chunk","created":1700000000,"model":"m","choices":[{"index":0,"delta":`
	const s = `,"logprobs":null,"finish_reason":null}]}` + "\n\n"
	want := p + `{"role":"assistant","content":""}` + s +
		p + `{"reasoning_content":"hmm"}` + s +
		p + `{"content":"ok"}` + s +
		p + `{},"logprobs":null,"finish_reason":"stop"}]}` + "\n\n" +
		"data: [DONE]\n\n"
	if out != want {
		t.Fatalf("got\n%s\nwant\n%s", out, want)
	}
}

func TestStreamTranslatorErrors(t *testing.T) {
	// An error event mid-stream: an OpenAI error object, then [DONE]; the
	// official client raises it as a stream error.
	sse := anthSSE(
		"message_start", `{"type":"message_start","message":{"id":"msg_e","model":"m"}}`,
		"content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`,
		"content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"par"}}`,
		"error", `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`,
		"message_stop", `{"type":"message_stop"}`)
	perEvent, out := translateStream(t, sse, false)
	if got := strings.Join(perEvent[3], ""); got != `data: {"error":{"message":"Overloaded","type":"overloaded_error","param":null,"code":null}}`+"\n\ndata: [DONE]\n\n" {
		t.Fatalf("error event: %q", got)
	}
	if len(perEvent[4]) != 0 {
		t.Fatalf("events after [DONE] must be ignored: %q", perEvent[4])
	}
	res := &http.Response{Header: http.Header{"Content-Type": {"text/event-stream"}}, Body: io.NopCloser(strings.NewReader(out))}
	stream := ssestream.NewStream[openai.ChatCompletionChunk](ssestream.NewDecoder(res), nil)
	var content string
	for stream.Next() {
		for _, c := range stream.Current().Choices {
			content += c.Delta.Content
		}
	}
	if content != "par" || stream.Err() == nil || !strings.Contains(stream.Err().Error(), "Overloaded") {
		t.Fatalf("content %q err %v", content, stream.Err())
	}

	// Upstream cut before message_stop: Close reports it, then [DONE].
	rec := &recorder{}
	tr := NewStreamTranslator(rec, "claude-req", 5, false)
	_ = tr.Event(Event{Name: "message_start", Data: []byte(`{"type":"message_start","message":{"id":"msg_c","model":"m"}}`)})
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	if len(rec.writes) != 2 || rec.writes[1] != `data: {"error":{"message":"the upstream stream ended before the answer was complete","type":"api_error","param":null,"code":null}}`+"\n\ndata: [DONE]\n\n" {
		t.Fatalf("close: %q", rec.writes)
	}
	if !tr.Done() || tr.Close() != nil || len(rec.writes) != 2 {
		t.Fatal("second Close must write nothing")
	}

	// Cut after the finish chunk (only message_stop lost): the answer is
	// whole, so Close sends the usage chunk and [DONE], no error.
	rec = &recorder{}
	tr = NewStreamTranslator(rec, "claude-req", 5, true)
	for _, d := range []string{
		`{"type":"message_start","message":{"id":"msg_f","model":"m","usage":{"input_tokens":4,"output_tokens":1}}}`,
		`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"hi"}}`,
		`{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":2}}`,
	} {
		_ = tr.Event(Event{Data: []byte(d)})
	}
	_ = tr.Close()
	if got := rec.writes[len(rec.writes)-1]; got != `data: {"id":"chatcmpl-msg_f","object":"chat.completion.chunk","created":5,"model":"m","choices":[],"usage":{"prompt_tokens":4,"completion_tokens":2,"total_tokens":6,"prompt_tokens_details":{"cached_tokens":0,"cache_write_tokens":0}}}`+"\n\ndata: [DONE]\n\n" {
		t.Fatalf("close after finish: %q", got)
	}
	if cc := readWithOpenAIClient(t, rec.String()); cc.Choices[0].Message.Content != "hi" || cc.Choices[0].FinishReason != "stop" || cc.Usage.TotalTokens != 6 {
		t.Fatalf("%+v", cc)
	}

	// An error before anything else, not JSON: still an error object.
	rec = &recorder{}
	tr = NewStreamTranslator(rec, "claude-req", 5, true)
	_ = tr.Event(Event{Name: "error", Data: []byte(`upstream exploded`)})
	if rec.String() != `data: {"error":{"message":"the upstream stream failed","type":"api_error","param":null,"code":null}}`+"\n\ndata: [DONE]\n\n" {
		t.Fatalf("%q", rec.String())
	}
	// Non-JSON, unknown events are ignored; a failing writer's error is returned.
	rec = &recorder{}
	tr = NewStreamTranslator(rec, "claude-req", 5, false)
	if tr.Event(Event{Name: "message", Data: []byte(`garbage`)}) != nil || tr.Event(Event{Name: "future", Data: []byte(`{"type":"future"}`)}) != nil || len(rec.writes) != 0 {
		t.Fatalf("%q", rec.writes)
	}
	boom := errors.New("client gone")
	tr = NewStreamTranslator(failWriter{boom}, "claude-req", 5, false)
	if err := tr.Event(Event{Data: []byte(`{"type":"message_start","message":{"id":"m"}}`)}); err != boom {
		t.Fatalf("write error %v", err)
	}
}

type failWriter struct{ err error }

func (f failWriter) Write([]byte) (int, error) { return 0, f.err }

func TestStreamTranslatorNoMessageStartModelFallback(t *testing.T) {
	rec := &recorder{}
	tr := NewStreamTranslator(rec, "claude-requested", 9, false)
	_ = tr.Event(Event{Data: []byte(`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"x"}}`)})
	want := `data: {"id":"chatcmpl-lore-9","object":"chat.completion.chunk","created":9,"model":"claude-requested","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}` + "\n\n" +
		`data: {"id":"chatcmpl-lore-9","object":"chat.completion.chunk","created":9,"model":"claude-requested","choices":[{"index":0,"delta":{"content":"x"},"logprobs":null,"finish_reason":null}]}` + "\n\n"
	if rec.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", rec.String(), want)
	}
}

// TestStreamRoundTripMatchesAccumulator: what an OpenAI client is streamed
// rebuilds into the same stored answer as the Anthropic stream itself.
func TestStreamRoundTripMatchesAccumulator(t *testing.T) {
	_, out := translateStream(t, multiToolStream, true)
	var oacc OpenAIAccumulator
	er := NewEventReader(strings.NewReader(out))
	for {
		ev, err := er.Next()
		if err != nil {
			break
		}
		oacc.Add(ev.Data)
	}
	var aacc Accumulator
	er = NewEventReader(strings.NewReader(multiToolStream))
	for {
		ev, err := er.Next()
		if err != nil {
			break
		}
		aacc.Add(ev)
	}
	got, want := oacc.Response(), aacc.Response()
	if !oacc.Done() || got.ID != "chatcmpl-msg_2" || got.Model != want.Model || got.StopReason != want.StopReason || got.Usage != want.Usage {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	// Same blocks (the Anthropic accumulator sorts keys).
	if string(got.Content) != `[{"type":"text","text":"Let me <check> & see."},{"type":"tool_use","id":"toolu_a","name":"read","input":{"path":"a.go"}},{"type":"tool_use","id":"toolu_b","name":"ls","input":{}}]` {
		t.Fatalf("content %s", got.Content)
	}
}

func TestOpenAIAccumulator(t *testing.T) {
	// data:-only chunks as an OpenAI upstream sends them: two tool calls
	// keyed by index, interleaved, then finish_reason, usage, [DONE].
	chunks := []string{
		`{"id":"chatcmpl-u","object":"chat.completion.chunk","created":1,"model":"gpt-4.1","choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}],"usage":null}`,
		`{"id":"chatcmpl-u","object":"chat.completion.chunk","created":1,"model":"gpt-4.1","choices":[{"index":0,"delta":{"content":"Checking"},"finish_reason":null}],"usage":null}`,
		`{"id":"chatcmpl-u","object":"chat.completion.chunk","created":1,"model":"gpt-4.1","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"read","arguments":""}}]},"finish_reason":null}],"usage":null}`,
		`{"id":"chatcmpl-u","object":"chat.completion.chunk","created":1,"model":"gpt-4.1","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_2","type":"function","function":{"name":"ls","arguments":"{\"d\":"}}]},"finish_reason":null}],"usage":null}`,
		`{"id":"chatcmpl-u","object":"chat.completion.chunk","created":1,"model":"gpt-4.1","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"p\":\"a\"}"}}]},"finish_reason":null}],"usage":null}`,
		`{"id":"chatcmpl-u","object":"chat.completion.chunk","created":1,"model":"gpt-4.1","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"function":{"arguments":"\".\"}"}}]},"finish_reason":null}],"usage":null}`,
		`{"id":"chatcmpl-u","object":"chat.completion.chunk","created":1,"model":"gpt-4.1","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}],"usage":null}`,
	}
	var a OpenAIAccumulator
	for _, c := range chunks {
		a.Add([]byte(c))
	}
	if !a.Done() {
		t.Fatal("finish_reason seen: done")
	}
	a.Add([]byte(`{"id":"chatcmpl-u","object":"chat.completion.chunk","created":1,"model":"gpt-4.1","choices":[],"usage":{"prompt_tokens":50,"completion_tokens":9,"total_tokens":59,"prompt_tokens_details":{"cached_tokens":32}}}`))
	a.Add([]byte(`[DONE]`))
	r := a.Response()
	if r.ID != "chatcmpl-u" || r.Model != "gpt-4.1" || r.StopReason != "tool_use" || r.Usage != (pricing.Usage{InputTokens: 18, OutputTokens: 9, CacheReadTokens: 32}) {
		t.Fatalf("%+v", r)
	}
	if string(r.Content) != `[{"type":"text","text":"Checking"},{"type":"tool_use","id":"call_1","name":"read","input":{"p":"a"}},{"type":"tool_use","id":"call_2","name":"ls","input":{"d":"."}}]` {
		t.Fatalf("content %s", r.Content)
	}

	// A provider that omits the tool-call index, and one that errors.
	var b OpenAIAccumulator
	for _, c := range []string{
		`{"id":"x","model":"g","choices":[{"index":0,"delta":{"tool_calls":[{"id":"c1","function":{"name":"f","arguments":"{\"a\""}}]}}]}`,
		`{"id":"x","model":"g","choices":[{"index":0,"delta":{"tool_calls":[{"function":{"arguments":":1}"}}]}}]}`,
		`{"id":"x","model":"g","choices":[{"index":0,"delta":{"tool_calls":[{"id":"c2","function":{"name":"g","arguments":"{}"}}]}}]}`,
		`{"id":"x","model":"g","choices":[{"index":1,"delta":{"content":"other choice"}}]}`,
		`{"id":"x","model":"g","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`,
	} {
		b.Add([]byte(c))
	}
	if r := b.Response(); !b.Done() || r.StopReason != "end_turn" ||
		string(r.Content) != `[{"type":"tool_use","id":"c1","name":"f","input":{"a":1}},{"type":"tool_use","id":"c2","name":"g","input":{}}]` {
		t.Fatalf("%+v %s", r, r.Content)
	}
	var c OpenAIAccumulator
	c.Add([]byte(`{"id":"x","choices":[{"index":0,"delta":{"content":"par"}}]}`))
	c.Add([]byte(`{"error":{"message":"boom","type":"server_error"}}`))
	c.Add([]byte(`not json`))
	c.Add([]byte(`[DONE]`))
	if c.Done() || string(c.Response().Content) != `[{"type":"text","text":"par"}]` {
		t.Fatalf("errored stream must not be done: %s", c.Response().Content)
	}
	var d OpenAIAccumulator
	if d.Done() || string(d.Response().Content) != `[]` {
		t.Fatal("empty accumulator")
	}
}
