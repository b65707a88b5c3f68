package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/caddy-lore/caddy-lore/internal/fakeupstream"
)

func fakeFailure(path string, status int) fakeupstream.Failure {
	return fakeupstream.Failure{Path: path, Status: status}
}

// Upstream unreachable → 502 in Anthropic's shape, with a clear message and
// no Go error internals.
func TestUpstreamDown(t *testing.T) {
	closed := freePort(t) // nothing listens there
	e := NewEnv(t, EnvOptions{Upstream: fmt.Sprintf("http://127.0.0.1:%d", closed)})
	for _, stream := range []bool{false, true} {
		c := newConvo(t, e.URL, apiKeyHeader(e.Creds.Alice))
		c.stream = stream
		r := c.say("is anybody there?")
		if r.Status != http.StatusBadGateway {
			t.Errorf("stream=%v: status %d, want 502: %s", stream, r.Status, truncate(r.Body, 300))
			continue
		}
		if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("stream=%v: 502 content-type %q", stream, ct)
		}
		_, msg := anthropicError(t, r.Body)
		for _, internal := range []string{"dial tcp", "connect: connection refused", ".go:", "goroutine"} {
			if strings.Contains(msg, internal) {
				t.Errorf("502 message exposes internals (%q): %s", internal, msg)
			}
		}
	}
	// Other /v1/* routes too.
	req, _ := http.NewRequest("GET", e.URL+"/v1/models", nil)
	req.Header.Set("x-api-key", e.Creds.Alice)
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != 502 {
		t.Errorf("GET /v1/models upstream down: status %d: %s", resp.StatusCode, truncate(b, 200))
	} else {
		anthropicError(t, b)
	}
}

// Malformed JSON → 400 invalid_request_error, nothing forwarded.
func TestMalformedJSON(t *testing.T) {
	e := NewEnv(t, EnvOptions{})
	for _, body := range []string{`{"model": "claude-sonnet-4-5", "messages": [`, `not json at all`, `["an","array"]`} {
		r := postRaw(t, e.URL+"/v1/messages", apiKeyHeader(e.Creds.Alice), []byte(body))
		if r.Status != 400 {
			t.Errorf("body %q: status %d, want 400: %s", body, r.Status, truncate(r.Body, 200))
			continue
		}
		if typ, _ := anthropicError(t, r.Body); typ != "invalid_request_error" {
			t.Errorf("body %q: error.type %q, want invalid_request_error", body, typ)
		}
	}
	if n := len(e.Requests("/v1/messages")); n != 0 {
		t.Errorf("malformed bodies reached the upstream %d times", n)
	}
}

// A body over max_body → 413 in Anthropic's shape (with and without a
// Content-Length), nothing forwarded; just under the limit passes.
func TestBodyTooLarge(t *testing.T) {
	e := NewEnv(t, EnvOptions{LoreExtra: "max_body 1MiB", Fake: fakeupstream.Options{ContextLimit: 10_000_000}})
	big := bigBody(t, 1536<<10)
	for _, chunked := range []bool{false, true} {
		var rd io.Reader = bytes.NewReader(big)
		if chunked {
			rd = io.MultiReader(bytes.NewReader(big)) // unknown length → chunked
		}
		req, _ := http.NewRequest("POST", e.URL+"/v1/messages", rd)
		req.Header.Set("content-type", "application/json")
		req.Header.Set("anthropic-version", "2023-06-01")
		req.Header.Set("x-api-key", e.Creds.Alice)
		resp, err := httpClient.Do(req)
		if err != nil {
			t.Fatalf("chunked=%v: %v", chunked, err)
		}
		b, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("chunked=%v: status %d, want 413: %s", chunked, resp.StatusCode, truncate(b, 200))
			continue
		}
		anthropicError(t, b)
	}
	if n := len(e.Requests("/v1/messages")); n != 0 {
		t.Errorf("oversized bodies reached the upstream %d times", n)
	}
	small := bigBody(t, 900<<10)
	if r := postRaw(t, e.URL+"/v1/messages", apiKeyHeader(e.Creds.Alice), small); r.Status != 200 {
		t.Errorf("900KiB body under a 1MiB max_body: status %d: %s", r.Status, truncate(r.Body, 300))
	}
}

