package batching

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/caddy-lore/caddy-lore/internal/storetest"
	"github.com/caddy-lore/caddy-lore/pricing"
	"github.com/caddy-lore/caddy-lore/store"
)

// queueBackend is a test Redis (see backends) with a raw client that
// inspects the queue's keys behind its back.
type queueBackend struct {
	backend
	raw *redis.Client
}

func queueBackends(t *testing.T) []queueBackend {
	t.Helper()
	var out []queueBackend
	for _, b := range backends(t) {
		raw := redis.NewClient(&redis.Options{Addr: b.cfg.Addresses[0]})
		t.Cleanup(func() { _ = raw.Close() })
		out = append(out, queueBackend{backend: b, raw: raw})
	}
	return out
}

func (b queueBackend) prefix() string {
	if b.cfg.KeyPrefix == "" {
		return store.DefaultKeyPrefix
	}
	return b.cfg.KeyPrefix
}

func itemIDs(items []QueuedItem) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.ID
	}
	return out
}

func queueEntries(t *testing.T, b queueBackend) []string {
	t.Helper()
	return b.raw.LRange(context.Background(), b.prefix()+"bq:{batch}:queue", 0, -1).Val()
}

func mustRecord(t *testing.T, q *RedisQueue, id string) Record {
	t.Helper()
	r, ok, err := q.Record(context.Background(), id)
	if err != nil || !ok {
		t.Fatalf("Record(%s) = %v, %v", id, ok, err)
	}
	return r
}

