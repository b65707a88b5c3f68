package handler

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/caddy-lore/caddy-lore/internal/fakeupstream"
)

// chatBody is a chat completions conversation turn (a long system prompt
// and three tools, so it is not a utility call).
func chatBody(model, first string) string {
	sys, _ := json.Marshal("You are a coding agent. " + strings.Repeat("Be precise. ", 50))
	u, _ := json.Marshal(first)
	tool := func(n string) string { return `{"type":"function","function":{"name":"` + n + `"}}` }
	return `{"model":"` + model + `","messages":[{"role":"system","content":` + string(sys) + `},{"role":"user","content":` + string(u) +
		`}],"tools":[` + tool("bash") + `,` + tool("read") + `,` + tool("edit") + `]}`
}

// noAuthOpenAI is an env whose openai_upstream, like a local vLLM, takes
// requests without a key.
func noAuthOpenAI(t *testing.T, mutate ...func(*Config)) (*env, *fakeupstream.Server) {
	oai := fakeupstream.New(fakeupstream.Options{OpenAINoAuth: true, APIKeys: []string{keyA}})
	t.Cleanup(oai.Close)
	e := newEnv(t, append([]func(*Config){func(c *Config) { c.OpenAIUpstream, _ = url.Parse(oai.URL()) }}, mutate...)...)
	return e, oai
}

// No credential and no identity, no state (docs/sessions-and-identity.md,
// Namespaces). Two people of a no-auth upstream with the same first message
// used to share one "anon" session.
func TestNoCredentialNoIdentityNoState(t *testing.T) {
	e, oai := noAuthOpenAI(t)
	for range 2 {
		status, _, body := e.post("/v1/chat/completions", chatBody("gpt-5", "same first message"))
		if status != 200 || !strings.Contains(body, "ok (turn 1)") {
			t.Fatalf("%d %s", status, body)
		}
	}
	if n := len(oai.Requests()); n != 2 {
		t.Fatalf("the upstream got %d requests, want 2", n)
	}
	if keys := e.redis.Keys(); len(keys) != 0 {
		t.Fatalf("a request without credential or identity stored %v", keys)
	}
}

func forwardedUser(r *http.Request) string { return r.Header.Get("X-Forwarded-User") }

// Identity (docs/sessions-and-identity.md): the namespace is the person's; a
// new credential (token refresh) continues the session and is re-sealed;
// another person with the same conversation and client session id gets their
// own session.
func TestIdentityNamespace(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Identity = forwardedUser })
	sid := "X-Claude-Code-Session-Id"
	e.post("/v1/messages", conversation("identity work", 2, ""), "x-api-key", keyA, "X-Forwarded-User", "alice", sid, "cc-1")
	ids := e.sessionIDs()
	if len(ids) != 1 {
		t.Fatalf("sessions %v", ids)
	}
	first, _ := e.store.LoadSession(context.Background(), ids[0])
	// The token changed: same person, same session, the new credential sealed.
	status, _, _ := e.post("/v1/messages", conversation("identity work", 3, ""), "Authorization", "Bearer "+oauthT,
		"anthropic-beta", "oauth-2025-04-20", "X-Forwarded-User", "alice", sid, "cc-1")
	if status != 200 {
		t.Fatalf("status %d", status)
	}
	if got := e.sessionIDs(); len(got) != 1 {
		t.Fatalf("a new credential under one identity started a new session: %v", got)
	}
	sess, _ := e.store.LoadSession(context.Background(), ids[0])
	if sess.Turns != 2 || sess.Namespace != first.Namespace || sess.Namespace != e.keys.IdentityNamespace("alice") {
		t.Fatalf("session after the token change: turns %d", sess.Turns)
	}
	blob, _ := e.store.CredentialBlob(context.Background(), ids[0])
	cred, err := e.keys.Open(blob, ids[0])
	if err != nil || cred.Value != oauthT || sess.Fingerprint != e.keys.Fingerprint(cred) {
		t.Fatalf("the newest credential was not re-sealed: %v", err)
	}

	// Another person, same credential, conversation and client session id.
	e.post("/v1/messages", conversation("identity work", 3, ""), "x-api-key", keyA, "X-Forwarded-User", "bob", sid, "cc-1")
	got := e.sessionIDs()
	if len(got) != 2 {
		t.Fatalf("bob reached alice's session: %v", got)
	}
	for _, id := range got {
		if id == ids[0] {
			continue
		}
		bob, _ := e.store.LoadSession(context.Background(), id)
		if bob.Namespace != e.keys.IdentityNamespace("bob") || bob.Turns != 1 {
			t.Fatalf("bob's session: turns %d", bob.Turns)
		}
	}
}

// An identity that evaluates empty gets 401 authentication_error in the
// route's error shape, before anything is forwarded
// (docs/sessions-and-identity.md, Identity).
func TestEmptyIdentityRefused(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Identity = forwardedUser })
	status, _, body := e.post("/v1/messages", conversation("hi", 2, ""), "x-api-key", keyA)
	if status != 401 || !strings.Contains(body, `"type":"error"`) || !strings.Contains(body, `"type":"authentication_error"`) {
		t.Fatalf("messages: %d %s", status, body)
	}
	status, _, body = e.post("/v1/chat/completions", chatBody("gpt-5", "hi"), "Authorization", "Bearer "+keyA)
	if status != 401 || !strings.Contains(body, `"error":{"message"`) || !strings.Contains(body, `"type":"authentication_error"`) {
		t.Fatalf("chat: %d %s", status, body)
	}
	status, _, body = e.post("/v1/messages/count_tokens", `{}`, "x-api-key", keyA, "X-Forwarded-User", "  ")
	if status != 401 || !strings.Contains(body, `"type":"error"`) {
		t.Fatalf("passthrough: %d %s", status, body)
	}
	if n := len(e.fake.Requests()); n != 0 {
		t.Fatalf("%d requests reached the upstream", n)
	}
	if status, _, _ := e.post("/health", `{}`); status != http.StatusTeapot {
		t.Fatal("non-/v1 requests are not lore's to refuse")
	}
}

// With identity, a caller of a no-auth upstream has state of their own.
func TestIdentityWithoutCredential(t *testing.T) {
	e, _ := noAuthOpenAI(t, func(c *Config) { c.Identity = forwardedUser })
	e.post("/v1/chat/completions", chatBody("gpt-5", "same first message"), "X-Forwarded-User", "alice")
	e.post("/v1/chat/completions", chatBody("gpt-5", "same first message"), "X-Forwarded-User", "bob")
	ids := e.sessionIDs()
	if len(ids) != 2 {
		t.Fatalf("sessions %v", ids)
	}
	for _, id := range ids {
		if blob, _ := e.store.CredentialBlob(context.Background(), id); blob != nil {
			t.Fatal("a credential was stored for a request without one")
		}
	}
}
