package translate

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// Fuzz targets of the wire formats the gateway reads from clients and
// upstreams. Seeds are wire captures in the shape the real API sends
// (toolStream) and what the real clients send; the committed corpora are in
// testdata/fuzz. They must never panic or hang, and what they produce must
// be well formed.

const errorStream = "event: message_start\n" +
	`data: {"type":"message_start","message":{"id":"msg_2","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[],"stop_reason":null,"usage":{"input_tokens":3,"output_tokens":1}}}` + "\n\n" +
	"event: error\n" + `data: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}` + "\n\n"

// sseEvents reads every event of data, as the relay does.
func sseEvents(data []byte, each func(Event)) {
	er := NewEventReader(bytes.NewReader(data))
	for i := 0; i < 1<<16; i++ {
		ev, err := er.Next()
		if err != nil {
			return
		}
		each(ev)
	}
}

// FuzzSSE: the SSE reader and the reply accumulator on any bytes. Every
// event's Raw is a piece of the input, in order.
func FuzzSSE(f *testing.F) {
	for _, s := range []string{toolStream, errorStream, "data: x\n\n", "event: a\r\ndata: {}\r\n\r\n", ": only a comment\n\n", "data: {\"type\":\"message_stop\"}"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var acc Accumulator
		rest := data
		sseEvents(data, func(ev Event) {
			i := bytes.Index(rest, ev.Raw)
			if i < 0 && len(ev.Raw) > 0 {
				t.Fatalf("event raw %q is not in the input after the previous event", ev.Raw)
			}
			if i >= 0 {
				rest = rest[i+len(ev.Raw):]
			}
			acc.Add(ev)
		})
		if r := acc.Response(); r != nil && len(r.Content) > 0 && !json.Valid(r.Content) {
			t.Fatalf("accumulated content is not JSON: %q", r.Content)
		}
		_, _ = ParseResponse(data)
	})
}

// FuzzOpenAIStream: translating any Anthropic SSE into OpenAI chunks writes
// only data lines of valid JSON (or [DONE]).
func FuzzOpenAIStream(f *testing.F) {
	for _, s := range []string{toolStream, errorStream, "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"max_tokens\"}}\n\n"} {
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, data []byte, usage bool) {
		var out bytes.Buffer
		tr := NewStreamTranslator(&out, "claude-x", 1700000000, usage)
		sseEvents(data, func(ev Event) { _ = tr.Event(ev) })
		_ = tr.Close()
		for _, line := range bytes.Split(out.Bytes(), []byte("\n")) {
			if len(line) == 0 {
				continue
			}
			payload, ok := bytes.CutPrefix(line, []byte("data: "))
			if !ok {
				t.Fatalf("a line that is not data: %q", line)
			}
			if string(payload) != "[DONE]" && !json.Valid(payload) {
				t.Fatalf("a chunk that is not JSON: %q", payload)
			}
		}
	})
}

// FuzzOpenAIRequest: a chat-completions body either is refused with one of
// the route's errors, or translates into a Messages body the envelope
// reader accepts.
func FuzzOpenAIRequest(f *testing.F) {
	for _, s := range []string{
		`{"model":"claude-sonnet-4-5","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":true}}`,
		`{"model":"gpt-4o","messages":[{"role":"user","content":[{"type":"text","text":"look"},{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo="}}]},{"role":"assistant","tool_calls":[{"id":"call_1","type":"function","function":{"name":"ls","arguments":"{\"p\":\".\"}"}}]},{"role":"tool","tool_call_id":"call_1","content":"a\nb"}],"tools":[{"type":"function","function":{"name":"ls","parameters":{"type":"object"}}}],"tool_choice":"required","max_completion_tokens":100,"stop":["x"]}`,
		`{"model":"m","messages":[]}`, `{"messages":[{}]}`, `[]`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseOpenAIRequest([]byte(s))
		if err != nil {
			var re *RequestError
			var be *BodyError
			if !errors.Is(err, ErrInvalidJSON) && !errors.As(err, &re) && !errors.As(err, &be) {
				t.Fatalf("%q: unexpected error kind %T %v", s, err, err)
			}
			return
		}
		body, err := r.ToAnthropic()
		if err != nil {
			return
		}
		if !json.Valid(body) {
			t.Fatalf("%q: translated body is not JSON: %q", s, body)
		}
		if _, err := ParseRequest(body); err != nil {
			t.Fatalf("%q: translated body refused by the envelope reader: %v", s, err)
		}
	})
}