func TestBatchQueueLifecycle(t *testing.T) {
	for _, b := range queueBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			q := NewRedisQueue(storetest.Open(t, b.cfg))
			now := time.UnixMilli(1_800_000_000_000).UTC()
			const ttl = 30 * time.Second
			for i, e := range []struct{ id, group string }{{"a1", "g1"}, {"b1", "g2"}, {"a2", "g1"}, {"a3", "g1"}, {"b2", "g2"}} {
				n, rec, err := q.Enqueue(ctx, e.id, e.group, []byte("data-"+e.id), "A", now, ttl)
				if err != nil || n != int64(i+1) || rec != "" {
					t.Fatalf("Enqueue %s = %d, %q, %v", e.id, n, rec, err)
				}
			}
			st, err := q.State(ctx)
			if err != nil || st.Queued != 5 || string(st.Oldest) != "data-a1" || st.Counters[CountEnqueued] != 5 {
				t.Fatalf("State = %+v, %v", st, err)
			}

			ids, err := q.Take(ctx, "A", now, ttl, 4, 1<<20, RecordSubmitting)
			if err != nil || !reflect.DeepEqual(ids, []string{"r1", "r2"}) {
				t.Fatalf("Take = %v, %v", ids, err)
			}
			if got := queueEntries(t, b); !reflect.DeepEqual(got, []string{"g2:b2"}) {
				t.Fatalf("queue = %v", got)
			}
			r1 := mustRecord(t, q, "r1")
			want := Record{ID: "r1", State: RecordSubmitting, Group: "g1", T0: now, N: 3, Left: 3}
			if r1 != want {
				t.Fatalf("r1 = %+v", r1)
			}
			items, _ := q.RecordItems(ctx, "r1", 0)
			if got := itemIDs(items); !reflect.DeepEqual(got, []string{"a1", "a2", "a3"}) || string(items[1].Data) != "data-a2" {
				t.Fatalf("items = %v", got)
			}
			if items, _ := q.RecordItems(ctx, "r1", 2); len(items) != 2 {
				t.Fatalf("limit 2 gave %d", len(items))
			}

			// Leases: A holds r1 until now+ttl.
			later := now.Add(ttl + time.Millisecond)
			for _, c := range []struct {
				name string
				got  func() (bool, error)
				want bool
			}{
				{"B takes A's lease", func() (bool, error) { return q.Lease(ctx, "r1", "B", now, ttl) }, false},
				{"A takes its free lease early", func() (bool, error) { return q.TakeFreeLease(ctx, "r1", "A", now, ttl) }, false},
				{"A renews", func() (bool, error) { return q.Lease(ctx, "r1", "A", now, ttl) }, true},
				{"B sets A's expiry", func() (bool, error) { return q.SetLeaseExpiry(ctx, "r1", "B", now) }, false},
				{"B transitions under A's lease", func() (bool, error) {
					return q.Transition(ctx, Move{Rec: "r1", Owner: "B", Now: now, Lease: ttl, To: RecordInFlight, Batch: "msgbatch_1", Created: now})
				}, false},
				{"B takes the expired lease", func() (bool, error) { return q.TakeFreeLease(ctx, "r1", "B", later, ttl) }, true},
				{"B records the batch", func() (bool, error) {
					return q.Transition(ctx, Move{Rec: "r1", Owner: "B", Now: later, Lease: ttl, To: RecordInFlight, Batch: "msgbatch_1", Created: later})
				}, true},
				{"twice", func() (bool, error) {
					return q.Transition(ctx, Move{Rec: "r1", Owner: "B", Now: later, Lease: ttl, To: RecordInFlight, Batch: "msgbatch_2", Created: later})
				}, false},
				{"attempt on an in-flight record", func() (bool, error) {
					return q.Transition(ctx, Move{Rec: "r1", Owner: "B", Now: later, Lease: ttl, To: "attempt", Created: later})
				}, false},
			} {
				if got, err := c.got(); err != nil || got != c.want {
					t.Fatalf("%s = %v, %v; want %v", c.name, got, err, c.want)
				}
			}
			r1 = mustRecord(t, q, "r1")
			if r1.State != RecordInFlight || r1.Batch != "msgbatch_1" || !r1.Created.Equal(later) || r1.Adopted {
				t.Fatalf("r1 = %+v", r1)
			}
			if known, err := q.Known(ctx, "msgbatch_1", "msgbatch_x"); err != nil || !known["msgbatch_1"] || known["msgbatch_x"] {
				t.Fatalf("Known = %v, %v", known, err)
			}

			// Claims: each item once.
			got, err := q.Claim(ctx, "r1", CountResolved, "a2", "nope", "b1")
			if err != nil || !reflect.DeepEqual(itemIDs(got), []string{"a2"}) || string(got[0].Data) != "data-a2" {
				t.Fatalf("Claim = %v, %v", itemIDs(got), err)
			}
			if got, _ := q.Claim(ctx, "r1", CountResolved, "a2"); len(got) != 0 {
				t.Fatal("claimed twice")
			}
			if r := mustRecord(t, q, "r1"); r.Left != 2 || r.N != 3 {
				t.Fatalf("after claim: %+v", r)
			}
			rest, err := q.Finish(ctx, "r1", CountFailed)
			if err != nil || !reflect.DeepEqual(itemIDs(rest), []string{"a1", "a3"}) {
				t.Fatalf("Finish = %v, %v", itemIDs(rest), err)
			}
			if _, ok, _ := q.Record(ctx, "r1"); ok {
				t.Fatal("r1 survived Finish")
			}
			// No lease is taken (or left behind) for a record that is gone:
			// another instance may finish a record between its listing and
			// this call.
			for _, take := range []func() (bool, error){
				func() (bool, error) { return q.Lease(ctx, "r1", "C", now, ttl) },
				func() (bool, error) { return q.TakeFreeLease(ctx, "r1", "C", now, ttl) },
				func() (bool, error) { return q.SetLeaseExpiry(ctx, "r1", "C", later) },
			} {
				if ok, err := take(); ok || err != nil {
					t.Fatalf("a lease on a finished record: %v %v", ok, err)
				}
			}

			// Requeue puts r2's item back at the head.
			if n, err := q.Requeue(ctx, "r2", "B", now, ttl); n != -1 || err != nil {
				t.Fatalf("Requeue under A's lease = %d, %v", n, err)
			}
			if n, err := q.Requeue(ctx, "r2", "A", now, ttl); n != 1 || err != nil {
				t.Fatalf("Requeue = %d, %v", n, err)
			}
			if got := queueEntries(t, b); !reflect.DeepEqual(got, []string{"g2:b1", "g2:b2"}) {
				t.Fatalf("queue = %v", got)
			}

			// Sync records, attempts, and the byte split.
			ids, _ = q.Take(ctx, "A", now, ttl, 10, 12, RecordSubmitting) // each item is 7 bytes
			if !reflect.DeepEqual(ids, []string{"r3", "r4"}) {
				t.Fatalf("split take = %v", ids)
			}
			if ok, _ := q.Transition(ctx, Move{Rec: "r3", Owner: "A", Now: now, Lease: ttl, To: "neterr", Created: now}); !ok {
				t.Fatal("neterr")
			}
			if ok, _ := q.Transition(ctx, Move{Rec: "r3", Owner: "A", Now: now, Lease: ttl, To: "attempt", Created: now}); !ok {
				t.Fatal("attempt")
			}
			if r := mustRecord(t, q, "r3"); r.Attempts != 2 || !r.NetErr || r.State != RecordSubmitting {
				t.Fatalf("r3 = %+v", r)
			}
			if ok, _ := q.Transition(ctx, Move{Rec: "r3", Owner: "A", Now: now, Lease: ttl, To: RecordSync, Created: now}); !ok {
				t.Fatal("sync")
			}
			st, _ = q.State(ctx)
			wantCounters := map[string]int64{CountEnqueued: 5, CountBatches: 1, CountSubmitted: 3, CountResolved: 1,
				CountFailed: 2, CountRequeued: 1, CountFallback: 1}
			if !reflect.DeepEqual(st.Counters, wantCounters) || st.Queued != 0 || len(st.Records) != 2 {
				t.Fatalf("State = %+v", st)
			}
			if _, err := q.Transition(ctx, Move{Rec: "r4", Owner: "A", Now: now, Lease: ttl, To: "bogus", Created: now}); err == nil {
				t.Fatal("unknown transition accepted")
			}
		})
	}
}

