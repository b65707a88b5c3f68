package idle

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/caddy-lore/caddy-lore/internal/storetest"
	"github.com/caddy-lore/caddy-lore/store"
)

// setBackend is a Redis the active set's tests run against (a fresh
// miniredis, and the real Redis at LORE_TEST_REDIS_ADDR under a random
// prefix when set), with a raw client that inspects it.
type setBackend struct {
	name string
	cfg  store.Config
	raw  *redis.Client
	mini *miniredis.Miniredis // nil for a real Redis
}

func setBackends(t *testing.T) []setBackend {
	t.Helper()
	m := miniredis.RunT(t)
	raw := redis.NewClient(&redis.Options{Addr: m.Addr()})
	t.Cleanup(func() { _ = raw.Close() })
	out := []setBackend{{name: "miniredis", cfg: store.Config{Addresses: []string{m.Addr()}}, raw: raw, mini: m}}
	if os.Getenv("LORE_TEST_REDIS_ADDR") != "" {
		cfg, raw := storetest.Config(t, "idle-set")
		out = append(out, setBackend{name: "redis", cfg: cfg, raw: raw})
	}
	return out
}

func (b setBackend) prefix() string {
	if b.cfg.KeyPrefix == "" {
		return store.DefaultKeyPrefix
	}
	return b.cfg.KeyPrefix
}

// idleSession commits a turn of session id whose last request was at.
func idleSession(t *testing.T, a *ActiveSet, id string, at time.Time, retention time.Duration) {
	t.Helper()
	sess := &store.Session{ID: id, CreatedAt: at, LastRequest: at, MessageCount: 1, Stored: 1, Turns: 1}
	msg := store.StoredMessage{ID: "m0", Role: "user", Position: 0, Content: json.RawMessage(`[{"type":"text","text":"hi"}]`), At: at.UnixMilli()}
	if err := a.st.CommitTurn(context.Background(), store.Turn{Session: sess, Messages: []store.StoredMessage{msg}, Retention: retention}); err != nil {
		t.Fatal(err)
	}
}

func claim(t *testing.T, s *ActiveSet, cutoff time.Time, limit int) []string {
	t.Helper()
	ids, err := s.ClaimIdle(context.Background(), cutoff, limit)
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

func TestIdleClaimOncePerPeriod(t *testing.T) {
	for _, b := range setBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			s := NewActiveSet(storetest.Open(t, b.cfg))
			last := t0.Add(time.Hour)
			idleSession(t, s, "S1", last, 0)

			at, armed, err := s.IdleArmed(ctx, "S1")
			if err != nil || !armed || !at.Equal(last) {
				t.Fatalf("IdleArmed = %v, %v, %v; want %v, armed", at, armed, err, last)
			}
			if got := claim(t, s, last.Add(-time.Millisecond), 10); got != nil {
				t.Fatalf("claimed %v before the session was idle", got)
			}
			if got := claim(t, s, last, 10); !reflect.DeepEqual(got, []string{"S1"}) {
				t.Fatalf("claim at the cutoff = %v, want [S1]", got)
			}
			// The same idle period is never claimed again, however late.
			for i := 0; i < 3; i++ {
				if got := claim(t, s, last.Add(time.Duration(i+1)*time.Hour), 10); got != nil {
					t.Fatalf("claimed %v again in the same idle period", got)
				}
			}
			if _, armed, _ := s.IdleArmed(ctx, "S1"); armed {
				t.Fatal("still armed after the claim")
			}
			// The next turn arms the next idle period.
			next := last.Add(2 * time.Hour)
			idleSession(t, s, "S1", next, 0)
			if got := claim(t, s, next.Add(-time.Second), 10); got != nil {
				t.Fatalf("claimed %v before the new idle period began", got)
			}
			if got := claim(t, s, next.Add(time.Second), 10); !reflect.DeepEqual(got, []string{"S1"}) {
				t.Fatalf("claim of the second idle period = %v", got)
			}
		})
	}
}

