package e2e

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/caddy-lore/caddy-lore/internal/fakeupstream"
)

// asPerson makes a Claude-Code-shaped client present an OAuth token and the
// identity header forward_auth would set.
func asPerson(c *ccClient, token, person string) {
	c.hdr.Del("X-Api-Key")
	c.hdr.Set("Authorization", "Bearer "+token)
	c.hdr.Set("Anthropic-Beta", c.hdr.Get("Anthropic-Beta")+",oauth-2025-04-20")
	c.hdr.Set("X-Forwarded-User", person)
}

// With `identity`: a person's OAuth token is replaced mid-session.
// The running session continues (one session, the new token re-sealed) and
// the knowledge curated under the old token is still visible to the
// person's next session under the new one; another person on the same token
// sees none of it; a request without identity is refused with 401.
func TestIdentityAcrossTokenChange(t *testing.T) {
	e := NewEnv(t, EnvOptions{
		LoreExtra: "identity {http.request.header.X-Forwarded-User}\nidle_timeout 0\nbatching {\nflush_interval 300ms\npoll_interval 300ms\n}",
		Fake:      fakeupstream.Options{BatchDelay: 100 * time.Millisecond},
	})
	rc := e.Redis.Client()
	alice := newCCClient(t, e.URL, "")
	asPerson(alice, e.Creds.OAuth, "alice@example.com")
	for i, f := range []string{
		"The tests need redis: [[remember:Test setup=start redis-server on 127.0.0.1:6399 before go test]]",
		"noted", "thanks, carry on",
	} {
		if r := alice.send([]map[string]any{{"type": "text", "text": f}}, i%2 == 0); r.Status != 200 {
			t.Fatalf("turn %d: %d %s", i+1, r.Status, truncate(r.Body, 300))
		}
	}
	if !waitFor(20*time.Second, func() bool { return len(knowledgeEntries(t, rc)) == 1 }) {
		t.Fatalf("no knowledge entry after 20s:\n%s", e.Caddy.LogTail(30))
	}
	ctx := context.Background()
	sessions := func() []string {
		keys, _ := rc.Keys(ctx, "lore:s:{*}:state").Result()
		return keys
	}
	before := sessions()
	if len(before) != 1 {
		t.Fatalf("sessions %v", before)
	}
	fpBefore := rc.HGet(ctx, before[0], "fp").Val()

	// The token is refreshed: same person, same Claude Code session.
	alice.hdr.Set("Authorization", "Bearer "+e.Creds.OAuth2)
	if r := alice.send([]map[string]any{{"type": "text", "text": "and after the refresh?"}}, true); r.Status != 200 {
		t.Fatalf("turn after the refresh: %d", r.Status)
	}
	if !waitFor(5*time.Second, func() bool { return rc.HGet(ctx, before[0], "turns").Val() == "4" }) {
		t.Fatalf("the refreshed token did not continue the session: %v", sessions())
	}
	if got := sessions(); len(got) != 1 {
		t.Fatalf("a new token under one identity started another session: %v", got)
	}
	if rc.HGet(ctx, before[0], "fp").Val() == fpBefore {
		t.Error("the newest credential was not re-sealed (same fingerprint)")
	}
	last := e.Requests("/v1/messages")
	if h := last[len(last)-1].Header; h.Get("Authorization") != "Bearer "+e.Creds.OAuth2 {
		t.Error("the turn after the refresh did not go upstream with the new token")
	}

	// Alice's next session, under the new token, has her knowledge.
	alice2 := newCCClient(t, e.URL, "")
	asPerson(alice2, e.Creds.OAuth2, "alice@example.com")
	if r := alice2.send([]map[string]any{{"type": "text", "text": "why does go test fail with connection refused on redis?"}}, false); r.Status != 200 {
		t.Fatalf("new session: %d", r.Status)
	}
	if sys := lastSystemBlocks(t, e); len(sys) != 4 || !strings.Contains(sys[3], "**Test setup**: start redis-server on 127.0.0.1:6399") {
		t.Fatalf("alice's new session under the new token lacks her knowledge: %q", sys)
	}
	// Bob on the very same token: his own namespace, nothing of Alice's.
	bob := newCCClient(t, e.URL, "")
	asPerson(bob, e.Creds.OAuth2, "bob@example.com")
	if r := bob.send([]map[string]any{{"type": "text", "text": "why does go test fail with connection refused on redis?"}}, false); r.Status != 200 {
		t.Fatalf("bob: %d", r.Status)
	}
	if sys := lastSystemBlocks(t, e); len(sys) != 3 {
		t.Fatalf("another person on the same token got alice's knowledge: %q", sys)
	}

	// No identity: 401 in the route's shape, nothing forwarded.
	n := len(e.Fake.Requests())
	anon := newCCClient(t, e.URL, e.Creds.Alice)
	r := anon.send([]map[string]any{{"type": "text", "text": "who am I?"}}, false)
	if r.Status != http.StatusUnauthorized || !strings.Contains(string(r.Body), `"type":"authentication_error"`) {
		t.Fatalf("no identity: %d %s", r.Status, truncate(r.Body, 300))
	}
	resp, body := e.Post("/v1/chat/completions", http.Header{"Authorization": {"Bearer " + e.Creds.Alice}, "Content-Type": {"application/json"}},
		[]byte(`{"model":"gpt-5","messages":[{"role":"user","content":"hi"}]}`))
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(body), `"error":{"message"`) {
		t.Fatalf("no identity on chat completions: %d %s", resp.StatusCode, truncate(body, 300))
	}
	if len(e.Fake.Requests()) != n {
		t.Error("a request without identity reached the upstream")
	}
}

