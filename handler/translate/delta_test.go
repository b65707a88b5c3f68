package translate

import (
	"strings"
	"testing"
)

// Every event of a real stream, in the shape the API sends it (the fake
// upstream's and the captures of wire_fuzz_test.go), is read by the fast
// path, not handed to encoding/json.
func TestFastPathReadsTheAPIShapes(t *testing.T) {
	events := []string{
		`{"type":"message_start","message":{"id":"msg_01Fake","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":785,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"cache_creation":{"ephemeral_5m_input_tokens":0,"ephemeral_1h_input_tokens":0},"output_tokens":1,"service_tier":"standard"}}}`,
		`{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`,
		`{"type":"ping"}`,
		`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"ok "}}`,
		`{"type":"content_block_stop","index":0}`,
		`{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_01","name":"Bash","input":{}}}`,
		`{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"command\":\"ls\"}"}}`,
		`{"type":"content_block_stop","index":1}`,
		`{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"input_tokens":785,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":3}}`,
		`{"type":"message_stop"}`,
	}
	var a Accumulator
	for _, e := range events {
		if !a.addQuick([]byte(e)) {
			t.Fatalf("the fast path handed %s to encoding/json", e)
		}
	}
	r := a.Response()
	if r.ID != "msg_01Fake" || r.Model != "claude-sonnet-4-5" || r.StopReason != "tool_use" || !a.Done() ||
		r.Usage.InputTokens != 785 || r.Usage.OutputTokens != 3 ||
		!strings.Contains(string(r.Content), `"text":"ok "`) || !strings.Contains(string(r.Content), `"command":"ls"`) {
		t.Fatalf("reply %+v %s", *r, r.Content)
	}
}

// The cache writes a Claude Code subscription makes under ttl "1h" are read
// as such by both paths (the fast one and encoding/json) from message_start,
// kept when the message_delta repeats the writes without their split (as
// the API sends it), and replaced by a split the delta repeats, so that
// they are priced at the 1-hour rate.
func TestOneHourCacheWritesAreRead(t *testing.T) {
	start := `{"type":"message_start","message":{"id":"msg_1","model":"claude-sonnet-4-5","content":[],"usage":{"input_tokens":5,"cache_creation_input_tokens":300,"cache_read_input_tokens":0,"cache_creation":{"ephemeral_5m_input_tokens":100,"ephemeral_1h_input_tokens":200},"output_tokens":1}}}`
	delta := `{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"input_tokens":5,"cache_creation_input_tokens":300,"cache_read_input_tokens":0,"output_tokens":9}}`
	repeat := `{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"input_tokens":5,"cache_creation_input_tokens":400,"cache_creation":{"ephemeral_5m_input_tokens":100,"ephemeral_1h_input_tokens":300},"output_tokens":9}}`
	for _, events := range [][]string{{start}, {start, delta}, {start, repeat}} {
		want := int64(200)
		if events[len(events)-1] == repeat {
			want = 300
		}
		var quick, decoded Accumulator
		for _, e := range events {
			if !quick.addQuick([]byte(e)) {
				t.Fatalf("the fast path handed %s to encoding/json", e)
			}
			decoded.addDecoded([]byte(e))
		}
		if q, d := quick.Response().Usage, decoded.Response().Usage; q != d || q.CacheWrite1hTokens != want {
			t.Fatalf("%d events: fast path %+v, encoding/json %+v, want %d 1-hour writes", len(events), q, d, want)
		}
	}
}
