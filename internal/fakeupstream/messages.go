package fakeupstream

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

type cacheCreationJSON struct {
	Ephemeral5m int `json:"ephemeral_5m_input_tokens"`
	Ephemeral1h int `json:"ephemeral_1h_input_tokens"`
}

type usageJSON struct {
	InputTokens              int               `json:"input_tokens"`
	CacheCreationInputTokens int               `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     int               `json:"cache_read_input_tokens"`
	CacheCreation            cacheCreationJSON `json:"cache_creation"`
	OutputTokens             int               `json:"output_tokens"`
	ServiceTier              string            `json:"service_tier"`
}

// deltaUsageJSON is the cumulative usage of message_delta.
type deltaUsageJSON struct {
	InputTokens              int `json:"input_tokens"`
	CacheCreationInputTokens int `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     int `json:"cache_read_input_tokens"`
	OutputTokens             int `json:"output_tokens"`
}

type messageJSON struct {
	ID           string    `json:"id"`
	Type         string    `json:"type"`
	Role         string    `json:"role"`
	Model        string    `json:"model"`
	Content      []ordered `json:"content"`
	StopReason   *string   `json:"stop_reason"`
	StopSequence *string   `json:"stop_sequence"`
	Usage        usageJSON `json:"usage"`
}

func newUsage(u cacheUsage, output int, tier string) usageJSON {
	return usageJSON{
		InputTokens:              u.Input,
		CacheCreationInputTokens: u.Creation,
		CacheReadInputTokens:     u.Read,
		CacheCreation:            cacheCreationJSON{u.Creation5m, u.Creation1h},
		OutputTokens:             output,
		ServiceTier:              tier,
	}
}

func blockJSON(b replyBlock) ordered {
	switch b.Type {
	case "thinking":
		return obj("type", "thinking", "thinking", b.Text, "signature", b.Signature)
	case "tool_use":
		return obj("type", "tool_use", "id", b.ID, "name", b.Name, "input", json.RawMessage(b.Input))
	}
	return obj("type", "text", "text", b.Text)
}

// completeMessage is the full Message for a reply.
func completeMessage(id, model string, r reply, u cacheUsage, tier string) messageJSON {
	m := messageJSON{
		ID: id, Type: "message", Role: "assistant", Model: model,
		Content: []ordered{},
		Usage:   newUsage(u, r.outputTokens(), tier),
	}
	for _, b := range r.Blocks {
		m.Content = append(m.Content, blockJSON(b))
	}
	stop := r.StopReason
	m.StopReason = &stop
	return m
}

// process runs a parsed request through the context limit, the cache and
// the script; it is shared by /v1/messages and batches.
func (s *Server) process(cred credential, p *msgRequest) (reply, cacheUsage, *apiError) {
	if e := p.validateThinking(s.sigKey); e != nil {
		return reply{}, cacheUsage{}, e
	}
	total := tokensOf(p.weight())
	if total > s.opts.ContextLimit {
		return reply{}, cacheUsage{}, invalidRequest("prompt is too long: %d tokens > %d maximum", total, s.opts.ContextLimit)
	}
	hashes := prefixHashes(p.Model, p.units)
	u := s.cache.account(cred.ID, p.units, hashes, s.now())
	return script(convoOf(p, hashes, s.sigKey)).limit(p.MaxTokens), u, nil
}

func (s *Server) handleMessages(w http.ResponseWriter, r *http.Request) {
	cred, aerr := s.authAnthropic(r)
	if aerr != nil {
		s.writeAPIError(w, r, aerr)
		return
	}
	body, _ := io.ReadAll(r.Body)
	p, aerr := parseMessages(body, false)
	if aerr != nil {
		s.bill(nil, false, reply{}, cacheUsage{}, aerr)
		s.writeAPIError(w, r, aerr)
		return
	}
	rep, usage, aerr := s.process(cred, p)
	s.bill(p, false, rep, usage, aerr)
	if aerr != nil {
		s.writeAPIError(w, r, aerr)
		return
	}
	msgID := fmt.Sprintf("msg_01Fake%016d", s.nextID())
	if !p.Stream {
		s.commonHeaders(w, r)
		writeJSON(w, http.StatusOK, completeMessage(msgID, p.Model, rep, usage, "standard"))
		return
	}
	s.streamMessage(w, r, msgID, p.Model, rep, usage)
}