func TestBatchQueueRefused(t *testing.T) {
	for _, b := range queueBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			q := NewRedisQueue(storetest.Open(t, b.cfg))
			now := time.Now()
			if err := q.Refuse(ctx, "g1", time.Hour); err != nil {
				t.Fatal(err)
			}
			if ok, err := q.Refused(ctx, "g1"); !ok || err != nil {
				t.Fatalf("Refused = %v, %v", ok, err)
			}
			if ok, _ := q.Refused(ctx, "g2"); ok {
				t.Fatal("g2 refused")
			}
			if ttl := b.raw.TTL(ctx, b.prefix()+"bq:{batch}:refused:g1").Val(); ttl <= 0 || ttl > time.Hour {
				t.Fatalf("refused TTL %v", ttl)
			}
			n, rec, err := q.Enqueue(ctx, "x1", "g1", []byte("d"), "A", now, time.Minute)
			if err != nil || n != 0 || rec != "r1" {
				t.Fatalf("Enqueue refused = %d, %q, %v", n, rec, err)
			}
			if r := mustRecord(t, q, "r1"); r.State != RecordSync || r.N != 1 || r.Group != "g1" {
				t.Fatalf("r1 = %+v", r)
			}
			if got := queueEntries(t, b); len(got) != 0 {
				t.Fatalf("queue = %v", got)
			}
			st, _ := q.State(ctx)
			if st.Counters[CountRefused] != 1 || st.Counters[CountFallback] != 1 || st.Counters[CountEnqueued] != 1 {
				t.Fatalf("counters = %v", st.Counters)
			}
		})
	}
}

func TestBatchQueueUsageAndInstances(t *testing.T) {
	for _, b := range queueBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			q := NewRedisQueue(storetest.Open(t, b.cfg))
			u := pricing.Usage{InputTokens: 100, OutputTokens: 20, CacheReadTokens: 5, CacheWriteTokens: 7, CacheWrite1hTokens: 6}
			for range 2 {
				if err := q.AddSessionUsage(ctx, "S1", "claude-haiku-4-5", u, time.Hour); err != nil {
					t.Fatal(err)
				}
			}
			if err := q.AddSessionUsage(ctx, "S1", "vendor:model:1", pricing.Usage{InputTokens: 1}, time.Hour); err != nil {
				t.Fatal(err)
			}
			got, err := q.SessionUsage(ctx, "S1")
			want := map[string]BatchedUsage{
				"claude-haiku-4-5": {Calls: 2, Usage: pricing.Usage{InputTokens: 200, OutputTokens: 40, CacheReadTokens: 10, CacheWriteTokens: 14, CacheWrite1hTokens: 12}},
				"vendor:model:1":   {Calls: 1, Usage: pricing.Usage{InputTokens: 1}},
			}
			if err != nil || !reflect.DeepEqual(got, want) {
				t.Fatalf("SessionUsage = %+v, %v", got, err)
			}
			if ttl := b.raw.TTL(ctx, b.prefix()+"s:{S1}:batch").Val(); ttl <= 0 || ttl > time.Hour {
				t.Fatalf("usage TTL %v", ttl)
			}
			st, _ := q.State(ctx)
			if st.Counters["tokens_input"] != 201 || st.Counters["tokens_cache_write"] != 14 || st.Counters["tokens_cache_write_1h"] != 0 {
				t.Fatalf("counters = %v", st.Counters)
			}
			if _, err := q.SessionUsage(ctx, "a}b"); !errors.Is(err, store.ErrInvalidID) {
				t.Fatalf("bad session id: %v", err)
			}

			now := time.Now()
			_ = q.Register(ctx, "A", now.Add(time.Minute))
			_ = q.Register(ctx, "B", now.Add(-time.Second))
			_ = q.Register(ctx, "C", now.Add(time.Minute))
			_ = q.Unregister(ctx, "C")
			if live, err := q.Instances(ctx, now); err != nil || !reflect.DeepEqual(live, []string{"A"}) {
				t.Fatalf("Instances = %v, %v", live, err)
			}
			if n := b.raw.HLen(ctx, b.prefix()+"bq:{batch}:instances").Val(); n != 1 {
				t.Fatalf("expired instance not pruned: %d fields", n)
			}
		})
	}
}

