package handler

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/caddy-lore/caddy-lore/distill"
	"github.com/caddy-lore/caddy-lore/gradient"
	"github.com/caddy-lore/caddy-lore/llm"
)

// syncDistiller is the real distiller; settle waits for the work the
// handler runs on it after a turn, so assertions need no waiting.
type syncDistiller struct{ *distill.Distiller }

// withDistiller wires a real worker (synchronous background pool) and
// distiller to the env's fake upstream and store.
func withDistiller(e *env) *llm.Worker {
	up, _ := url.Parse(e.fake.URL())
	w := llm.New(llm.Config{Upstream: up, Keys: e.keys, Blobs: e.store, Logger: e.h.log})
	e.t.Cleanup(w.Close)
	e.h.cfg.Distiller = syncDistiller{distill.New(distill.Config{Store: e.store, Worker: w})}
	return w
}

func workerCalls(e *env) []string {
	var models []string
	for _, r := range e.fake.Requests() {
		if r.Path != "/v1/messages" {
			continue
		}
		var b struct {
			Model string `json:"model"`
		}
		_ = json.Unmarshal(r.Body, &b)
		if b.Model == llm.DefaultModel {
			models = append(models, string(r.Body))
		}
	}
	return models
}

// Compaction requests are answered from the session (docs/architecture.md,
// Classification, rule 1; Compaction requests).
func TestCompactionAnsweredFromSession(t *testing.T) {
	e := newEnv(t)
	withDistiller(e)
	for turns := 1; turns <= 4; turns++ {
		e.post("/v1/messages", conversation("build the parser", turns, ""), "x-api-key", keyA)
	}
	e.fake.Reset()
	compact := strings.Replace(conversation("build the parser", 5, ""), "user message 4",
		"Please create an anchored summary from the conversation history above.", 1)
	compact = strings.Replace(compact, `"tools":[{"name":"bash","input_schema":{"type":"object"}},{"name":"read","input_schema":{"type":"object"}},{"name":"edit","input_schema":{"type":"object"}}],`, "", 1)
	for _, stream := range []bool{false, true} {
		body := compact
		if stream {
			body = strings.Replace(body, `"max_tokens":1024`, `"max_tokens":1024,"stream":true`, 1)
		}
		status, hdr, resp := e.post("/v1/messages", body, "x-api-key", keyA)
		if status != 200 || !strings.Contains(resp, "msg_lore_compact_") {
			t.Fatalf("stream=%v: %d %s", stream, status, resp)
		}
		if stream {
			if got := eventNames(resp); got != "message_start,content_block_start,content_block_delta,content_block_stop,message_delta,message_stop" {
				t.Fatalf("synthetic SSE events: %s", got)
			}
			if !strings.Contains(hdr.Get("Cache-Control"), "no-transform") {
				t.Fatal("synthetic SSE must be no-transform")
			}
		} else if !strings.Contains(resp, `"input_tokens":0`) || !strings.Contains(resp, `"stop_reason":"end_turn"`) {
			t.Fatalf("synthetic JSON %s", resp)
		}
	}
	for _, r := range e.fake.Requests() {
		if strings.Contains(string(r.Body), "anchored summary from the conversation history above") {
			t.Fatal("the compaction request itself must not be forwarded")
		}
		if r.Header.Get("X-Api-Key") != keyA {
			t.Fatalf("worker call billed to the wrong credential: %v", r.Header)
		}
	}
	if len(workerCalls(e)) == 0 {
		t.Fatal("the summary comes from worker calls")
	}
	if n := len(e.sessionIDs()); n != 1 {
		t.Fatalf("compaction must not create sessions, got %d", n)
	}
}

func TestCompactionWithoutSessionForwarded(t *testing.T) {
	e := newEnv(t)
	withDistiller(e)
	body := strings.Replace(conversation("never seen", 1, ""), `"You are Claude Code`, `"You are an anchored context summarization assistant. You are Claude Code`, 1)
	status, _, resp := e.post("/v1/messages", body, "x-api-key", keyA)
	if status != 200 || strings.Contains(resp, "msg_lore_compact_") || len(e.fake.Requests()) != 1 {
		t.Fatalf("no stored session: forward upstream (%d %s)", status, resp)
	}
}

// ≥ 30 undistilled messages schedule a distillation (docs/context-window.md,
// Distillation); the rows then reach the upstream as the distilled prefix once
// the window needs it.
func TestDistillationAfterThreshold(t *testing.T) {
	e := newEnv(t)
	withDistiller(e)
	for turns := 1; turns <= 16; turns++ {
		e.post("/v1/messages", conversation("long session", turns, ""), "x-api-key", keyA)
	}
	ids := e.sessionIDs()
	if len(ids) != 1 {
		t.Fatalf("sessions %v", ids)
	}
	deadline := time.Now().Add(5 * time.Second)
	var rows []gradient.Distillation
	for time.Now().Before(deadline) {
		rows, _ = distill.New(distill.Config{Store: e.store, Worker: llm.New(llm.Config{})}).Rows(t.Context(), ids[0])
		if len(rows) > 0 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(rows) == 0 || !strings.Contains(rows[0].Observations, "distilled") {
		t.Fatalf("no distillation after 32 stored messages: %+v", rows)
	}
	calls := workerCalls(e)
	if len(calls) == 0 || !strings.Contains(calls[0], `"ttl":"1h"`) {
		t.Fatal("distillation worker call with a 1h-cached system prompt expected")
	}
}
