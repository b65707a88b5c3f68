package translate

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/caddy-lore/caddy-lore/msg"
)

// openAIAgentSession builds a coding-agent-shaped chat-completions request
// with n messages: system, a task, then assistant tool calls (two per turn
// every third turn) answered by ~4 KB tool outputs, ending on a user turn.
func openAIAgentSession(n int) []byte {
	out, _ := json.Marshal(strings.Repeat("func main() {\n\tfmt.Println(\"hello <world>\")\n}\n", 100))
	msgs := []string{
		`{"role":"system","content":"You are a coding agent. Use the tools to read and edit files."}`,
		`{"role":"user","content":"Fix the failing tests in the repo."}`,
	}
	call := 0
	for len(msgs) < n-1 {
		turn := len(msgs)
		calls := 1
		if turn%3 == 0 {
			calls = 2
		}
		room := n - 1 - len(msgs)
		if room < 2 {
			msgs = append(msgs, `{"role":"user","content":"Keep going, and mind the <edge> cases & errors."}`)
			continue
		}
		calls = min(calls, room-1)
		var tcs []string
		for k := 0; k < calls; k++ {
			call++
			tcs = append(tcs, fmt.Sprintf(`{"id":"call_%06d","type":"function","function":{"name":"read_file","arguments":"{\"path\":\"/repo/pkg/file%d.go\"}"}}`, call, call))
		}
		msgs = append(msgs, fmt.Sprintf(`{"role":"assistant","content":"Let me look at file %d.","tool_calls":[%s]}`, call, strings.Join(tcs, ",")))
		for k := calls - 1; k >= 0; k-- {
			msgs = append(msgs, fmt.Sprintf(`{"role":"tool","tool_call_id":"call_%06d","content":%s}`, call-k, out))
		}
	}
	msgs = append(msgs, `{"role":"user","content":"Now run the tests."}`)
	return []byte(`{"model":"claude-sonnet-4-5","stream":true,"stream_options":{"include_usage":true},"max_completion_tokens":32000,` +
		`"tools":[{"type":"function","function":{"name":"read_file","description":"Read a file","parameters":{"type":"object","properties":{"path":{"type":"string"}},"required":["path"]}}},` +
		`{"type":"function","function":{"name":"bash","description":"Run a command","parameters":{"type":"object","properties":{"cmd":{"type":"string"}},"required":["cmd"]}}}],` +
		`"messages":[` + strings.Join(msgs, ",") + `]}`)
}

const benchAnswer = `{"id":"msg_01XFDUDYJgAACzvnptvVoYEL","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929",
 "content":[{"type":"text","text":"The test fails because the handler returns early. I'll read the handler and its test next."},
  {"type":"tool_use","id":"toolu_01D7FLrfh4GYq7yT1ULFeyMV","name":"read_file","input":{"path":"/repo/handler/handler.go"}},
  {"type":"tool_use","id":"toolu_01D7FLrfh4GYq7yT1ULFeyMW","name":"read_file","input":{"path":"/repo/handler/handler_test.go"}}],
 "stop_reason":"tool_use","stop_sequence":null,
 "usage":{"input_tokens":2048,"cache_creation_input_tokens":248,"cache_read_input_tokens":51800,"output_tokens":103}}`

// benchStream is a typical streamed answer: 60 text deltas and one tool call
// in 8 argument fragments.
func benchStream() []Event {
	var evs []Event
	add := func(name, data string) { evs = append(evs, Event{Name: name, Data: []byte(data)}) }
	add("message_start", `{"type":"message_start","message":{"id":"msg_01XF","type":"message","role":"assistant","content":[],"model":"claude-sonnet-4-5-20250929","stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":2048,"cache_creation_input_tokens":248,"cache_read_input_tokens":51800,"output_tokens":1}}}`)
	add("content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`)
	for i := 0; i < 60; i++ {
		add("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"some words of the answer "}}`)
	}
	add("content_block_stop", `{"type":"content_block_stop","index":0}`)
	add("content_block_start", `{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_01D7","name":"bash","input":{}}}`)
	for i := 0; i < 8; i++ {
		add("content_block_delta", `{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"cmd\": \"go te"}}`)
	}
	add("content_block_stop", `{"type":"content_block_stop","index":1}`)
	add("message_delta", `{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"input_tokens":2048,"cache_creation_input_tokens":248,"cache_read_input_tokens":51800,"output_tokens":310}}`)
	add("message_stop", `{"type":"message_stop"}`)
	return evs
}

// BenchmarkOpenAITranslate measures the OpenAI route's translation overhead
// per request against the Anthropic route's own parse of the same
// conversation (anthropic-route: ParseRequest + msg.Decode, which both routes
// run).
func BenchmarkOpenAITranslate(b *testing.B) {
	body := openAIAgentSession(50)
	anth, err := func() ([]byte, error) {
		r, err := ParseOpenAIRequest(body)
		if err != nil {
			return nil, err
		}
		return r.ToAnthropic()
	}()
	if err != nil {
		b.Fatal(err)
	}
	var in struct{ Messages []json.RawMessage }
	if json.Unmarshal(body, &in) != nil || len(in.Messages) != 50 {
		b.Fatalf("bench session has %d OpenAI messages", len(in.Messages))
	}
	ar, _ := ParseRequest(anth)
	name := fmt.Sprintf("messages=50(anthropic=%d)/bytes=%d", ar.MessageCount, len(body))

	b.Run("anthropic-route/"+name, func(b *testing.B) {
		b.SetBytes(int64(len(anth)))
		b.ReportAllocs()
		for b.Loop() {
			r, err := ParseRequest(anth)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := msg.Decode(r.Messages); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("request/"+name, func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			r, err := ParseOpenAIRequest(body)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := r.ToAnthropic(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("response", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := AnthropicToOpenAI([]byte(benchAnswer), 1741569952); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("request+response/"+name, func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			r, err := ParseOpenAIRequest(body)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := r.ToAnthropic(); err != nil {
				b.Fatal(err)
			}
			if _, err := AnthropicToOpenAI([]byte(benchAnswer), 1741569952); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("to-openai-upstream/"+name, func(b *testing.B) {
		r, _ := ParseOpenAIRequest(body)
		b.SetBytes(int64(len(anth)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := r.ToOpenAI(anth); err != nil {
				b.Fatal(err)
			}
		}
	})
	evs := benchStream()
	b.Run(fmt.Sprintf("stream/events=%d", len(evs)), func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			t := NewStreamTranslator(io.Discard, "claude-sonnet-4-5", 1741569952, true)
			for _, ev := range evs {
				if err := t.Event(ev); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}