// FuzzDeltaFastPath: an event folds in the same whether Add's jsonscan fast
// path for content block deltas takes it or encoding/json does.
func FuzzDeltaFastPath(f *testing.F) {
	for _, s := range []string{
		`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"he said \"hi\"\n\u00e9"}}`,
		`{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"a\":"}}`,
		`{"type":"content_block_delta","index":2,"delta":{"type":"thinking_delta","thinking":"hmm"}}`,
		`{"type":"content_block_delta","index":2,"delta":{"type":"signature_delta","signature":"c2ln"}}`,
		`{"type":"content_block_delta","index":01,"delta":{"type":"text_delta","text":"x"}}`,
		`{"type":"content_block_delta","Index":1,"delta":{"type":"text_delta","text":"x"}}`,
		`{"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"x","text":"y"}}`,
		`{"type":"content_block_delta","index":-1,"delta":{"type":"text_delta","text":"x"}}`,
		`{"type":"content_block_delta","delta":{"type":"text_delta","text":"no index"}}`,
		`{"type":"content_block_delta","index":1.0,"delta":{"type":"text_delta","text":"x"}} `,
		`{"type":"ping"}`, `{"type":"content_block_stop","index":0}`, `{"type":"message_stop"}`,
		`{"type":"ping","Type":"message_stop"}`, `{"type":"message_stop","index":"x"}`,
		`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"x"},"usage":5}`,
		`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"x"},"extra":[1,2]}`,
		`{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":3}}`,
		`{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"input_tokens":785,"cache_creation_input_tokens":0,"cache_read_input_tokens":12,"output_tokens":3}}`,
		`{"type":"message_delta","delta":{"stop_reason":null},"usage":null}`,
		`{"type":"message_start","message":{"id":"m","model":"x","usage":{"input_tokens":5,"cache_creation_input_tokens":300,"cache_creation":{"ephemeral_5m_input_tokens":100,"ephemeral_1h_input_tokens":200},"output_tokens":1}}}`,
		`{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"cache_creation_input_tokens":4,"cache_creation":{"ephemeral_1h_input_tokens":4,"ephemeral_1h_input_tokens":3},"output_tokens":9}}`,
		`{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"cache_creation_input_tokens":4,"cache_creation":7,"output_tokens":9}}`,
		`{"type":"message_delta","delta":{"Stop_Reason":"x"},"usage":{"Output_Tokens":3}}`,
		`{"type":"message_delta","usage":{"output_tokens":3},"usage":{"input_tokens":4}}`,
		`{"type":"message_delta","usage":{"output_tokens":-3,"server_tool_use":{"web_search_requests":1}}}`,
		`{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":785,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"cache_creation":{"ephemeral_5m_input_tokens":0,"ephemeral_1h_input_tokens":0},"output_tokens":1,"service_tier":"standard"}}}`,
		`{"type":"message_start","message":{"ID":"msg_1","model":"m","usage":{"input_tokens":1e3}}}`,
		`{"type":"message_start"}`,
		`{"type":"content_block_start","index":3,"content_block":{"type":"tool_use","id":"toolu_1","name":"Bash","input":{}}}`,
		`{"type":"content_block_start","index":3,"content_block": {"type":"thinking","thinking":"","signature":"" } }`,
		`{"type":"content_block_start","index":3,"content_block":{"type":"server_tool_use","id":"s","name":"web_search","input":{"q":1}}}`,
		`{"type":"content_block_start","index":3,"content_block":{"type":"text","Text":"x"}}`,
		`{"type":"content_block_start","index":3,"content_block":{"type":"text","text":5}}`,
		`{"type":"content_block_start","index":3,"content_block":null}`,
		`{"type":"content_block_start","content_block":{"type":"text","text":""}}`,
		`{"type":"content_block_start","index":3,"content_block":{"type":"text"},"content_block":{"text":"y"}}`,
		`{"type":"message_stop","usage":{"output_tokens":"x"}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		starts := []string{
			`{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`,
			`{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"t","name":"n","input":{}}}`,
			`{"type":"content_block_start","index":2,"content_block":{"type":"thinking","thinking":""}}`,
		}
		var fast, slow Accumulator // fast goes through Add, slow through encoding/json only
		for _, s := range starts {
			fast.Add(Event{Data: []byte(s)})
			slow.addDecoded([]byte(s))
		}
		fast.Add(Event{Data: data})
		slow.addDecoded(data)
		if f, s := fast.Response(), slow.Response(); string(f.Content) != string(s.Content) || f.StopReason != s.StopReason ||
			f.Usage != s.Usage || f.ID != s.ID || f.Model != s.Model || fast.Done() != slow.Done() ||
			blockState(&fast) != blockState(&slow) {
			t.Fatalf("%q: fast path %+v %s, encoding/json %+v %s", data, *f, blockState(&fast), *s, blockState(&slow))
		}
	})
}

// blockState is every block's state as text, for comparing accumulators.
func blockState(a *Accumulator) string {
	var b strings.Builder
	for i, bl := range a.blocks {
		if bl == nil {
			fmt.Fprintf(&b, "%d: nil\n", i)
			continue
		}
		fmt.Fprintf(&b, "%d: %q %q %q %q %q %q %q\n", i, bl.Type, bl.ID, bl.Name, bl.Text.String(), bl.Signature.String(), bl.Input.String(), bl.Start)
	}
	return b.String()
}