func TestIdleClaimOrderLimitAndExpiry(t *testing.T) {
	for _, b := range setBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			s := NewActiveSet(storetest.Open(t, b.cfg))
			for _, id := range []string{"S4", "S2", "S5", "S1", "S3"} {
				n := int(id[1] - '0')
				idleSession(t, s, id, t0.Add(time.Duration(n)*time.Minute), 0)
			}
			// S2 expired (its state key is gone), S5 is not idle yet.
			b.raw.Del(ctx, b.prefix()+"s:{S2}:state")
			cutoff := t0.Add(4 * time.Minute)
			if got := claim(t, s, cutoff, 0); got != nil {
				t.Fatalf("limit 0 claimed %v", got)
			}
			// Oldest first: S1, S2 (expired: dropped, not returned).
			if got := claim(t, s, cutoff, 2); !reflect.DeepEqual(got, []string{"S1"}) {
				t.Fatalf("first claim = %v, want [S1]", got)
			}
			if got := claim(t, s, cutoff, 5); !reflect.DeepEqual(got, []string{"S3", "S4"}) {
				t.Fatalf("second claim = %v, want [S3 S4]", got)
			}
			if _, armed, _ := s.IdleArmed(ctx, "S2"); armed {
				t.Fatal("the expired session is still in the active set")
			}
			if _, armed, _ := s.IdleArmed(ctx, "S5"); !armed {
				t.Fatal("S5 was claimed before it was idle")
			}
			// A member that is not a valid session id is dropped, not returned.
			b.raw.ZAdd(ctx, b.prefix()+"idle:{idle}:active", redis.Z{Score: 1, Member: "bad id"})
			if got := claim(t, s, cutoff, 5); got != nil {
				t.Fatalf("claim = %v, want nothing", got)
			}
			if n := b.raw.ZCard(ctx, b.prefix()+"idle:{idle}:active").Val(); n != 1 {
				t.Fatalf("active set holds %d members, want S5 only", n)
			}
		})
	}
}

func TestRearmIdle(t *testing.T) {
	for _, b := range setBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			s := NewActiveSet(storetest.Open(t, b.cfg))
			idleSession(t, s, "S1", t0, 0)
			if got := claim(t, s, t0, 10); len(got) != 1 {
				t.Fatalf("claim = %v", got)
			}
			retry := t0.Add(time.Minute)
			if err := s.RearmIdle(ctx, "S1", retry); err != nil {
				t.Fatal(err)
			}
			if at, armed, _ := s.IdleArmed(ctx, "S1"); !armed || !at.Equal(retry) {
				t.Fatalf("after RearmIdle: %v, %v", at, armed)
			}
			// A newer turn wins over an older re-arm (ZADD GT).
			turn := t0.Add(time.Hour)
			idleSession(t, s, "S1", turn, 0)
			if err := s.RearmIdle(ctx, "S1", retry); err != nil {
				t.Fatal(err)
			}
			if at, _, _ := s.IdleArmed(ctx, "S1"); !at.Equal(turn) {
				t.Fatalf("re-arm lowered the score to %v, want %v", at, turn)
			}
			if err := s.RearmIdle(ctx, "a b", retry); !errors.Is(err, store.ErrInvalidID) {
				t.Fatalf("RearmIdle(invalid) = %v", err)
			}
			if _, _, err := s.IdleArmed(ctx, ""); !errors.Is(err, store.ErrInvalidID) {
				t.Fatalf("IdleArmed(invalid) = %v", err)
			}
		})
	}
}

// Several instances claiming at once: every idle session is handed to
// exactly one of them.
func TestIdleClaimConcurrent(t *testing.T) {
	for _, b := range setBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			s := NewActiveSet(storetest.Open(t, b.cfg))
			const sessions = 120
			for i := 0; i < sessions; i++ {
				idleSession(t, s, fmt.Sprintf("S%03d", i), t0.Add(time.Duration(i)*time.Second), 0)
			}
			var mu sync.Mutex
			seen := map[string]int{}
			var wg sync.WaitGroup
			for w := 0; w < 6; w++ {
				other := NewActiveSet(storetest.Open(t, b.cfg)) // another handle, as another instance holds
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						ids, err := other.ClaimIdle(context.Background(), t0.Add(time.Hour), 7)
						if err != nil {
							t.Error(err)
							return
						}
						if len(ids) == 0 {
							return
						}
						mu.Lock()
						for _, id := range ids {
							seen[id]++
						}
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			if len(seen) != sessions {
				t.Fatalf("%d sessions claimed, want %d", len(seen), sessions)
			}
			for id, n := range seen {
				if n != 1 {
					t.Fatalf("%s claimed %d times", id, n)
				}
			}
		})
	}
}

func TestIdleCluster(t *testing.T) {
	b := setBackends(t)[0] // miniredis answers CLUSTER SLOTS/SHARDS as a one-node cluster
	cfg := b.cfg
	cfg.Cluster = true
	// A forced cluster config gets a cluster client (store's
	// TestClientKinds asserts it).
	s := NewActiveSet(storetest.Open(t, cfg))
	ctx := context.Background()
	idleSession(t, s, "C1", t0, time.Hour)
	idleSession(t, s, "C2", t0.Add(time.Second), time.Hour)
	b.mini.Del("lore:s:{C2}:state")
	if got := claim(t, s, t0.Add(time.Minute), 10); !reflect.DeepEqual(got, []string{"C1"}) {
		t.Fatalf("cluster claim = %v", got)
	}
	if err := s.RearmIdle(ctx, "C1", t0); err != nil {
		t.Fatal(err)
	}
	if got := claim(t, s, t0.Add(time.Minute), 10); !reflect.DeepEqual(got, []string{"C1"}) {
		t.Fatalf("cluster claim after re-arm = %v", got)
	}
}
