package handler

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/caddy-lore/caddy-lore/handler/translate"
	"github.com/caddy-lore/caddy-lore/pricing"
	"github.com/caddy-lore/caddy-lore/store"
)

// stubRecall answers every query with a fixed text and records the calls.
type stubRecall struct{ queries *[]string }

func (s stubRecall) Recall(_ context.Context, sess *store.Session, query, scope string) string {
	*s.queries = append(*s.queries, query)
	return "found: the test redis listens on 6399 (" + sess.ID[:4] + ")"
}

func withRecall(e *env) *[]string {
	var q []string
	e.h.cfg.Recall = stubRecall{&q}
	return &q
}

// upstreamMessages returns the /v1/messages requests the fake received.
func upstreamMessages(e *env) []map[string]json.RawMessage {
	var out []map[string]json.RawMessage
	for _, r := range e.fake.Requests() {
		if r.Path == "/v1/messages" {
			var m map[string]json.RawMessage
			_ = json.Unmarshal(r.Body, &m)
			out = append(out, m)
		}
	}
	return out
}

// clientReply decodes the gateway's answer, JSON or SSE.
func clientReply(t *testing.T, body string) *translate.Response {
	t.Helper()
	if !strings.HasPrefix(body, "event:") {
		r, err := translate.ParseResponse([]byte(body))
		if err != nil {
			t.Fatalf("answer: %v %s", err, body)
		}
		return r
	}
	var acc translate.Accumulator
	er := translate.NewEventReader(strings.NewReader(body))
	for {
		ev, err := er.Next()
		if err != nil {
			break
		}
		acc.Add(ev)
	}
	if !acc.Done() {
		t.Fatalf("stream did not end: %s", body)
	}
	return acc.Response()
}

func TestRecallAnsweredInsideTheGateway(t *testing.T) {
	for _, stream := range []bool{false, true} {
		name := map[bool]string{false: "json", true: "sse"}[stream]
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			queries := withRecall(e)
			extra := ""
			if stream {
				extra = `"stream":true,`
			}
			code, _, body := e.post("/v1/messages", conversation("which port? [[recall:redis test port]]", 1, extra), "x-api-key", keyA)
			if code != 200 {
				t.Fatalf("%d %s", code, body)
			}
			if strings.Contains(body, `"recall"`) {
				t.Fatalf("the client saw the recall tool: %s", body)
			}
			reply := clientReply(t, body)
			var blocks []struct{ Type, Text string }
			_ = json.Unmarshal(reply.Content, &blocks)
			if len(blocks) != 2 || blocks[0].Text != "ok (turn 1)" || blocks[1].Type != "text" || reply.StopReason != "end_turn" {
				t.Fatalf("client content %s stop %s", reply.Content, reply.StopReason)
			}
			if len(*queries) != 1 || (*queries)[0] != "redis test port" {
				t.Fatalf("recall queries %q", *queries)
			}
			ups := upstreamMessages(e)
			if len(ups) != 2 {
				t.Fatalf("%d upstream calls, want the turn and one follow-up", len(ups))
			}
			if !strings.HasSuffix(string(ups[0]["tools"]), recallTool+"]") || !strings.HasSuffix(string(ups[1]["tools"]), recallTool+"]") {
				t.Fatalf("tools sent: %s", ups[0]["tools"])
			}
			follow := string(ups[1]["messages"])
			if !strings.Contains(follow, `"name":"recall"`) || !strings.Contains(follow, `"type":"tool_result"`) ||
				!strings.Contains(follow, "found: the test redis listens on 6399") {
				t.Fatalf("follow-up messages: %s", follow)
			}
			// Usage counts both calls; the stored turn is what the client saw.
			if reply.Usage.InputTokens <= 0 || reply.Usage.OutputTokens <= 0 {
				t.Fatalf("usage %+v", reply.Usage)
			}
			msgs := e.messages(e.sessionIDs()[0])
			if last := string(msgs[len(msgs)-1].Content); strings.Contains(last, "recall") || !strings.Contains(last, "ok (turn 1)") {
				t.Fatalf("stored reply %s", last)
			}
		})
	}
}

