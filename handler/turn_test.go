package handler

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/caddy-lore/caddy-lore/auth"
	"github.com/caddy-lore/caddy-lore/internal/fakeupstream"
)

func TestTurnForwardedFaithfullyAndStored(t *testing.T) {
	e := newEnv(t)
	body := conversation("fix the bug in main.go", 1, `"temperature":0.7,"top_p":0.9,"future_field":{"x":[1,2]},`)
	status, hdr, resp := e.post("/v1/messages?beta=true", body,
		"x-api-key", keyA, "anthropic-beta", "interleaved-thinking-2025-05-14", "anthropic-beta", "context-1m-2025-08-07",
		"User-Agent", "claude-cli/2.1.0 (external, cli)", "X-App", "cli", "X-Claude-Code-Session-Id", "cc-1",
		"Cookie", "secret=1", "X-Forwarded-For", "10.1.1.1")
	if status != 200 {
		t.Fatalf("status %d: %s", status, resp)
	}
	up := e.lastUpstream("/v1/messages")
	var sent, orig map[string]json.RawMessage
	if json.Unmarshal(up.Body, &sent) != nil || json.Unmarshal([]byte(body), &orig) != nil {
		t.Fatal("bodies are not JSON objects")
	}
	for k, v := range orig {
		if k == "messages" || k == "system" {
			continue
		}
		if string(sent[k]) != string(v) {
			t.Errorf("field %s: sent %s, client sent %s (unknown fields must pass byte for byte)", k, sent[k], v)
		}
	}
	// docs/context-window.md, Prompt caching: system as a text block with a
	// cache breakpoint; one breakpoint on the last block of the last message.
	if !strings.HasPrefix(string(sent["system"]), `[{"type":"text","text":"You are Claude Code`) ||
		!strings.HasSuffix(string(sent["system"]), `"cache_control":{"type":"ephemeral"}}]`) {
		t.Errorf("system %s", sent["system"])
	}
	if want := `[{"role":"user","content":[{"type":"text","text":"fix the bug in main.go","cache_control":{"type":"ephemeral"}}]}]`; string(sent["messages"]) != want {
		t.Errorf("messages %s\nwant %s", sent["messages"], want)
	}
	if up.RawQuery != "beta=true" {
		t.Fatalf("query %q", up.RawQuery)
	}
	want := map[string]string{"X-Api-Key": keyA, "Anthropic-Version": "2023-06-01", "User-Agent": "claude-cli/2.1.0 (external, cli)",
		"X-App": "cli", "X-Claude-Code-Session-Id": "cc-1", "Content-Type": "application/json"}
	for k, v := range want {
		if got := up.Header.Get(k); got != v {
			t.Errorf("upstream %s = %q, want %q", k, got, v)
		}
	}
	if got := up.Header.Values("Anthropic-Beta"); strings.Join(got, "|") != "interleaved-thinking-2025-05-14|context-1m-2025-08-07" {
		t.Errorf("anthropic-beta %v", got)
	}
	for _, h := range []string{"Authorization", "Cookie", "X-Forwarded-For"} {
		if up.Header.Get(h) != "" {
			t.Errorf("%s must not be forwarded", h)
		}
	}
	if hdr.Get("Request-Id") == "" {
		t.Error("upstream request-id must reach the client")
	}
	var m struct {
		Content []struct{ Text string } `json:"content"`
	}
	if err := json.Unmarshal([]byte(resp), &m); err != nil || len(m.Content) == 0 || m.Content[0].Text != "ok (turn 1)" {
		t.Fatalf("client got %s", resp)
	}

	ids := e.sessionIDs()
	if len(ids) != 1 {
		t.Fatalf("want 1 session, got %v", ids)
	}
	stored := e.messages(ids[0])
	if len(stored) != 2 || stored[0].Role != "user" || stored[1].Role != "assistant" || stored[1].Usage == nil ||
		stored[0].Position != 0 || stored[1].Position != 1 {
		t.Fatalf("stored %+v", stored)
	}
	if strings.Contains(e.dump(), keyA) {
		t.Fatal("credential plaintext in Redis")
	}
	blob, _ := e.store.CredentialBlob(t.Context(), ids[0])
	if c, err := e.keys.Open(blob, ids[0]); err != nil || c.Value != keyA || c.Scheme != auth.SchemeAPIKey {
		t.Fatalf("stored credential does not open to the caller's: %v", err)
	}
}