// With the real client: Claude Code behind `identity` (its
// ANTHROPIC_CUSTOM_HEADERS stand in for what forward_auth would set). Its
// OAuth token is replaced mid-session: the resumed session continues (no new
// gateway session), and the knowledge curated under the old token is in the
// system prompt of the person's next session under the new one; another
// person on the same token gets none of it.
func TestClaudeCodeIdentityKnowledgeAcrossTokens(t *testing.T) {
	bin := claudeBinary(t)
	e := NewEnv(t, EnvOptions{
		LoreExtra: "identity {http.request.header.X-Forwarded-User}\nidle_timeout 0\nbatching {\nflush_interval 300ms\npoll_interval 300ms\n}",
		Fake:      fakeupstream.Options{BatchDelay: 100 * time.Millisecond},
	})
	home := t.TempDir()
	as := func(token, person string) []string {
		return []string{"CLAUDE_CODE_OAUTH_TOKEN=" + token, "ANTHROPIC_CUSTOM_HEADERS=X-Forwarded-User: " + person}
	}
	res := runClaude(t, bin, home, e.URL, "The tests need redis [[remember:Test setup=start redis-server on 127.0.0.1:6399 before go test]]", as(e.Creds.OAuth, "alice"))
	sid, _ := res["session_id"].(string)
	for _, p := range []string{"noted, go on", "thanks, carry on"} {
		runClaude(t, bin, home, e.URL, p, as(e.Creds.OAuth, "alice"), "--resume", sid)
	}
	rc := e.Redis.Client()
	if !waitFor(20*time.Second, func() bool { return len(knowledgeEntries(t, rc)) == 1 }) {
		t.Fatalf("no knowledge entry after 20s:\n%s", e.Caddy.LogTail(30))
	}
	ctx := context.Background()
	before, _ := rc.Keys(ctx, "lore:s:{*}:state").Result()

	// The token is refreshed mid-session.
	runClaude(t, bin, home, e.URL, "after the refresh, say ok", as(e.Creds.OAuth2, "alice"), "--resume", sid)
	after, _ := rc.Keys(ctx, "lore:s:{*}:state").Result()
	if len(after) != len(before) {
		t.Errorf("the refreshed token started another gateway session (%d → %d)", len(before), len(after))
	}

	// Alice's next session under the new token has her knowledge.
	n := len(e.Requests("/v1/messages"))
	runClaude(t, bin, home, e.URL, "why does go test fail with connection refused?", as(e.Creds.OAuth2, "alice"))
	if !turnHas(e, n, e.Creds.OAuth2, "**Test setup**: start redis-server on 127.0.0.1:6399") {
		t.Fatalf("alice's new session under the new token has no knowledge block:\n%s", e.Caddy.LogTail(20))
	}
	// Bob, same token, same working directory: nothing of Alice's.
	n = len(e.Requests("/v1/messages"))
	runClaude(t, bin, home, e.URL, "why does go test fail with connection refused?", as(e.Creds.OAuth2, "bob"))
	if turnHas(e, n, e.Creds.OAuth2, "Long-term Knowledge") {
		t.Fatal("bob's session on the same token got alice's knowledge")
	}
}

// turnHas reports whether a /v1/messages request since the n-th, sent with
// token, contains s.
func turnHas(e *Env, n int, token, s string) bool {
	for _, r := range e.Requests("/v1/messages")[n:] {
		if r.Header.Get("Authorization") == "Bearer "+token && strings.Contains(string(r.Body), s) {
			return true
		}
	}
	return false
}