// Beside a client tool, the recall call is hidden from the client and its
// results ride with the session's next request.
func TestRecallBesideClientTools(t *testing.T) {
	e := newEnv(t)
	queries := withRecall(e)
	first := conversation("look [[recall:deploy steps]] [[tool:bash]]", 1, `"stream":true,`)
	code, _, body := e.post("/v1/messages", first, "x-api-key", keyA)
	if code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	reply := clientReply(t, body)
	var blocks []struct{ Type, ID, Name string }
	_ = json.Unmarshal(reply.Content, &blocks)
	if len(blocks) != 2 || blocks[1].Name != "bash" || reply.StopReason != "tool_use" || strings.Contains(string(reply.Content), "recall") {
		t.Fatalf("client content %s", reply.Content)
	}
	if len(upstreamMessages(e)) != 1 || len(*queries) != 1 {
		t.Fatalf("upstream calls %d, recall runs %d; want 1 and 1 (no follow-up)", len(upstreamMessages(e)), len(*queries))
	}
	// The client runs bash and sends its result.
	next := strings.Replace(first, `]}`, `,{"role":"assistant","content":`+string(reply.Content)+`},{"role":"user","content":[{"type":"tool_result","tool_use_id":"`+blocks[1].ID+`","content":"deployed"}]}]}`, 1)
	if code, _, body := e.post("/v1/messages", next, "x-api-key", keyA); code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	ups := upstreamMessages(e)
	var sent []struct {
		Role    string          `json:"role"`
		Content json.RawMessage `json:"content"`
	}
	_ = json.Unmarshal(ups[1]["messages"], &sent)
	var lastBlocks []struct {
		Type, Text string
		ToolUseID  string `json:"tool_use_id"`
	}
	_ = json.Unmarshal(sent[len(sent)-1].Content, &lastBlocks)
	last := fmtAny(lastBlocks)
	if !strings.Contains(last, blocks[1].ID) || !strings.Contains(last, "<recall-results>") ||
		!strings.Contains(last, "Results of recall(deploy steps):") || !strings.Contains(last, "listens on 6399") {
		t.Fatalf("next request's last message: %s", last)
	}
	// Only once: the turn after carries nothing.
	sess, _ := e.store.LoadSession(context.Background(), e.sessionIDs()[0])
	if sess.RecallPending != "" {
		t.Fatalf("pending results kept after use: %q", sess.RecallPending)
	}
}

func TestRecallToolNotOffered(t *testing.T) {
	e := newEnv(t)
	withRecall(e)
	// The client has its own recall tool: its call reaches the client.
	own := strings.Replace(conversation("[[recall:x]]", 1, ""), `{"name":"edit","input_schema":{"type":"object"}}`, `{"name":"recall","input_schema":{"type":"object"}}`, 1)
	code, _, body := e.post("/v1/messages", own, "x-api-key", keyA)
	if code != 200 || !strings.Contains(body, `"name":"recall"`) {
		t.Fatalf("client's own recall: %d %s", code, body)
	}
	ups := upstreamMessages(e)
	if strings.Count(string(ups[0]["tools"]), `"recall"`) != 1 || len(ups) != 1 {
		t.Fatalf("tools %s, %d calls", ups[0]["tools"], len(ups))
	}
	// Recall off: no tool.
	e2 := newEnv(t)
	e2.post("/v1/messages", conversation("hello", 1, ""), "x-api-key", keyA)
	if strings.Contains(string(upstreamMessages(e2)[0]["tools"]), "recall") {
		t.Fatal("recall offered without a Recaller")
	}
}

// secondCall hands the second /v1/messages call (the follow-up after a
// recall call) to second, and everything else to next.
type secondCall struct {
	next   http.RoundTripper
	second func(*http.Request) (*http.Response, error)
	calls  *int
}

func (s secondCall) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Path == "/v1/messages" {
		*s.calls++
		if *s.calls == 2 {
			return s.second(r)
		}
	}
	return s.next.RoundTrip(r)
}

// overloaded answers a 529 with Retry-After 7.
func overloaded(r *http.Request) (*http.Response, error) {
	body := `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`
	return &http.Response{StatusCode: 529, Header: http.Header{"Content-Type": {"application/json"}, "Retry-After": {"7"}},
		Body: io.NopCloser(strings.NewReader(body)), Request: r}, nil
}