func TestMultiTurnAppendsToOneSession(t *testing.T) {
	e := newEnv(t)
	for turns := 1; turns <= 3; turns++ {
		if status, _, resp := e.post("/v1/messages", conversation("refactor", turns, ""), "x-api-key", keyA); status != 200 {
			t.Fatalf("turn %d: %d %s", turns, status, resp)
		}
	}
	ids := e.sessionIDs()
	if len(ids) != 1 {
		t.Fatalf("sessions %v", ids)
	}
	stored := e.messages(ids[0])
	if len(stored) != 6 {
		t.Fatalf("want 6 stored messages, got %d", len(stored))
	}
	for i, m := range stored {
		if m.Position != i {
			t.Fatalf("message %d at position %d", i, m.Position)
		}
	}
	sess, _ := e.store.LoadSession(t.Context(), ids[0])
	if sess.Turns != 3 || sess.MessageCount != 5 || sess.Stored != 6 || sess.Usage.OutputTokens == 0 {
		t.Fatalf("session %+v", sess)
	}
}

func TestStreamingTurn(t *testing.T) {
	e := newEnv(t)
	body := strings.Replace(conversation("stream please", 2, ""), `"max_tokens":1024`, `"max_tokens":1024,"stream":true`, 1)
	status, hdr, resp := e.post("/v1/messages", body, "x-api-key", keyA)
	if status != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("status %d type %q", status, hdr.Get("Content-Type"))
	}
	if !strings.Contains(hdr.Get("Cache-Control"), "no-transform") {
		t.Fatal("SSE must be marked no-transform so encode cannot buffer it")
	}
	// The client gets exactly what the upstream sends for the same request.
	direct, _ := http.NewRequest("POST", e.fake.URL()+"/v1/messages", strings.NewReader(body))
	direct.Header.Set("x-api-key", keyA)
	direct.Header.Set("anthropic-version", "2023-06-01")
	dr, err := http.DefaultClient.Do(direct)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = dr.Body.Close() }()
	var want strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := dr.Body.Read(buf)
		want.Write(buf[:n])
		if err != nil {
			break
		}
	}
	if eventNames(resp) != eventNames(want.String()) || !strings.Contains(resp, "event: ping") {
		t.Fatalf("events differ:\n%s\nwant\n%s", eventNames(resp), eventNames(want.String()))
	}
	ids := e.sessionIDs()
	if len(ids) != 1 {
		t.Fatalf("sessions %v", ids)
	}
	stored := e.messages(ids[0])
	if len(stored) != 4 || stored[3].Role != "assistant" || !strings.Contains(string(stored[3].Content), "ok (turn 2)") {
		t.Fatalf("stored %+v", stored)
	}
}

func eventNames(sse string) string {
	var names []string
	for _, line := range strings.Split(sse, "\n") {
		if strings.HasPrefix(line, "event: ") {
			names = append(names, strings.TrimPrefix(line, "event: "))
		}
	}
	return strings.Join(names, ",")
}

// Credential schemes (docs/sessions-and-identity.md, Credentials;
// docs/architecture.md, Credentials and forwarded headers).
func TestCredentialSchemes(t *testing.T) {
	e := newEnv(t)
	body := conversation("schemes", 1, "")

	e.post("/v1/messages", body, "x-api-key", keyA, "Authorization", "Bearer "+oauthT)
	up := e.lastUpstream("/v1/messages")
	if up.Header.Get("X-Api-Key") != keyA || up.Header.Get("Authorization") != "" {
		t.Fatalf("x-api-key must win alone: %v", up.Header)
	}

	status, _, _ := e.post("/v1/messages", body, "authorization", "bEaReR "+oauthT, "anthropic-beta", "claude-code-20250219,oauth-2025-04-20")
	up = e.lastUpstream("/v1/messages")
	if status != 200 || up.Header.Get("Authorization") != "Bearer "+oauthT || up.Header.Get("X-Api-Key") != "" ||
		up.Header.Get("Anthropic-Beta") != "claude-code-20250219,oauth-2025-04-20" {
		t.Fatalf("bearer: status %d headers %v", status, up.Header)
	}

	status, _, resp := e.post("/v1/messages", body, "Authorization", "Basic eHl6")
	up = e.lastUpstream("/v1/messages")
	if status != 401 || up.Header.Get("Authorization") != "" || up.Header.Get("X-Api-Key") != "" {
		t.Fatalf("basic is no credential: status %d %s headers %v", status, resp, up.Header)
	}
}

