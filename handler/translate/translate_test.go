package translate

import (
	"encoding/json"
	"io"
	"strings"
	"testing"

	"github.com/caddy-lore/caddy-lore/pricing"
)

func TestParseRequest(t *testing.T) {
	body := `{"model":"claude-sonnet-4-5","max_tokens":10,"stream":true,"temperature":0.7,
		"system":[{"type":"text","text":"A"},{"type":"text","text":"B","cache_control":{"type":"ephemeral"}}],
		"tools":[{"name":"a"},{"name":"b"},{"name":"c"}],
		"metadata":{"user_id":"u"},
		"messages":[{"role":"user","content":"hi, [there]"},{"role":"assistant","content":[{"type":"text","text":"{\"x\":[1,2]}"}]},{"role":"user","content":"x"}]}`
	r, err := ParseRequest([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if r.Model != "claude-sonnet-4-5" || !r.Stream || r.ToolCount != 3 || r.MessageCount != 3 || r.MetadataUserID != "u" {
		t.Fatalf("got %+v", r)
	}
	if r.SystemText() != "A\nB" {
		t.Fatalf("system text %q", r.SystemText())
	}
	if string(r.Body) != body {
		t.Fatal("body must be kept byte for byte")
	}
	for _, bad := range []string{``, `nope`, `[1]`, `{"model":`} {
		if _, err := ParseRequest([]byte(bad)); err != ErrInvalidJSON {
			t.Fatalf("%q: err = %v", bad, err)
		}
	}
	for in, want := range map[string]int{`{"messages":[]}`: 0, `{"messages":[ ]}`: 0, `{"messages":[1]}`: 1, `{"messages":["a,b",{"c":[1,2]}]}`: 2} {
		r, _ := ParseRequest([]byte(in))
		if r.MessageCount != want {
			t.Fatalf("%s: count %d want %d", in, r.MessageCount, want)
		}
	}
	r, _ = ParseRequest([]byte(`{"system":"plain","stream":"true"}`))
	if r.SystemText() != "plain" || r.Stream {
		t.Fatalf("string system / non-bool stream: %+v", r)
	}
}

const toolStream = "event: message_start\n" +
	`data: {"type":"message_start","message":{"id":"msg_1","model":"claude-x","usage":{"input_tokens":12,"cache_read_input_tokens":100,"cache_creation_input_tokens":7,"output_tokens":1}}}` + "\n\n" +
	": a comment\n\n" +
	"event: ping\ndata: {\"type\":\"ping\"}\n\n" +
	"event: content_block_start\r\n" + `data: {"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}}` + "\r\n\r\n" +
	"event: content_block_delta\n" + `data: {"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"hmm"}}` + "\n\n" +
	"event: content_block_delta\n" + `data: {"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"sig"}}` + "\n\n" +
	"event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n" +
	"event: content_block_start\n" + `data: {"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}}` + "\n\n" +
	"event: content_block_delta\n" + `data: {"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"Hel"}}` + "\n\n" +
	"event: content_block_delta\n" + `data: {"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"lo"}}` + "\n\n" +
	"event: content_block_start\n" + `data: {"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"toolu_1","name":"bash","input":{}}}` + "\n\n" +
	"event: content_block_delta\n" + `data: {"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{\"cmd\":"}}` + "\n\n" +
	"event: content_block_delta\n" + `data: {"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"\"ls\"}"}}` + "\n\n" +
	"event: message_delta\n" + `data: {"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":42}}` + "\n\n" +
	"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"

func TestEventReaderAndAccumulator(t *testing.T) {
	er := NewEventReader(strings.NewReader(toolStream))
	var acc Accumulator
	var names []string
	var raw strings.Builder
	for {
		ev, err := er.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, ev.Name)
		raw.Write(ev.Raw)
		acc.Add(ev)
	}
	want := "message_start ping content_block_start content_block_delta content_block_delta content_block_stop " +
		"content_block_start content_block_delta content_block_delta content_block_start content_block_delta " +
		"content_block_delta message_delta message_stop"
	if strings.Join(names, " ") != want {
		t.Fatalf("events:\n%s\nwant\n%s", strings.Join(names, " "), want)
	}
	// Forwarded bytes are the input minus the comment-only event.
	if raw.String() != strings.Replace(toolStream, ": a comment\n\n", "", 1) {
		t.Fatal("raw events differ from the input")
	}
	if !acc.Done() {
		t.Fatal("message_stop not seen")
	}
	r := acc.Response()
	if r.ID != "msg_1" || r.StopReason != "tool_use" ||
		r.Usage != (pricing.Usage{InputTokens: 12, OutputTokens: 42, CacheReadTokens: 100, CacheWriteTokens: 7}) {
		t.Fatalf("response %+v", r)
	}
	var content []map[string]any
	if err := json.Unmarshal(r.Content, &content); err != nil {
		t.Fatal(err)
	}
	wantContent := `[{"signature":"sig","thinking":"hmm","type":"thinking"},{"text":"Hello","type":"text"},{"id":"toolu_1","input":{"cmd":"ls"},"name":"bash","type":"tool_use"}]`
	got, _ := json.Marshal(content)
	if string(got) != wantContent {
		t.Fatalf("content\n%s\nwant\n%s", got, wantContent)
	}
}

func TestEventReaderLongLineAndUnterminated(t *testing.T) {
	long := strings.Repeat("x", 200_000)
	er := NewEventReader(strings.NewReader("data: " + long + "\ndata: second\n\nevent: tail\ndata: end"))
	ev, err := er.Next()
	if err != nil || string(ev.Data) != long+"\nsecond" || ev.Name != "message" {
		t.Fatalf("long event: err=%v name=%q len=%d", err, ev.Name, len(ev.Data))
	}
	ev, err = er.Next()
	if err != nil || ev.Name != "tail" || string(ev.Data) != "end" {
		t.Fatalf("unterminated final event: %v %q %q", err, ev.Name, ev.Data)
	}
	if _, err = er.Next(); err != io.EOF {
		t.Fatalf("want EOF, got %v", err)
	}
}

func TestAccumulatorIncomplete(t *testing.T) {
	var acc Accumulator
	acc.Add(Event{Data: []byte(`{"type":"content_block_start","index":0,"content_block":{"type":"text","text":"par"}}`)})
	acc.Add(Event{Data: []byte(`not json`)})
	acc.Add(Event{Data: []byte(`{"type":"content_block_delta","index":5,"delta":{"type":"text_delta","text":"lost"}}`)})
	if acc.Done() {
		t.Fatal("no message_stop yet")
	}
	if got := string(acc.Response().Content); got != `[{"text":"par","type":"text"}]` {
		t.Fatalf("content %s", got)
	}
}

func TestParseResponseAndEmpty(t *testing.T) {
	r, err := ParseResponse([]byte(`{"id":"m","model":"x","stop_reason":"end_turn","content":[{"type":"text","text":"hi"}],"usage":{"input_tokens":3,"output_tokens":4}}`))
	if err != nil || r.StopReason != "end_turn" || string(r.Content) != `[{"type":"text","text":"hi"}]` || r.Usage.OutputTokens != 4 {
		t.Fatalf("%+v %v", r, err)
	}
	for in, want := range map[string]bool{"": true, "[]": true, "\tnull\n": true, `[{"type":"text"}]`: false} {
		if EmptyContent(json.RawMessage(in)) != want {
			t.Fatalf("EmptyContent(%q) != %v", in, want)
		}
	}
}

// An upstream's block index is never trusted: a negative one is ignored
// (it panicked the accumulator) and a huge one allocates nothing.
func TestAccumulatorHostileIndex(t *testing.T) {
	var acc Accumulator
	for _, data := range []string{
		`{"type":"content_block_start","index":-1,"content_block":{"type":"text","text":"x"}}`,
		`{"type":"content_block_delta","index":-1,"delta":{"type":"text_delta","text":"y"}}`,
		`{"type":"content_block_delta","index":-1,"delta":{"type":"text_delta","text":"y"},"usage":null}`,
		`{"type":"content_block_start","index":1000000000,"content_block":{"type":"text","text":"x"}}`,
	} {
		acc.Add(Event{Data: []byte(data)})
	}
	if len(acc.blocks) != 0 {
		t.Fatalf("%d blocks kept", len(acc.blocks))
	}
}