// bigBody is a valid Messages request of about n bytes (a conversation turn).
func bigBody(t testing.TB, n int) []byte {
	filler := strings.Repeat("lorem ipsum dolor sit amet ", n/27+1)[:n]
	b, err := json.Marshal(map[string]any{
		"model":      testModel,
		"max_tokens": 64,
		"system":     longSystem,
		"messages": []any{
			map[string]any{"role": "user", "content": "Here is a big file:\n" + filler},
			map[string]any{"role": "assistant", "content": "I read it."},
			map[string]any{"role": "user", "content": "Now summarise it. " + randHex(4)},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Unknown body fields, headers that matter and query strings reach the
// upstream; hop-by-hop headers do not; anthropic-version gets its default.
func TestForwardingFidelity(t *testing.T) {
	e := NewEnv(t, EnvOptions{})
	body, _ := json.Marshal(map[string]any{
		"model":              testModel,
		"max_tokens":         64,
		"system":             longSystem,
		"messages":           []any{map[string]any{"role": "user", "content": "hi " + randHex(4)}},
		"lore_e2e_future":    map[string]any{"nested": []any{1, "two", true}},
		"context_management": map[string]any{"edits": []any{map[string]any{"type": "clear_thinking_20251015", "keep": "all"}}},
	})
	req, _ := http.NewRequest("POST", e.URL+"/v1/messages?beta=true", bytes.NewReader(body))
	req.Header.Set("content-type", "application/json")
	req.Header.Set("x-api-key", e.Creds.Alice)
	req.Header.Add("anthropic-beta", "claude-code-20250219,interleaved-thinking-2025-05-14")
	req.Header.Add("anthropic-beta", "context-management-2025-06-27")
	req.Header.Set("x-app", "cli")
	req.Header.Set("user-agent", "claude-cli/2.1.197 (external, sdk-cli)")
	req.Header.Set("x-claude-code-session-id", "0731ce9e-2397-496a-a667-"+randHex(6))
	req.Header.Set("Connection", "keep-alive, X-E2E-Hop")
	req.Header.Set("X-E2E-Hop", "must-not-pass")
	req.Header.Set("Keep-Alive", "timeout=5")
	// no anthropic-version: the gateway adds the default
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, truncate(b, 300))
	}
	recs := e.Requests("/v1/messages")
	if len(recs) != 1 {
		t.Fatalf("fake got %d requests", len(recs))
	}
	r := recs[0]
	if r.RawQuery != "beta=true" {
		t.Errorf("query %q, want beta=true", r.RawQuery)
	}
	h := r.Header
	checkAPIKeyOnly(t, h, e.Creds.Alice)
	if h.Get("Anthropic-Version") != "2023-06-01" {
		t.Errorf("anthropic-version %q, want the 2023-06-01 default", h.Get("Anthropic-Version"))
	}
	for _, beta := range []string{"claude-code-20250219", "interleaved-thinking-2025-05-14", "context-management-2025-06-27"} {
		if !betaHas(h, beta) {
			t.Errorf("anthropic-beta %q lost %s", h.Values("Anthropic-Beta"), beta)
		}
	}
	for k, want := range map[string]string{"X-App": "cli", "User-Agent": "claude-cli/2.1.197 (external, sdk-cli)",
		"X-Claude-Code-Session-Id": req.Header.Get("x-claude-code-session-id")} {
		if h.Get(k) != want {
			t.Errorf("%s = %q, want %q", k, h.Get(k), want)
		}
	}
	if h.Get("X-E2E-Hop") != "" || h.Get("Keep-Alive") != "" {
		t.Errorf("hop-by-hop headers forwarded: X-E2E-Hop=%q Keep-Alive=%q", h.Get("X-E2E-Hop"), h.Get("Keep-Alive"))
	}
	got := bodyJSON(t, r.Body)
	want := bodyJSON(t, body)
	for _, f := range []string{"lore_e2e_future", "context_management"} {
		gj, _ := json.Marshal(got[f])
		wj, _ := json.Marshal(want[f])
		if string(gj) != string(wj) {
			t.Errorf("field %s upstream %s, client sent %s", f, gj, wj)
		}
	}
}

// SSE is forwarded event by event as it arrives: with the upstream pausing
// between events, the first event reaches the client long before the last.
func TestStreamingIsIncremental(t *testing.T) {
	const delay = 150 * time.Millisecond
	e := NewEnv(t, EnvOptions{Fake: fakeupstream.Options{EventDelay: delay}})
	c := newConvo(t, e.URL, apiKeyHeader(e.Creds.Alice))
	c.stream = true
	c.msgs = append(c.msgs, map[string]any{"role": "user", "content": "stream please " + randHex(4)})
	req, _ := http.NewRequest("POST", e.URL+"/v1/messages", bytes.NewReader(c.body()))
	req.Header.Set("content-type", "application/json")
	req.Header.Set("anthropic-version", "2023-06-01")
	req.Header.Set("x-api-key", e.Creds.Alice)
	start := time.Now()
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("status %d: %s", resp.StatusCode, truncate(b, 300))
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Errorf("content-type %q", ct)
	}
	var arrivals []time.Duration
	var names []string
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if name, ok := strings.CutPrefix(sc.Text(), "event:"); ok {
			arrivals = append(arrivals, time.Since(start))
			names = append(names, strings.TrimSpace(name))
		}
	}
	if len(arrivals) < 4 {
		t.Fatalf("only %d events: %v", len(arrivals), names)
	}
	firstToLast := arrivals[len(arrivals)-1] - arrivals[0]
	want := time.Duration(len(arrivals)-2) * delay
	t.Logf("%d events %v; first at %v, last at %v", len(names), names, arrivals[0], arrivals[len(arrivals)-1])
	if firstToLast < want {
		t.Errorf("events arrived in a burst (first→last %v, upstream spaced them over ≥ %v): buffered", firstToLast, want)
	}
	if names[0] != "message_start" || names[len(names)-1] != "message_stop" {
		t.Errorf("event order %v", names)
	}
	hasPing := false
	for _, n := range names {
		hasPing = hasPing || n == "ping"
	}
	if !hasPing {
		t.Errorf("ping events not forwarded: %v", names)
	}
}