func TestNothingStoredForRefusedCredential(t *testing.T) {
	e := newEnv(t)
	status, _, resp := e.post("/v1/messages", conversation("hi", 1, ""), "x-api-key", "sk-made-up")
	if status != 401 || !strings.Contains(resp, "authentication_error") {
		t.Fatalf("status %d %s", status, resp)
	}
	if keys := e.redis.Keys(); len(keys) != 0 {
		t.Fatalf("a refused credential stored %v", keys)
	}
}

// Upstream errors reach the client unchanged; nothing is stored
// (docs/architecture.md, Routes; docs/sessions-and-identity.md, Credentials).
func TestUpstreamErrorsRelayed(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		status int
		header http.Header
		body   string
	}{
		{429, http.Header{"Retry-After": {"17"}, "Anthropic-Ratelimit-Requests-Remaining": {"0"}}, `{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}`},
		{529, nil, `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`},
		{500, nil, `{"type":"error","error":{"type":"api_error","message":"boom"}}`},
		{400, nil, `{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: 100000 > 64000"}}`},
	} {
		e.fake.FailNext(fakeupstream.Failure{Path: "/v1/messages", Status: tc.status, Header: tc.header, Body: tc.body})
		status, hdr, resp := e.post("/v1/messages", conversation("err", 1, ""), "x-api-key", keyA)
		if status != tc.status || resp != tc.body {
			t.Fatalf("got %d %s, want %d %s", status, resp, tc.status, tc.body)
		}
		for k := range tc.header {
			if hdr.Get(k) != tc.header.Get(k) {
				t.Errorf("%d: header %s = %q", tc.status, k, hdr.Get(k))
			}
		}
	}
	if len(e.sessionIDs()) != 0 {
		t.Fatal("failed turns must not be stored")
	}
}

func TestGatewayErrors(t *testing.T) {
	e := newEnv(t)
	status, hdr, resp := e.post("/v1/messages", `{"model": "x", "messages": [`, "x-api-key", keyA)
	assertAnthropicError(t, status, hdr, resp, 400, "invalid_request_error")

	big := `{"model":"x","messages":[{"role":"user","content":"` + strings.Repeat("a", 2<<20) + `"}]}`
	status, hdr, resp = e.post("/v1/messages", big, "x-api-key", keyA)
	assertAnthropicError(t, status, hdr, resp, 413, "request_too_large")

	status, hdr, resp = e.post("/v1/messages/count_tokens", big, "x-api-key", keyA)
	assertAnthropicError(t, status, hdr, resp, 413, "request_too_large")

	status, hdr, resp = e.post("/v1/chat/completions", big, "Authorization", "Bearer "+keyA)
	if status != 413 || !strings.Contains(resp, `"error":{`) || strings.Contains(resp, `"type":"error"`) {
		t.Fatalf("OpenAI route must answer in OpenAI's shape: %d %s", status, resp)
	}
	_ = hdr
	if n := len(e.fake.Requests()); n != 0 {
		t.Fatalf("nothing should reach the upstream, got %d requests", n)
	}
}

func TestUpstreamDown(t *testing.T) {
	e := newEnv(t)
	e.fake.Close()
	status, hdr, resp := e.post("/v1/messages", conversation("down", 1, ""), "x-api-key", keyA)
	assertAnthropicError(t, status, hdr, resp, 502, "api_error")
	if strings.Contains(resp, "dial") || strings.Contains(resp, "127.0.0.1") {
		t.Fatalf("error leaks internals: %s", resp)
	}
}

func assertAnthropicError(t *testing.T, status int, hdr http.Header, body string, wantStatus int, wantType string) {
	t.Helper()
	var v struct {
		Type  string `json:"type"`
		Error struct {
			Type    string `json:"type"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if status != wantStatus || json.Unmarshal([]byte(body), &v) != nil || v.Type != "error" || v.Error.Type != wantType || v.Error.Message == "" {
		t.Fatalf("got %d %s, want %d with error type %s", status, body, wantStatus, wantType)
	}
	if hdr.Get("Content-Type") != "application/json" {
		t.Fatalf("content-type %q", hdr.Get("Content-Type"))
	}
}
