package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

const testModel = "claude-sonnet-4-5"

// longSystem is a system prompt of well over 500 characters, so a request
// carrying it is a conversation turn (stored), not a title/utility request.
var longSystem = strings.Repeat("You are a careful coding agent working in a large Go repository. "+
	"Read files before editing them, run the tests after every change, and explain what you did. ", 6)

// convo is a raw-HTTP multi-turn conversation against the gateway (or any
// base URL), so tests control every header and see every byte.
type convo struct {
	t      testing.TB
	base   string
	hdr    http.Header
	model  string
	system string
	stream bool
	msgs   []map[string]any
	extra  map[string]any // extra top-level body fields
}

func newConvo(t testing.TB, base string, hdr http.Header) *convo {
	if hdr == nil {
		hdr = http.Header{}
	}
	return &convo{t: t, base: base, hdr: hdr, model: testModel, system: longSystem}
}

func apiKeyHeader(k string) http.Header {
	return http.Header{"X-Api-Key": {k}}
}

func bearerHeader(tok string) http.Header {
	return http.Header{"Authorization": {"Bearer " + tok}, "Anthropic-Beta": {"oauth-2025-04-20"}}
}

// turnResult is one answered (or refused) turn.
type turnResult struct {
	Status int
	Header http.Header
	Body   []byte
	Text   string   // assistant text (JSON content or accumulated text_delta)
	Events []string // SSE event names in order (stream only)
}

func (c *convo) body() []byte {
	b := map[string]any{
		"model":      c.model,
		"max_tokens": 512,
		"messages":   c.msgs,
	}
	if c.system != "" {
		b["system"] = c.system
	}
	if c.stream {
		b["stream"] = true
	}
	for k, v := range c.extra {
		b[k] = v
	}
	out, err := json.Marshal(b)
	if err != nil {
		c.t.Fatal(err)
	}
	return out
}

// say appends a user message, sends the conversation and, on 200, appends
// the assistant's reply so the next say continues the conversation.
func (c *convo) say(text string) turnResult {
	c.t.Helper()
	c.msgs = append(c.msgs, map[string]any{"role": "user", "content": text})
	r := postRaw(c.t, c.base+"/v1/messages", c.hdr, c.body())
	if r.Status == 200 {
		c.msgs = append(c.msgs, map[string]any{"role": "assistant", "content": []any{map[string]any{"type": "text", "text": r.Text}}})
	} else {
		c.msgs = c.msgs[:len(c.msgs)-1]
	}
	return r
}

// mustSay is say that requires a 200.
func (c *convo) mustSay(text string) turnResult {
	c.t.Helper()
	r := c.say(text)
	if r.Status != 200 {
		c.t.Fatalf("turn %q: status %d: %s", text, r.Status, truncate(r.Body, 500))
	}
	return r
}

// postRaw POSTs body and decodes a Messages reply (JSON or SSE).
func postRaw(t testing.TB, url string, hdr http.Header, body []byte) turnResult {
	t.Helper()
	req, err := http.NewRequest("POST", url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range hdr {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if req.Header.Get("content-type") == "" {
		req.Header.Set("content-type", "application/json")
	}
	if req.Header.Get("anthropic-version") == "" {
		req.Header.Set("anthropic-version", "2023-06-01")
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer func() { _ = resp.Body.Close() }()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(resp.Body); err != nil {
		t.Fatalf("POST %s: reading body: %v", url, err)
	}
	r := turnResult{Status: resp.StatusCode, Header: resp.Header, Body: buf.Bytes()}
	if resp.StatusCode != 200 {
		return r
	}
	if strings.HasPrefix(resp.Header.Get("content-type"), "text/event-stream") {
		r.Events, r.Text = parseSSE(t, r.Body)
	} else {
		r.Text = messageText(t, r.Body)
	}
	return r
}

// messageText joins the text blocks of a Messages JSON reply.
func messageText(t testing.TB, body []byte) string {
	var m struct {
		Type    string `json:"type"`
		Content []struct {
			Type string `json:"type"`
			Text string `json:"text"`
		} `json:"content"`
	}
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("reply is not JSON: %v: %s", err, truncate(body, 300))
	}
	if m.Type != "message" {
		t.Fatalf("reply type %q, want message: %s", m.Type, truncate(body, 300))
	}
	var sb strings.Builder
	for _, b := range m.Content {
		if b.Type == "text" {
			sb.WriteString(b.Text)
		}
	}
	return sb.String()
}

// parseSSE checks the Anthropic SSE framing (every event has an `event:` line
// whose name equals data.type) and returns the event names and the text.
func parseSSE(t testing.TB, body []byte) (events []string, text string) {
	t.Helper()
	var sb strings.Builder
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	var name string
	var data []string
	flush := func() {
		if name == "" && len(data) == 0 {
			return
		}
		if name == "" {
			t.Errorf("SSE event without an event: line: %s", strings.Join(data, "\n"))
		}
		var d struct {
			Type  string `json:"type"`
			Delta struct {
				Type string `json:"type"`
				Text string `json:"text"`
			} `json:"delta"`
		}
		if err := json.Unmarshal([]byte(strings.Join(data, "\n")), &d); err != nil {
			t.Errorf("SSE data of %q is not JSON: %v", name, err)
		} else if d.Type != name {
			t.Errorf("SSE event %q carries data.type %q", name, d.Type)
		}
		if d.Type == "content_block_delta" && d.Delta.Type == "text_delta" {
			sb.WriteString(d.Delta.Text)
		}
		events = append(events, name)
		name, data = "", nil
	}
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			flush()
		case strings.HasPrefix(line, ":"):
		case strings.HasPrefix(line, "event:"):
			name = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
		case strings.HasPrefix(line, "data:"):
			data = append(data, strings.TrimPrefix(strings.TrimPrefix(line, "data:"), " "))
		}
	}
	flush()
	return events, sb.String()
}

