package handler

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/caddy-lore/caddy-lore/gradient"
	"github.com/caddy-lore/caddy-lore/internal/fakeupstream"
)

// toolSession is an agent session whose old tool outputs are large: 10 tool
// round trips of 2,000-char outputs, then a short user prompt.
func toolSession() string {
	var msgs []string
	msgs = append(msgs, `{"role":"user","content":"investigate the repo"}`)
	for i := range 10 {
		msgs = append(msgs, fmt.Sprintf(`{"role":"assistant","content":[{"type":"tool_use","id":"toolu_%02d","name":"Bash","input":{"command":"cat f%d"}}]}`, i, i))
		out, _ := json.Marshal(fmt.Sprintf("output %d\n", i) + strings.Repeat("x", 2000))
		msgs = append(msgs, fmt.Sprintf(`{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_%02d","content":%s}]}`, i, out))
	}
	msgs = append(msgs, `{"role":"assistant","content":[{"type":"text","text":"done reading"}]}`, `{"role":"user","content":"now summarise"}`)
	sys, _ := json.Marshal(strings.Repeat("You are a coding agent. ", 30))
	return fmt.Sprintf(`{"model":"claude-sonnet-4-5","max_tokens":512,"system":%s,"tools":[{"name":"Bash","input_schema":{"type":"object"}},{"name":"a","input_schema":{"type":"object"}},{"name":"b","input_schema":{"type":"object"}}],"messages":[%s]}`, sys, strings.Join(msgs, ","))
}

// A "prompt is too long" answer is retried once at a higher layer
// (docs/context-window.md, Overflow retries).
func TestOverflowRetriedOnceAtHigherLayer(t *testing.T) {
	fake := fakeupstream.New(fakeupstream.Options{APIKeys: []string{keyA}, ContextLimit: 3000})
	defer fake.Close()
	u, _ := url.Parse(fake.URL())
	obs := &recObserver{requests: map[string]int{}, statuses: map[int]int{}}
	e := newEnv(t, func(c *Config) { c.Upstream = u; c.Observer = obs })

	body := toolSession()
	if n := fakeupstream.EstimateTokens([]byte(body)); n <= 3000 {
		t.Fatalf("the session must overflow the fake's window: %d tokens", n)
	}
	status, _, resp := e.post("/v1/messages", body, "x-api-key", keyA)
	if status != 200 {
		t.Fatalf("the retry should fit: %d %s", status, resp)
	}
	reqs := fake.Requests()
	if len(reqs) != 2 {
		t.Fatalf("want the first attempt and one retry, got %d requests", len(reqs))
	}
	if n := obs.overflows(); n != 1 {
		t.Fatalf("overflow retries counted: %d, want 1", n)
	}
	if !strings.Contains(string(reqs[1].Body), "[output omitted") || fakeupstream.EstimateTokens(reqs[1].Body) > 3000 {
		t.Fatalf("the retry must strip old tool outputs and fit: %d tokens", fakeupstream.EstimateTokens(reqs[1].Body))
	}
	ids := e.sessionIDs()
	if len(ids) != 1 {
		t.Fatalf("sessions %v", ids)
	}
	sess, _ := e.store.LoadSession(t.Context(), ids[0])
	var st gradient.State
	if err := json.Unmarshal(sess.Gradient, &st); err != nil || st.LastLayer < 2 || st.LastKnownInput == 0 {
		t.Fatalf("gradient state after the retry: %+v %v", st, err)
	}

	// A second overflow on the retry is relayed, not retried again.
	fake.Reset()
	fake.FailNext(fakeupstream.Failure{Path: "/v1/messages", Status: 400, Count: 2,
		Body: `{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 9999 tokens > 3000 maximum"}}`})
	status, _, resp = e.post("/v1/messages", body, "x-api-key", keyA)
	if status != 400 || !strings.Contains(resp, "prompt is too long") || len(fake.Requests()) != 2 {
		t.Fatalf("second overflow: %d %s after %d requests", status, resp, len(fake.Requests()))
	}
	if n := obs.overflows(); n != 2 {
		t.Fatalf("overflow retries counted: %d, want 2", n)
	}
	// Any other 400 is relayed at once.
	fake.Reset()
	fake.FailNext(fakeupstream.Failure{Path: "/v1/messages", Status: 400,
		Body: `{"type":"error","error":{"type":"invalid_request_error","message":"messages.0: bad"}}`})
	status, _, resp = e.post("/v1/messages", body, "x-api-key", keyA)
	if status != 400 || !strings.Contains(resp, "messages.0: bad") || len(fake.Requests()) != 1 {
		t.Fatalf("plain 400: %d %s after %d requests", status, resp, len(fake.Requests()))
	}
}

func TestGradientStatePersistsAcrossTurns(t *testing.T) {
	e := newEnv(t)
	for turns := 1; turns <= 3; turns++ {
		e.post("/v1/messages", conversation("persist", turns, ""), "x-api-key", keyA)
	}
	ids := e.sessionIDs()
	sess, _ := e.store.LoadSession(t.Context(), ids[0])
	var st gradient.State
	if err := json.Unmarshal(sess.Gradient, &st); err != nil || st.TransformCount != 3 || st.LastKnownInput == 0 {
		t.Fatalf("state %+v %v", st, err)
	}
}

// The post-idle flag is visible to the admin view, and idle_resume 0 never
// triggers (docs/context-window.md, Idle work and post-idle compaction).
func TestFlagsShowPostIdleCompact(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.IdleResume = 5 * time.Minute })
	for turns := 1; turns <= 2; turns++ {
		e.post("/v1/messages", conversation("flags", turns, ""), "x-api-key", keyA)
	}
	id := e.sessionIDs()[0]
	f, err := e.h.Flags(t.Context(), id)
	if err != nil || f == nil || f.PostIdleCompact || !f.IdleWorkPending || f.Turns != 2 || !f.Calibrated {
		t.Fatalf("fresh session flags %+v %v", f, err)
	}
	e.h.now = func() time.Time { return time.Now().Add(6 * time.Minute) }
	if f, _ = e.h.Flags(t.Context(), id); !f.PostIdleCompact {
		t.Fatalf("6 minutes later the cache is cold: %+v", f)
	}
	e.h.cfg.IdleResume = 0
	e.h.now = func() time.Time { return time.Now().Add(30 * 24 * time.Hour) }
	if f, _ = e.h.Flags(t.Context(), id); f.PostIdleCompact {
		t.Fatal("idle_resume 0 never triggers")
	}
	if f, err := e.h.Flags(t.Context(), "nope"); f != nil || err != nil {
		t.Fatalf("unknown session: %v %v", f, err)
	}
}

// The upstream's own count is read from either API's overflow message, for
// the overflow warning.
func TestUpstreamCount(t *testing.T) {
	for body, want := range map[string]int{
		`{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 201881 tokens > 200000 maximum"}}`:                                         201881,
		`{"error":{"message":"This model's maximum context length is 128000 tokens. However, your messages resulted in 130012 tokens.","code":"context_length_exceeded"}}`: 130012,
		`{"type":"error","error":{"message":"prompt is too long"}}`:                                                                                                        0,
	} {
		if got := upstreamCount([]byte(body)); got != want {
			t.Errorf("upstreamCount(%s) = %d, want %d", body, got, want)
		}
	}
}
