package handler

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// SSE must reach the client as it arrives, not at the end. A relay writes a
// burst of events that arrived together in one flush (translate.Event.More),
// so the test upstream sends a burst and then waits until the client has
// seen its last client-visible event: a relay that held back the end of a
// burst (or the events before a recall block it hides) would leave the
// upstream waiting, and the test fails. One case per streaming relay.
func TestStreamFlushesEveryBurst(t *testing.T) {
	const (
		start = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"model\":\"claude-sonnet-4-5\",\"usage\":{\"input_tokens\":1}}}\n\n"
		text  = "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n" +
			"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"flushed-marker\"}}\n\n"
		recallStart = "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_r\",\"name\":\"" + recallToolName + "\",\"input\":{}}}\n\n"
		end         = "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n" +
			"event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":2}}\n\n" +
			"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"
	)
	cases := []struct {
		name   string
		recall bool
		path   string
		body   string
		burst  string // sent in one write; then the upstream waits until the client has its text
	}{
		{"messages", false, "/v1/messages", conversation("s", 2, `"stream":true,`), start + text},
		{"messages with recall", true, "/v1/messages", conversation("s", 2, `"stream":true,`), start + text},
		{"recall block held at the end of a burst", true, "/v1/messages", conversation("s", 2, `"stream":true,`), start + text + recallStart},
		{"chat completions on Claude", false, "/v1/chat/completions",
			`{"model":"claude-sonnet-4-5","stream":true,"messages":[{"role":"user","content":"hi"}]}`, start + text},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			seen := make(chan struct{})
			up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/event-stream")
				_, _ = io.WriteString(w, tc.burst)
				w.(http.Flusher).Flush()
				select {
				case <-seen:
				case <-time.After(10 * time.Second):
					return // the gateway held the burst back
				}
				_, _ = io.WriteString(w, end)
			}))
			defer up.Close()
			u, _ := url.Parse(up.URL)
			e := newEnv(t, func(c *Config) { c.Upstream = u })
			if tc.recall {
				withRecall(e)
			}
			req, _ := http.NewRequest("POST", e.srv.URL+tc.path, strings.NewReader(tc.body))
			req.Header.Set("x-api-key", keyA)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = resp.Body.Close() }()
			buf := make([]byte, 4096)
			var got strings.Builder
			for !strings.Contains(got.String(), "flushed-marker") {
				n, err := resp.Body.Read(buf)
				got.Write(buf[:n])
				if err != nil {
					t.Fatalf("the stream ended before the end of the first burst reached the client: %q", got.String())
				}
			}
			close(seen)
			rest, _ := io.ReadAll(resp.Body)
			if all := got.String() + string(rest); !strings.Contains(all, "message_stop") && !strings.Contains(all, "[DONE]") {
				t.Fatalf("stream did not end: %q", all)
			}
		})
	}
}