// A follow-up that fails reaches the client as a failure (JSON: the
// upstream's status and body; SSE: an error event, no message_stop), never
// as a quietly finished answer, and nothing is stored.
func TestRecallFollowUpFailure(t *testing.T) {
	for _, stream := range []bool{false, true} {
		e := newEnv(t, func(c *Config) { c.Transport = secondCall{NewTransport(), overloaded, new(int)} })
		withRecall(e)
		extra := ""
		if stream {
			extra = `"stream":true,`
		}
		code, hdr, body := e.post("/v1/messages", conversation("[[recall:anything]]", 1, extra), "x-api-key", keyA)
		if stream {
			if code != 200 || !strings.Contains(body, "event: error") || !strings.Contains(body, "overloaded_error") || strings.Contains(body, "message_stop") {
				t.Fatalf("stream: %d %s", code, body)
			}
		} else if code != 529 || hdr.Get("Retry-After") != "7" || !strings.Contains(body, "overloaded_error") {
			t.Fatalf("json: %d %v %s", code, hdr, body)
		}
		if ids := e.sessionIDs(); len(ids) != 0 {
			t.Fatalf("stream=%v: a failed answer was stored (%v)", stream, ids)
		}
	}
}

// recallAgain makes every follow-up ask for recall again (a text block
// "[[recall:again]]" beside its tool results), so that the answer runs into
// the round limit.
type recallAgain struct{ next http.RoundTripper }

func (r recallAgain) RoundTrip(req *http.Request) (*http.Response, error) {
	body, _ := io.ReadAll(req.Body)
	if bytes.Contains(body, []byte(`"tool_result"`)) {
		var m map[string]json.RawMessage
		var msgs []map[string]json.RawMessage
		if json.Unmarshal(body, &m) == nil && json.Unmarshal(m["messages"], &msgs) == nil && len(msgs) > 0 {
			var content []json.RawMessage
			_ = json.Unmarshal(msgs[len(msgs)-1]["content"], &content)
			content = append(content, json.RawMessage(`{"type":"text","text":"[[recall:again]]"}`))
			msgs[len(msgs)-1]["content"], _ = json.Marshal(content)
			m["messages"], _ = json.Marshal(msgs)
			body, _ = json.Marshal(m)
		}
	}
	req.Body, req.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
	return r.next.RoundTrip(req)
}

// A turn with recall follow-ups costs what the upstream billed for its
// rounds, streamed or not, with one follow-up or up to the round limit. The
// streamed client saw round 1's message_start and the last round's
// rewritten message_delta: that mix (round 1's cache writes, kept when the
// last round wrote none) is not the last round's usage; and at the limit
// the last round is already counted with the earlier ones.
func TestRecallTurnCostIsWhatWasBilled(t *testing.T) {
	for _, limit := range []bool{false, true} {
		for _, stream := range []bool{false, true} {
			e := newEnv(t, func(c *Config) {
				if limit {
					c.Transport = recallAgain{NewTransport()}
				}
			})
			withRecall(e)
			extra := ""
			if stream {
				extra = `"stream":true,`
			}
			if code, _, body := e.post("/v1/messages", conversation("which port? [[recall:redis test port]]", 1, extra), "x-api-key", keyA); code != 200 {
				t.Fatalf("%d %s", code, body)
			}
			e.settle()
			var nano int64
			bills := e.fake.Bills()
			for _, b := range bills {
				p := pricing.For(b.Model)
				nano += int64(b.Input)*p.Input + int64(b.CacheRead)*p.CacheRead() + int64(b.Creation5m)*p.CacheWrite5m() +
					int64(b.Creation1h)*p.CacheWrite1h() + int64(b.Output)*p.Output
			}
			if want := map[bool]int{false: 2, true: maxRecallRounds + 1}[limit]; len(bills) != want {
				t.Fatalf("limit %v: %d upstream calls, want %d", limit, len(bills), want)
			}
			if s, want := e.onlySession(t), pricing.Micro(nano); s.CostMicroUSD != want || want <= 0 {
				t.Fatalf("limit %v stream %v: cost %d µ$, the upstream billed %d µ$ (%+v)", limit, stream, s.CostMicroUSD, want, bills)
			}
		}
	}
}
