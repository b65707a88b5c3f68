package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Two credentials, same first message, same model, no client session ids:
// two sessions, each with only its own messages.
func TestIsolationSameFirstMessage(t *testing.T) {
	e := NewEnv(t, EnvOptions{})
	first := "Hello, please look at the failing test in pkg/foo. " + randHex(4)
	alice := newConvo(t, e.URL, apiKeyHeader(e.Creds.Alice))
	bob := newConvo(t, e.URL, apiKeyHeader(e.Creds.Bob))
	am, bm := "e2e-alice-"+randHex(5), "e2e-bob-"+randHex(5)

	alice.mustSay(first)
	bob.mustSay(first)
	for i := 2; i <= 4; i++ {
		alice.mustSay(fmt.Sprintf("alice step %d %s-%d", i, am, i))
		bob.mustSay(fmt.Sprintf("bob step %d %s-%d", i, bm, i))
	}
	dump := waitDump(t, e, am+"-4", bm+"-4")
	checkDisjoint(t, dump, am, bm)
	checkQueueItems(t, e, am, bm)
	// The shared first message is stored twice, once per session.
	if ks := KeysContaining(dump, first); len(ks) < 2 {
		t.Errorf("first message stored under %d key(s) %v, want one per session (2)", len(ks), ks)
	}
	if n := countSessions(dump); n != 2 {
		t.Errorf("redis has %d sessions, want 2", n)
	}
}

// A caller presenting another caller's session id (each identification path)
// gets a fresh session of its own: none of the other's messages are read or
// extended.
func TestIsolationStolenSessionID(t *testing.T) {
	e := NewEnv(t, EnvOptions{})
	ccSession := "2c1f5b6e-7d4a-4b8e-9f00-" + randHex(6)
	cases := []struct {
		name string
		set  func(c *convo, id string)
	}{
		{"x-claude-code-session-id", func(c *convo, id string) { c.hdr.Set("X-Claude-Code-Session-Id", id) }},
		{"x-lore-session-id", func(c *convo, id string) { c.hdr.Set("X-Lore-Session-Id", id) }},
		{"metadata.user_id-json", func(c *convo, id string) {
			uid, _ := json.Marshal(map[string]string{"device_id": strings.Repeat("ab", 32), "account_uuid": "", "session_id": id})
			c.extra = map[string]any{"metadata": map[string]any{"user_id": string(uid)}}
		}},
		{"metadata.user_id-legacy", func(c *convo, id string) {
			c.extra = map[string]any{"metadata": map[string]any{"user_id": "user_" + strings.Repeat("cd", 32) + "_account__session_" + id}}
		}},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id := fmt.Sprintf("%s%02d", ccSession[:len(ccSession)-2], i)
			am, bm := "e2e-owner-"+randHex(5), "e2e-thief-"+randHex(5)
			owner := newConvo(t, e.URL, apiKeyHeader(e.Creds.Alice))
			tc.set(owner, id)
			for j := 1; j <= 3; j++ {
				owner.mustSay(fmt.Sprintf("owner message %d %s-%d", j, am, j))
			}
			thief := newConvo(t, e.URL, apiKeyHeader(e.Creds.Carol))
			tc.set(thief, id)
			before := len(e.Requests("/v1/messages"))
			for j := 1; j <= 2; j++ {
				thief.mustSay(fmt.Sprintf("thief message %d %s-%d", j, bm, j))
			}
			for _, r := range e.Requests("/v1/messages")[before:] {
				if strings.Contains(string(r.Body), am) {
					t.Errorf("the other credential's request carried the owner's messages upstream")
				}
				checkAPIKeyOnly(t, r.Header, e.Creds.Carol)
			}
			dump := waitDump(t, e, am+"-3", bm+"-2")
			checkDisjoint(t, dump, am, bm)
			// The owner continues undisturbed in its own session.
			owner.mustSay(fmt.Sprintf("owner message 4 %s-4", am))
			dump = waitDump(t, e, am+"-4")
			if !overlap(KeysContaining(dump, am+"-1"), KeysContaining(dump, am+"-4")) {
				t.Errorf("owner's session did not continue after the other credential used its id")
			}
			checkDisjoint(t, dump, am, bm)
		})
	}
}

// waitDump waits until every marker is somewhere in Redis and returns the dump.
func waitDump(t *testing.T, e *Env, markers ...string) map[string]string {
	t.Helper()
	var dump map[string]string
	ok := waitFor(5*time.Second, func() bool {
		var err error
		dump, err = e.Redis.Dump(context.Background())
		if err != nil {
			return false
		}
		for _, m := range markers {
			if len(KeysContaining(dump, m)) == 0 {
				return false
			}
		}
		return true
	})
	if !ok {
		t.Fatalf("markers %v not all stored in Redis; keys: %v", markers, keyNames(dump))
	}
	return dump
}