type sseWriter struct {
	w     http.ResponseWriter
	f     http.Flusher
	ctx   context.Context
	delay time.Duration
	n     int
}

// event writes one "event:"/"data:" pair, sleeping EventDelay before every
// event but the first. It returns false once the client is gone.
func (e *sseWriter) event(name string, v any) bool {
	if e.n > 0 && e.delay > 0 {
		t := time.NewTimer(e.delay)
		select {
		case <-e.ctx.Done():
			t.Stop()
			return false
		case <-t.C:
		}
	}
	e.n++
	b, _ := marshal(v)
	if _, err := fmt.Fprintf(e.w, "event: %s\ndata: %s\n\n", name, b); err != nil {
		return false
	}
	if e.f != nil {
		e.f.Flush()
	}
	return e.ctx.Err() == nil
}

// pieces splits a text into word-sized deltas.
func pieces(s string) []string {
	if s == "" {
		return []string{""}
	}
	return strings.SplitAfter(s, " ")
}

func (s *Server) streamMessage(w http.ResponseWriter, r *http.Request, id, model string, rep reply, u cacheUsage) {
	s.commonHeaders(w, r)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	f, _ := w.(http.Flusher)
	e := &sseWriter{w: w, f: f, ctx: r.Context(), delay: s.opts.EventDelay}

	start := completeMessage(id, model, reply{}, u, "standard")
	start.StopReason = nil
	start.Usage.OutputTokens = 1
	if !e.event("message_start", obj("type", "message_start", "message", start)) {
		return
	}
	ping := obj("type", "ping")
	if len(rep.Blocks) == 0 && !e.event("ping", ping) {
		return
	}
	for i, b := range rep.Blocks {
		var startBlock ordered
		var deltas []ordered
		switch b.Type {
		case "thinking":
			startBlock = obj("type", "thinking", "thinking", "", "signature", "")
			for _, p := range pieces(b.Text) {
				deltas = append(deltas, obj("type", "thinking_delta", "thinking", p))
			}
			deltas = append(deltas, obj("type", "signature_delta", "signature", b.Signature))
		case "tool_use":
			startBlock = obj("type", "tool_use", "id", b.ID, "name", b.Name, "input", obj())
			half := len(b.Input) / 2
			for _, p := range []string{"", b.Input[:half], b.Input[half:]} {
				deltas = append(deltas, obj("type", "input_json_delta", "partial_json", p))
			}
		default:
			startBlock = obj("type", "text", "text", "")
			for _, p := range pieces(b.Text) {
				deltas = append(deltas, obj("type", "text_delta", "text", p))
			}
		}
		if !e.event("content_block_start", obj("type", "content_block_start", "index", i, "content_block", startBlock)) {
			return
		}
		if i == 0 {
			if !e.event("ping", ping) {
				return
			}
			if rep.StreamError {
				e.event("error", errorEnvelope("overloaded_error", "Overloaded", nil))
				return
			}
		}
		for _, d := range deltas {
			if !e.event("content_block_delta", obj("type", "content_block_delta", "index", i, "delta", d)) {
				return
			}
		}
		if !e.event("content_block_stop", obj("type", "content_block_stop", "index", i)) {
			return
		}
	}
	if !e.event("message_delta", obj(
		"type", "message_delta",
		"delta", obj("stop_reason", rep.StopReason, "stop_sequence", nil),
		"usage", deltaUsageJSON{u.Input, u.Creation, u.Read, rep.outputTokens()},
	)) {
		return
	}
	e.event("message_stop", obj("type", "message_stop"))
}