func TestBatchQueueInvalidArgs(t *testing.T) {
	ctx := context.Background()
	q := NewRedisQueue(storetest.Open(t, queueBackends(t)[0].cfg))
	now := time.Now()
	for _, c := range []struct {
		name string
		err  error
	}{
		{"custom_id with a colon", func() error { _, _, err := q.Enqueue(ctx, "a:b", "g", []byte("d"), "A", now, time.Minute); return err }()},
		{"custom_id with a brace", func() error { _, _, err := q.Enqueue(ctx, "a{b", "g", []byte("d"), "A", now, time.Minute); return err }()},
		{"long custom_id", func() error {
			_, _, err := q.Enqueue(ctx, strings.Repeat("x", 65), "g", []byte("d"), "A", now, time.Minute)
			return err
		}()},
		{"group with a colon", func() error { _, _, err := q.Enqueue(ctx, "a", "g:1", []byte("d"), "A", now, time.Minute); return err }()},
		{"owner with a bar", func() error { _, _, err := q.Enqueue(ctx, "a", "g", []byte("d"), "A|B", now, time.Minute); return err }()},
		{"empty item", func() error { _, _, err := q.Enqueue(ctx, "a", "g", nil, "A", now, time.Minute); return err }()},
		{"take state", func() error { _, err := q.Take(ctx, "A", now, time.Minute, 1, 1, RecordInFlight); return err }()},
		{"claim counter", func() error { _, err := q.Claim(ctx, "r1", "bogus", "a"); return err }()},
		{"refuse group", func() error { return q.Refuse(ctx, "", time.Minute) }()},
	} {
		if !errors.Is(c.err, ErrInvalidQueueArg) {
			t.Errorf("%s: %v", c.name, c.err)
		}
	}
}

// The scripts work through a cluster client: every queue key shares the
// {batch} slot.
func TestBatchQueueCluster(t *testing.T) {
	b := queueBackends(t)[0]
	cfg := b.cfg
	cfg.Cluster = true
	// A forced cluster config gets a cluster client (store's
	// TestClientKinds asserts it).
	q := NewRedisQueue(storetest.Open(t, cfg))
	ctx := context.Background()
	now := time.Now()
	if _, _, err := q.Enqueue(ctx, "a1", "g1", []byte("d"), "A", now, time.Minute); err != nil {
		t.Fatal(err)
	}
	ids, err := q.Take(ctx, "A", now, time.Minute, 10, 1<<20, RecordSubmitting)
	if err != nil || len(ids) != 1 {
		t.Fatalf("Take = %v, %v", ids, err)
	}
	if ok, err := q.Transition(ctx, Move{Rec: ids[0], Owner: "A", Now: now, Lease: time.Minute, To: RecordInFlight, Batch: "msgbatch_1", Created: now}); !ok || err != nil {
		t.Fatalf("Transition = %v, %v", ok, err)
	}
	if got, err := q.Finish(ctx, ids[0], CountResolved); err != nil || len(got) != 1 {
		t.Fatalf("Finish = %v, %v", got, err)
	}
	for _, k := range b.raw.Keys(ctx, "lore:*").Val() {
		if !strings.HasPrefix(k, "lore:bq:{batch}:") {
			t.Fatalf("key %s outside the batch slot", k)
		}
	}
}
