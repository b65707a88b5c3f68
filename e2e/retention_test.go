package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// gatewayWideKeys are the only keys without a TTL of at most `retention`:
// the batch queue's shared structures (each item in them is removed when it
// runs, is dropped once older than retention, or goes with its session's
// admin DELETE) and the idle index (a session leaves it when its idle work
// ran or its keys are gone). They hold no message text.
var gatewayWideKeys = []string{
	"lore:bq:{batch}:queue", "lore:bq:{batch}:items", "lore:bq:{batch}:where", "lore:bq:{batch}:recs",
	"lore:bq:{batch}:ritems", "lore:bq:{batch}:leases", "lore:bq:{batch}:stats", "lore:bq:{batch}:known",
	"lore:bq:{batch}:instances", "lore:idle:{idle}:active",
}

// TestEveryKeyExpiresWithinRetention drives batched sessions (distillation
// and curation through the batch queue, idle work on) with a retention of
// two hours, then scans the live Redis: every key has a TTL of at most two
// hours, except the listed gateway-wide keys.
func TestEveryKeyExpiresWithinRetention(t *testing.T) {
	const retention = 2 * time.Hour
	e := NewEnv(t, EnvOptions{LoreExtra: "retention 2h\nidle_timeout 1s\nbatching {\nflush_interval 300ms\npoll_interval 200ms\n}"})
	rc := e.Redis.Client()
	st := openQueueStore(t, e)
	sessions := []*bqSession{
		newBQSession(t, e, e.Creds.Alice, "alice-"+randHex(4)),
		newBQSession(t, e, e.Creds.Bob, "bob-"+randHex(4)),
	}
	driveSessions(t, sessions, bqTurns)
	resolveSessions(t, rc, sessions)
	ok := waitFor(40*time.Second, func() bool {
		s := readStats(t, st)
		if !queueIdle(s) || s.Resolved == 0 {
			return false
		}
		for _, sess := range sessions {
			if len(readSession(t, rc, sess.sid).Rows) == 0 {
				return false
			}
		}
		return true
	})
	if !ok {
		t.Fatalf("the batched distillations were not applied: %+v", readStats(t, st))
	}
	// Per-person usage, the admin view: read paths must not write keys
	// without a TTL either.
	for _, p := range []string{"/lore/usage", "/lore/sessions", "/lore/batches"} {
		if resp, err := http.Get("http://" + e.Caddy.AdminAddr + p); err == nil {
			_ = resp.Body.Close()
		}
	}
	time.Sleep(3 * time.Second) // idle work (1 s idle_timeout) runs and is queued
	waitFor(20*time.Second, func() bool { return queueIdle(readStats(t, st)) })

	ctx := context.Background()
	wide := map[string]bool{}
	for _, k := range gatewayWideKeys {
		wide[k] = true
	}
	var keys, checked []string
	iter := rc.Scan(ctx, 0, "*", 500).Iterator()
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	var bad []string
	for _, k := range keys {
		ttl, err := rc.PTTL(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case ttl == -2: // expired or deleted meanwhile
		case ttl < 0 && wide[k]:
		case ttl < 0:
			bad = append(bad, fmt.Sprintf("%s: no TTL", k))
		case ttl > retention:
			bad = append(bad, fmt.Sprintf("%s: TTL %s > retention %s", k, ttl.Round(time.Second), retention))
		default:
			checked = append(checked, k)
		}
	}
	if len(bad) > 0 {
		t.Errorf("keys outliving retention:\n%s", strings.Join(bad, "\n"))
	}
	if len(checked) < 10 {
		t.Errorf("only %d keys with a TTL: the scan saw %v", len(checked), keys)
	}
	t.Logf("%d keys, %d with a TTL ≤ %s (%s), %d gateway-wide", len(keys), len(checked), retention, strings.Join(checked, " "), len(keys)-len(checked)-len(bad))
}