func (s *Server) handleCountTokens(w http.ResponseWriter, r *http.Request) {
	if _, aerr := s.authAnthropic(r); aerr != nil {
		s.writeAPIError(w, r, aerr)
		return
	}
	body, _ := io.ReadAll(r.Body)
	p, aerr := parseMessages(body, true)
	if aerr != nil {
		s.writeAPIError(w, r, aerr)
		return
	}
	s.commonHeaders(w, r)
	writeJSON(w, http.StatusOK, map[string]int{"input_tokens": tokensOf(p.weight())})
}

type modelJSON struct {
	ID             string  `json:"id"`
	Type           string  `json:"type"`
	DisplayName    string  `json:"display_name"`
	CreatedAt      string  `json:"created_at"`
	Line           string  `json:"line"`
	Lifecycle      string  `json:"lifecycle"`
	MaxInputTokens int     `json:"max_input_tokens"`
	MaxTokens      int     `json:"max_tokens"`
	DeprecatedAt   *string `json:"deprecated_at"`
	RetiresAt      *string `json:"retires_at"`
}

// fakeModels is the fake's model list, newest first (GET /v1/models).
var fakeModels = []modelJSON{
	{ID: "claude-sonnet-4-6", DisplayName: "Claude Sonnet 4.6", CreatedAt: "2026-02-17T00:00:00Z", Line: "sonnet", MaxInputTokens: 1000000, MaxTokens: 64000},
	{ID: "claude-opus-4-6", DisplayName: "Claude Opus 4.6", CreatedAt: "2026-02-05T00:00:00Z", Line: "opus", MaxInputTokens: 1000000, MaxTokens: 128000},
	{ID: "claude-opus-4-5-20251101", DisplayName: "Claude Opus 4.5", CreatedAt: "2025-11-24T00:00:00Z", Line: "opus", MaxInputTokens: 200000, MaxTokens: 64000},
	{ID: "claude-haiku-4-5-20251001", DisplayName: "Claude Haiku 4.5", CreatedAt: "2025-10-15T00:00:00Z", Line: "haiku", MaxInputTokens: 200000, MaxTokens: 64000},
	{ID: "claude-sonnet-4-5-20250929", DisplayName: "Claude Sonnet 4.5", CreatedAt: "2025-09-29T00:00:00Z", Line: "sonnet", MaxInputTokens: 200000, MaxTokens: 64000},
}

func modelEntry(m modelJSON) modelJSON {
	m.Type, m.Lifecycle = "model", "active"
	return m
}

func (s *Server) handleModels(w http.ResponseWriter, r *http.Request) {
	if isOpenAIClient(r) {
		s.handleOpenAIModels(w, r)
		return
	}
	if _, aerr := s.authAnthropic(r); aerr != nil {
		s.writeAPIError(w, r, aerr)
		return
	}
	data := make([]modelJSON, len(fakeModels))
	for i, m := range fakeModels {
		data[i] = modelEntry(m)
	}
	s.commonHeaders(w, r)
	writeJSON(w, http.StatusOK, map[string]any{
		"data": data, "has_more": false, "first_id": data[0].ID, "last_id": data[len(data)-1].ID,
	})
}

// handleModel answers GET /v1/models/{id}; an alias without the date
// suffix (e.g. claude-sonnet-4-5) resolves to the dated id.
func (s *Server) handleModel(w http.ResponseWriter, r *http.Request) {
	if _, aerr := s.authAnthropic(r); aerr != nil {
		s.writeAPIError(w, r, aerr)
		return
	}
	id := r.PathValue("id")
	for _, m := range fakeModels {
		if m.ID == id || strings.HasPrefix(m.ID, id+"-20") {
			s.commonHeaders(w, r)
			writeJSON(w, http.StatusOK, modelEntry(m))
			return
		}
	}
	s.writeError(w, r, http.StatusNotFound, "not_found_error", "model: "+id)
}