// With the site's access log on, which records request headers, no
// credential reaches the log. Caddy redacts Authorization by itself; x-api-key
// needs the filter docs/operations.md recommends (Caddy clones the request for its
// access log before any handler runs, so lore cannot scrub it).
func TestAccessLogNoCredential(t *testing.T) {
	e := NewEnv(t, EnvOptions{AccessLog: true})
	for _, hdr := range []http.Header{apiKeyHeader(e.Creds.Alice), bearerHeader(e.Creds.OAuth)} {
		c := newConvo(t, e.URL, hdr)
		c.mustSay("hello " + randHex(3))
		c.stream = true
		c.mustSay("again " + randHex(3))
	}
	req, _ := http.NewRequest("GET", e.URL+"/v1/models", nil)
	req.Header.Set("x-api-key", e.Creds.Bob)
	if resp, err := httpClient.Do(req); err == nil {
		_ = resp.Body.Close()
	}
	if !waitFor(3*time.Second, func() bool { return strings.Contains(e.Caddy.Log(), `"logger":"http.log.access`) }) {
		t.Errorf("no access log lines in %s", e.Caddy.LogPath)
	}
	if !strings.Contains(e.Caddy.Log(), `"X-Api-Key":"REDACTED"`) {
		t.Errorf("access log lacks the filtered x-api-key header")
	}
	// CheckNoSecrets runs on cleanup.
}
