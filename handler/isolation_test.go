package handler

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
)

// Sessions are namespaced by a keyed hash of the credential
// (docs/sessions-and-identity.md, Namespaces).
func TestSessionsIsolatedByCredential(t *testing.T) {
	e := newEnv(t)
	for turns := 1; turns <= 2; turns++ {
		e.post("/v1/messages", conversation("same first message", turns, ""), "x-api-key", keyA)
		e.post("/v1/messages", conversation("same first message", turns, ""), "x-api-key", keyB)
	}
	if ids := e.sessionIDs(); len(ids) != 2 {
		t.Fatalf("two credentials with the same first message and model must get two sessions, got %v", ids)
	}

	// A client session id copied by another credential reaches a fresh
	// session, never the owner's history.
	for _, hdr := range []string{"X-Claude-Code-Session-Id", "X-Lore-Session-Id"} {
		e2 := newEnv(t)
		body := conversation("private work", 3, "")
		e2.post("/v1/messages", body, "x-api-key", keyA, hdr, "victim-session")
		owner := e2.sessionIDs()
		e2.post("/v1/messages", body, "x-api-key", keyB, hdr, "victim-session")
		ids := e2.sessionIDs()
		if len(owner) != 1 || len(ids) != 2 {
			t.Fatalf("%s: sessions before %v after %v", hdr, owner, ids)
		}
		for _, id := range ids {
			if id == owner[0] {
				continue
			}
			ownerSess, _ := e2.store.LoadSession(t.Context(), owner[0])
			thief, _ := e2.store.LoadSession(t.Context(), id)
			if thief.Namespace == ownerSess.Namespace || thief.Turns != 1 || len(e2.messages(id)) != 6 || len(e2.messages(owner[0])) != 6 {
				t.Fatalf("%s: the copied id reached the owner's session", hdr)
			}
		}
	}
}

func TestClaudeCodeMetadataSession(t *testing.T) {
	e := newEnv(t)
	meta := `"metadata":{"user_id":"{\"device_id\":\"d\",\"account_uuid\":\"\",\"session_id\":\"s-1\"}"},`
	e.post("/v1/messages", conversation("hello", 1, meta), "x-api-key", keyA)
	e.post("/v1/messages", conversation("hello", 2, meta), "x-api-key", keyA)
	other := strings.Replace(meta, "s-1", "s-2", 1)
	e.post("/v1/messages", conversation("hello", 1, other), "x-api-key", keyA)
	if ids := e.sessionIDs(); len(ids) != 2 {
		t.Fatalf("two Claude Code sessions with the same first message must stay apart, got %v", ids)
	}
	// A model change starts a new session.
	e.post("/v1/messages", strings.Replace(conversation("hello", 3, meta), "claude-sonnet-4-5", "claude-opus-4-5", 1), "x-api-key", keyA)
	if ids := e.sessionIDs(); len(ids) != 3 {
		t.Fatalf("model change: sessions %v", ids)
	}
}

func TestForkStartsNewSession(t *testing.T) {
	e := newEnv(t)
	e.post("/v1/messages", conversation("fork me", 15, ""), "x-api-key", keyA) // 29 messages
	e.post("/v1/messages", conversation("fork me", 2, ""), "x-api-key", keyA)  // 3 messages: 26 fewer
	if ids := e.sessionIDs(); len(ids) != 2 {
		t.Fatalf("a request 26 messages shorter is a fork: %v", ids)
	}
}

func TestUtilityRequestNotStored(t *testing.T) {
	e := newEnv(t)
	body := `{"model":"claude-haiku-4-5","max_tokens":50,"system":"Write a 5-word title.","messages":[{"role":"user","content":"fix login bug"}]}`
	status, _, resp := e.post("/v1/messages", body, "x-api-key", keyA)
	if status != 200 || !strings.Contains(resp, "ok (turn 1)") {
		t.Fatalf("%d %s", status, resp)
	}
	if string(e.lastUpstream("/v1/messages").Body) != body {
		t.Fatal("utility requests are forwarded untouched")
	}
	if keys := e.redis.Keys(); len(keys) != 0 {
		t.Fatalf("utility request stored %v", keys)
	}
}