// checkDisjoint: no Redis key holds text of both conversations.
func checkDisjoint(t *testing.T, dump map[string]string, a, b string) {
	t.Helper()
	ka, kb := KeysContaining(dump, a), KeysContaining(dump, b)
	if len(ka) == 0 || len(kb) == 0 {
		t.Errorf("expected both conversations in Redis: %d and %d keys", len(ka), len(kb))
	}
	for _, x := range ka {
		for _, y := range kb {
			// The batch queue is one structure for all sessions by design
			// (items are grouped by credential at flush); checkQueueItems
			// checks that each of its items belongs to one session.
			if x == y && !strings.HasPrefix(x, "lore:bq:") {
				t.Errorf("redis key %q holds messages of both credentials", x)
			}
		}
	}
}

// checkQueueItems checks that every queued worker call (curation, after
// 3 turns) carries one conversation only.
func checkQueueItems(t *testing.T, e *Env, a, b string) {
	t.Helper()
	for id, item := range e.Redis.Client().HGetAll(context.Background(), "lore:bq:{batch}:items").Val() {
		if strings.Contains(item, a) && strings.Contains(item, b) {
			t.Errorf("queued item %s holds messages of both credentials", id)
		}
	}
}

// countSessions counts session state hashes (store/keys.go:
// <prefix>s:{<sid>}:state).
func countSessions(dump map[string]string) int {
	n := 0
	for k := range dump {
		if strings.HasPrefix(k, "lore:s:{") && strings.HasSuffix(k, "}:state") {
			n++
		}
	}
	return n
}

// a request with no credential at all is forwarded and answered by the
// upstream (401), and nothing is stored.
func TestNoCredentialNothingStored(t *testing.T) {
	e := NewEnv(t, EnvOptions{})
	mk := "e2e-anon-" + randHex(5)
	for _, hdr := range []http.Header{
		{},
		{"X-Api-Key": {"sk-ant-api03-e2eUnknown" + randHex(16)}},
		{"Authorization": {"Basic dXNlcjpwYXNz"}},
	} {
		for _, v := range hdr.Values("X-Api-Key") {
			e.Secret(v)
		}
		c := newConvo(t, e.URL, hdr)
		r := c.say("hello " + mk)
		if r.Status != 401 {
			t.Errorf("status %d, want the upstream's 401: %s", r.Status, truncate(r.Body, 200))
		}
		anthropicError(t, r.Body)
	}
	dump, err := e.Redis.Dump(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if ks := KeysContaining(dump, mk); len(ks) > 0 {
		t.Errorf("a refused request was stored: %v", ks)
	}
}

// After api-key and OAuth conversations (JSON and SSE), a full dump of Redis
// holds each session's credential — sealed — and no credential in plaintext
// (nor hex, nor its random tail) in any key name or value.
func TestRedisDumpHasNoPlaintextCredential(t *testing.T) {
	e := NewEnv(t, EnvOptions{})
	var markers []string
	for i, hdr := range []http.Header{apiKeyHeader(e.Creds.Alice), apiKeyHeader(e.Creds.Bob), bearerHeader(e.Creds.OAuth), bearerHeader(e.Creds.OAuth2)} {
		c := newConvo(t, e.URL, hdr)
		mk := fmt.Sprintf("e2e-dump-%d-%s", i, randHex(4))
		markers = append(markers, mk)
		c.mustSay("first " + mk)
		c.stream = true
		c.mustSay("second " + mk)
	}
	dump := waitDump(t, e, markers...)
	creds := 0
	for k, v := range dump {
		if strings.HasPrefix(k, "lore:s:{") && strings.HasSuffix(k, "}:cred") {
			creds++
			if len(v) < 28 { // nonce + tag at least
				t.Errorf("sealed credential %s is only %d bytes", k, len(v))
			}
		}
	}
	if n := countSessions(dump); n != 4 || creds != 4 {
		t.Errorf("redis has %d sessions and %d sealed credentials, want 4 and 4; keys: %v", n, creds, keyNames(dump))
	}
	for k, v := range dump {
		for _, s := range e.Creds.all() {
			for _, form := range secretForms(s) {
				if strings.Contains(k, form) || strings.Contains(v, form) {
					t.Errorf("redis key %q holds a credential in plaintext", k)
				}
			}
		}
	}
	t.Logf("redis dump: %d keys, %d sessions, %d sealed credentials, no plaintext credential", len(dump), countSessions(dump), creds)
}
