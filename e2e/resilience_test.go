package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/caddy-lore/caddy-lore/internal/fakeupstream"
)

// Redis killed mid-run: turns are still answered; after Redis comes back
// (with its data, saved before the kill) the same session carries on.
func TestRedisOutage(t *testing.T) {
	e := NewEnv(t, EnvOptions{})
	c := newConvo(t, e.URL, apiKeyHeader(e.Creds.Alice))
	c.hdr.Set("X-Lore-Session-Id", "e2e-outage-"+randHex(6))
	mk := "e2e-outage-" + randHex(5)
	c.mustSay(fmt.Sprintf("before the outage %s-1", mk))
	c.mustSay(fmt.Sprintf("before the outage %s-2", mk))
	waitDump(t, e, mk+"-2")
	e.Redis.Save(t)
	e.Redis.Kill(t)

	for i := 3; i <= 5; i++ {
		for _, stream := range []bool{false, true} {
			c.stream = stream
			start := time.Now()
			r := c.say(fmt.Sprintf("during the outage %s-%d-%v", mk, i, stream))
			if r.Status != 200 {
				t.Fatalf("turn %d (stream=%v) during the Redis outage: status %d: %s", i, stream, r.Status, truncate(r.Body, 300))
			}
			if el := time.Since(start); el > 10*time.Second {
				t.Errorf("turn %d during the outage took %v", i, el)
			}
		}
	}
	c.stream = false

	e.Redis.Start(t)
	// The store notices Redis is back on a later call; keep talking until a
	// turn is stored again (bounded).
	var stored string
	ok := waitFor(20*time.Second, func() bool {
		mkN := fmt.Sprintf("%s-after-%s", mk, randHex(3))
		c.mustSay("after the outage " + mkN)
		dump, err := e.Redis.Dump(t.Context())
		if err != nil {
			return false
		}
		if len(KeysContaining(dump, mkN)) > 0 {
			stored = mkN
			return true
		}
		time.Sleep(500 * time.Millisecond)
		return false
	})
	if !ok {
		t.Fatalf("no turn stored in Redis within 20s of it coming back; log tail:\n%s", e.Caddy.LogTail(30))
	}
	dump := waitDump(t, e, stored, mk+"-1")
	if !overlap(KeysContaining(dump, mk+"-1"), KeysContaining(dump, stored)) {
		t.Errorf("after Redis came back the turn went to a different session than before the outage")
	}
}

// Two reloads with a changed config: the gateway keeps serving, the change
// takes effect, and the Redis connection count does not grow (the client is
// shared through a UsagePool and released by the old config's Cleanup).
func TestReloadKeepsServingAndConnections(t *testing.T) {
	e := NewEnv(t, EnvOptions{LoreExtra: "max_body 1MiB", Fake: fakeupstream.Options{ContextLimit: 10_000_000}})
	c := newConvo(t, e.URL, apiKeyHeader(e.Creds.Alice))
	c.hdr.Set("X-Lore-Session-Id", "e2e-reload-"+randHex(6))
	mk := "e2e-reload-" + randHex(5)
	for i := 1; i <= 3; i++ {
		c.mustSay(fmt.Sprintf("warm up %s-%d", mk, i))
	}
	waitDump(t, e, mk+"-3")
	baseline := e.Redis.ConnectedClients(t)
	t.Logf("baseline connected_clients (gateway) = %d", baseline)
	if baseline < 1 {
		t.Errorf("gateway holds %d Redis connections after 3 stored turns", baseline)
	}
	big := bigBody(t, 1536<<10)

	steps := []struct {
		extra   string
		bigCode int
	}{
		{"max_body 2MiB\nretention 48h", 200},
		{"max_body 1MiB\nretention 24h", 413},
		{"max_body 2MiB\nretention 47h", 200},
		{"max_body 1MiB\nretention 23h", 413},
		{"max_body 2MiB\nretention 46h", 200},
	}
	afterFirst := 0
	for i, st := range steps {
		e.Caddy.Reload(t, e.Caddyfile(st.extra))
		for j := 1; j <= 3; j++ {
			c.mustSay(fmt.Sprintf("after reload %d %s-r%d-%d", i+1, mk, i+1, j))
		}
		if r := postRaw(t, e.URL+"/v1/messages", apiKeyHeader(e.Creds.Alice), big); r.Status != st.bigCode {
			t.Errorf("reload %d (%q): 1.5MiB body status %d, want %d — config change not applied?", i+1, st.extra, r.Status, st.bigCode)
		}
		waitDump(t, e, fmt.Sprintf("%s-r%d-3", mk, i+1))
		// Give the old config's Cleanup a moment to release its pool reference.
		time.Sleep(300 * time.Millisecond)
		n := e.Redis.ConnectedClients(t)
		t.Logf("after reload %d: connected_clients (gateway) = %d", i+1, n)
		// The shared pool grows with concurrent use (turn lookups, commits,
		// the batch queue, curation and idle timers) up to a small bound,
		// whenever that concurrency happens to peak; a client per reload
		// would add at least one connection per reload, 4 more from the
		// first reload to the fifth.
		if i == 0 {
			afterFirst = n
		}
		if n > baseline+4 || n > afterFirst+2 {
			t.Errorf("after reload %d the gateway holds %d Redis connections, was %d before reloading and %d after the first\n%s",
				i+1, n, baseline, afterFirst, e.Redis.ClientList())
		}
	}
	dump := waitDump(t, e, mk+"-1", mk+"-r5-3")
	if !overlap(KeysContaining(dump, mk+"-1"), KeysContaining(dump, mk+"-r5-3")) {
		t.Errorf("the session did not survive the reloads")
	}
}

// kill -9 of Caddy mid-conversation: after a restart the same session
// continues from Redis.
func TestCaddyKill9Restart(t *testing.T) {
	e := NewEnv(t, EnvOptions{})
	c := newConvo(t, e.URL, apiKeyHeader(e.Creds.Bob))
	c.hdr.Set("X-Claude-Code-Session-Id", "5e0c2a8b-1f3d-4c6e-8a9b-"+randHex(6))
	mk := "e2e-kill9-" + randHex(5)
	c.mustSay(fmt.Sprintf("first %s-1", mk))
	c.stream = true
	c.mustSay(fmt.Sprintf("second %s-2", mk))
	waitDump(t, e, mk+"-2")
	e.Caddy.Kill9(t)
	e.Caddy.Start(t)
	c.mustSay(fmt.Sprintf("third %s-3", mk))
	dump := waitDump(t, e, mk+"-3")
	if !overlap(KeysContaining(dump, mk+"-1"), KeysContaining(dump, mk+"-3")) {
		t.Errorf("after kill -9 and restart the conversation went to a new session")
	}
}

// With no redis configured the embedded store serves the same turns.
func TestEmbeddedStore(t *testing.T) {
	e := NewEnv(t, EnvOptions{NoRedis: true})
	c := newConvo(t, e.URL, apiKeyHeader(e.Creds.Alice))
	for i := 1; i <= 3; i++ {
		c.stream = i == 2
		c.mustSay(fmt.Sprintf("embedded turn %d %s", i, randHex(3)))
	}
	for _, r := range e.Requests("/v1/messages") {
		checkAPIKeyOnly(t, r.Header, e.Creds.Alice)
	}
}
