package batching

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-lore/caddy-lore/internal/fakeupstream"
)

// TestDropSessionRemovesQueuedItems: the admin DELETE of a session removes
// its queued items (each holds a snapshot of its credential); other
// sessions' items stay and are submitted.
func TestDropSessionRemovesQueuedItems(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b.cfg, fakeupstream.Options{BatchDelay: time.Hour})
		q := e.queue(queueOpts{}) // flush timer 1h: the items stay queued
		for i := range 3 {
			e.enqueue(q, call("S1", i), credA)
			e.enqueue(q, call("S2", i), credA)
		}
		n, err := q.DropSession(context.Background(), "S1")
		if err != nil || n != 3 {
			t.Fatalf("DropSession = %d, %v; want 3", n, err)
		}
		if s := e.stats(q); s.Queued != 3 {
			t.Fatalf("queued %d after the drop, want 3", s.Queued)
		}
		q.flushAll()
		cs := e.creates()
		if len(cs) != 1 {
			t.Fatalf("%d creates", len(cs))
		}
		want := []string{call("S2", 0).User, call("S2", 1).User, call("S2", 2).User}
		if !slices.Equal(cs[0].users, want) {
			t.Fatalf("submitted %v, want only S2's items", cs[0].users)
		}
		if n, err := q.DropSession(context.Background(), "S2"); err != nil || n != 0 {
			t.Fatalf("items in flight are their record's: dropped %d, %v", n, err)
		}
	})
}

// TestItemsOlderThanRetentionDoNotRun: an item that waited longer than
// retention (its session's keys and credential have expired) is dropped,
// neither submitted nor run synchronously.
func TestItemsOlderThanRetentionDoNotRun(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b.cfg, fakeupstream.Options{})
		var clock atomic.Int64
		q := e.queue(queueOpts{clock: &clock, cfg: func(c *Config) { c.Retention = time.Hour }})
		e.enqueue(q, call("S1", 0), credA)
		clock.Store(int64(2 * time.Hour))
		q.flushAll()
		if n := len(e.creates()); n != 0 {
			t.Fatalf("%d creates for an expired item", n)
		}
		if n := e.runner.doCount(); n != 0 {
			t.Fatalf("%d synchronous runs of an expired item", n)
		}
		if s := e.stats(q); s.Queued != 0 || s.Dropped != 1 {
			t.Fatalf("stats %+v, want the item dropped", s)
		}
	})
}