var httpClient = &http.Client{Timeout: 60 * 1e9}

// anthropicError checks body is {"type":"error","error":{"type":...,"message":...}}
// and returns error.type and error.message.
func anthropicError(t testing.TB, body []byte) (typ, msg string) {
	t.Helper()
	var e struct {
		Type  string `json:"type"`
		Error struct {
			Type    string `json:"type"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(body, &e); err != nil {
		t.Errorf("error body is not JSON (%v): %s", err, truncate(body, 300))
		return "", ""
	}
	if e.Type != "error" || e.Error.Type == "" || e.Error.Message == "" {
		t.Errorf("error body not in Anthropic shape: %s", truncate(body, 300))
	}
	return e.Error.Type, e.Error.Message
}

// bodyJSON decodes a recorded request body as a JSON object.
func bodyJSON(t testing.TB, body []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("recorded body is not JSON: %v: %s", err, truncate(body, 300))
	}
	return m
}

func truncate(b []byte, n int) string {
	if len(b) <= n {
		return string(b)
	}
	return fmt.Sprintf("%s…(%d bytes)", b[:n], len(b))
}

// checkAPIKeyOnly asserts a recorded request carried exactly x-api-key: key
// and no Authorization header.
func checkAPIKeyOnly(t testing.TB, h http.Header, key string) {
	t.Helper()
	if got := h.Values("X-Api-Key"); len(got) != 1 || got[0] != key {
		t.Errorf("upstream x-api-key = %d value(s) (match=%v), want exactly the caller's key", len(got), len(got) == 1 && got[0] == key)
	}
	if got := h.Values("Authorization"); len(got) != 0 {
		t.Errorf("upstream got an Authorization header (%d values) on an api-key request", len(got))
	}
}

// checkBearerOnly asserts a recorded request carried exactly
// Authorization: Bearer tok, no x-api-key, and oauth-2025-04-20 in anthropic-beta.
func checkBearerOnly(t testing.TB, h http.Header, tok string) {
	t.Helper()
	if got := h.Values("Authorization"); len(got) != 1 || got[0] != "Bearer "+tok {
		t.Errorf("upstream Authorization = %d value(s) (match=%v), want exactly Bearer <token>", len(got), len(got) == 1 && got[0] == "Bearer "+tok)
	}
	if got := h.Values("X-Api-Key"); len(got) != 0 {
		t.Errorf("upstream got x-api-key (%d values) on a bearer request", len(got))
	}
	if !betaHas(h, "oauth-2025-04-20") {
		t.Errorf("upstream anthropic-beta %q lacks oauth-2025-04-20", h.Values("Anthropic-Beta"))
	}
}

func betaHas(h http.Header, v string) bool {
	for _, line := range h.Values("Anthropic-Beta") {
		for _, p := range strings.Split(line, ",") {
			if strings.TrimSpace(p) == v {
				return true
			}
		}
	}
	return false
}