func TestOtherRoutes(t *testing.T) {
	e := newEnv(t)
	status, _, resp := e.post("/v1/messages/count_tokens", `{"model":"claude-sonnet-4-5","messages":[{"role":"user","content":"count me"}]}`, "x-api-key", keyA)
	up := e.lastUpstream("/v1/messages/count_tokens")
	if status != 200 || !strings.Contains(resp, "input_tokens") || up.Header.Get("X-Api-Key") != keyA {
		t.Fatalf("count_tokens: %d %s", status, resp)
	}
	req, _ := http.NewRequest("GET", e.srv.URL+"/v1/models?limit=2", nil)
	req.Header.Set("Authorization", "Bearer "+oauthT)
	req.Header.Set("anthropic-beta", "oauth-2025-04-20")
	resp2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp2.Body.Close()
	up = e.lastUpstream("/v1/models")
	if resp2.StatusCode != 200 || up.RawQuery != "limit=2" || up.Header.Get("Authorization") != "Bearer "+oauthT || up.Header.Get("X-Api-Key") != "" {
		t.Fatalf("models: %d %+v", resp2.StatusCode, up)
	}
	status, _, resp = e.post("/health", `{}`)
	if status != http.StatusTeapot || resp != "next handler" {
		t.Fatalf("non-/v1 paths go to the next handler: %d %s", status, resp)
	}
	if len(e.redis.Keys()) != 0 {
		t.Fatal("passthrough routes store nothing")
	}
}

func TestRedisDownTurnsStillProxied(t *testing.T) {
	e := newEnv(t)
	if status, _, _ := e.post("/v1/messages", conversation("resilient", 1, ""), "x-api-key", keyA); status != 200 {
		t.Fatal("first turn")
	}
	e.redis.Close()
	for turns := 2; turns <= 4; turns++ {
		if status, _, resp := e.post("/v1/messages", conversation("resilient", turns, ""), "x-api-key", keyA); status != 200 {
			t.Fatalf("turn %d with Redis down: %d %s", turns, status, resp)
		}
	}
	if err := e.redis.Restart(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !e.store.Available() && time.Now().Before(deadline) {
		e.post("/v1/messages", conversation("resilient", 5, ""), "x-api-key", keyA)
		time.Sleep(100 * time.Millisecond)
	}
	if !e.store.Available() {
		t.Fatal("store did not recover after Redis came back")
	}
}

func TestClientDisconnectCancelsUpstream(t *testing.T) {
	canceled := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\"}}\n\n")
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
			close(canceled)
		case <-time.After(10 * time.Second):
		}
	}))
	defer up.Close()
	u, _ := url.Parse(up.URL)
	e := newEnv(t, func(c *Config) { c.Upstream = u })

	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "POST", e.srv.URL+"/v1/messages", strings.NewReader(conversation("s", 2, `"stream":true,`)))
	req.Header.Set("x-api-key", keyA)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	_, _ = resp.Body.Read(buf)
	cancel()
	_ = resp.Body.Close()
	select {
	case <-canceled:
	case <-time.After(5 * time.Second):
		t.Fatal("the upstream request was not canceled when the client went away")
	}
	if len(e.sessionIDs()) != 0 {
		t.Fatal("an interrupted turn must not be stored")
	}
}

func TestNoSecretsInLogs(t *testing.T) {
	e := newEnv(t)
	e.post("/v1/messages", conversation("log me", 1, ""), "x-api-key", keyA)
	e.post("/v1/messages", conversation("log me", 1, ""), "Authorization", "Bearer "+oauthT, "anthropic-beta", "oauth-2025-04-20")
	e.post("/v1/messages", conversation("log me", 1, ""), "x-api-key", "sk-made-up-secret")
	e.fake.Close()
	e.post("/v1/messages", conversation("log me", 1, ""), "x-api-key", keyB)
	if e.logs.Len() == 0 {
		t.Fatal("expected some log lines (debug turn lines, the upstream failure)")
	}
	for _, entry := range e.logs.All() {
		line := entry.Message
		enc := zapcore.NewMapObjectEncoder()
		for _, f := range entry.Context {
			f.AddTo(enc)
		}
		for k, v := range enc.Fields {
			line += " " + k + "=" + toString(v)
		}
		for _, secret := range []string{keyA, keyB, oauthT, "sk-made-up-secret", secret} {
			if strings.Contains(line, secret) || strings.Contains(line, secret[len(secret)-8:]) {
				t.Fatalf("log line leaks a secret: %s", line)
			}
		}
	}
}

func toString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case error:
		return x.Error()
	default:
		return strings.TrimSpace(strings.ReplaceAll(strings.ReplaceAll(fmtAny(x), "\n", " "), "\t", " "))
	}
}
