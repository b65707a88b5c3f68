package store

import (
	"context"
	"errors"
	"fmt"
	"net"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// idleSession commits a turn of session id whose last request was at.
func idleSession(t *testing.T, s *Store, id string, at time.Time, retention time.Duration) {
	t.Helper()
	sess := sampleSession(id)
	sess.Lineage = ""
	sess.LastRequest = at
	if err := s.CommitTurn(context.Background(), Turn{Session: sess, Messages: sampleMessages(0, 1), Retention: retention}); err != nil {
		t.Fatal(err)
	}
}

func claim(t *testing.T, s *Store, cutoff time.Time, limit int) []string {
	t.Helper()
	ids, err := s.ClaimIdle(context.Background(), cutoff, limit)
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

func TestIdleClaimOncePerPeriod(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			s := open(t, b.cfg)
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
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			s := open(t, b.cfg)
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
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			s := open(t, b.cfg)
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
			if err := s.RearmIdle(ctx, "a b", retry); !errors.Is(err, ErrInvalidID) {
				t.Fatalf("RearmIdle(invalid) = %v", err)
			}
			if _, _, err := s.IdleArmed(ctx, ""); !errors.Is(err, ErrInvalidID) {
				t.Fatalf("IdleArmed(invalid) = %v", err)
			}
		})
	}
}

func TestIdleSetTrimmedByRetention(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			s := open(t, b.cfg)
			idleSession(t, s, "Old", t0, time.Hour)
			idleSession(t, s, "Edge", t0.Add(time.Hour), time.Hour)
			idleSession(t, s, "New", t0.Add(2*time.Hour), time.Hour)
			// Old's keys expired an hour after its last turn; it never was
			// claimed (idle work off), so New's commit drops it. Edge is
			// exactly one retention old and stays.
			got := b.raw.ZRange(ctx, b.prefix()+"idle:{idle}:active", 0, -1).Val()
			if !reflect.DeepEqual(got, []string{"Edge", "New"}) {
				t.Fatalf("active set = %v, want [Edge New]", got)
			}
			// No last-request time: not armed.
			sess := sampleSession("Zero")
			sess.LastRequest = time.Time{}
			if err := s.CommitTurn(ctx, Turn{Session: sess}); err != nil {
				t.Fatal(err)
			}
			if _, armed, _ := s.IdleArmed(ctx, "Zero"); armed {
				t.Fatal("a session without a last request is armed")
			}
		})
	}
}

// Several instances claiming at once: every idle session is handed to
// exactly one of them.
func TestIdleClaimConcurrent(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			s := open(t, b.cfg)
			const sessions = 120
			for i := 0; i < sessions; i++ {
				idleSession(t, s, fmt.Sprintf("S%03d", i), t0.Add(time.Duration(i)*time.Second), 0)
			}
			var mu sync.Mutex
			seen := map[string]int{}
			var wg sync.WaitGroup
			for w := 0; w < 6; w++ {
				other := open(t, b.cfg) // another handle, as another instance holds
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

// roundTrips counts network round trips (a command or a pipeline), not
// counting a new connection's handshake (HELLO, CLIENT SETINFO).
type roundTrips struct{ n atomic.Int64 }

func handshake(name string) bool { return name == "hello" || name == "client" }

func (h *roundTrips) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) { return next(ctx, network, addr) }
}

func (h *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if !handshake(cmd.Name()) {
			h.n.Add(1)
		}
		return next(ctx, cmd)
	}
}

func (h *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if len(cmds) > 0 && !handshake(cmds[0].Name()) {
			h.n.Add(1)
		}
		return next(ctx, cmds)
	}
}

// CommitTurn arms the idle set inside its one MULTI on a single node, and
// a turn that fails to commit arms nothing.
func TestCommitTurnArmsIdleInOneRoundTrip(t *testing.T) {
	b := backends(t)[0]
	s := open(t, b.cfg)
	ctx := context.Background()
	hook := &roundTrips{}
	s.e.client.AddHook(hook)
	sess := sampleSession("S1")
	if err := s.CommitTurn(ctx, Turn{Session: sess, Messages: sampleMessages(0, 3), Credential: []byte("c")}); err != nil {
		t.Fatal(err)
	}
	if n := hook.n.Load(); n != 1 {
		t.Fatalf("CommitTurn took %d round trips, want 1", n)
	}
	if at, armed, _ := s.IdleArmed(ctx, "S1"); !armed || !at.Equal(sess.LastRequest) {
		t.Fatalf("IdleArmed = %v, %v", at, armed)
	}
	// A turn without new messages or credential re-arms it, still in one.
	b.mini.Del("lore:idle:{idle}:active")
	hook.n.Store(0)
	if err := s.CommitTurn(ctx, Turn{Session: sess}); err != nil {
		t.Fatal(err)
	}
	if n := hook.n.Load(); n != 1 {
		t.Fatalf("second CommitTurn took %d round trips", n)
	}
	if members, _ := b.mini.ZMembers("lore:idle:{idle}:active"); !slices.Equal(members, []string{"S1"}) {
		t.Fatalf("active set = %v", members)
	}
}

func TestIdleCluster(t *testing.T) {
	b := backends(t)[0] // miniredis answers CLUSTER SLOTS/SHARDS as a one-node cluster
	cfg := b.cfg
	cfg.Cluster = true
	s := open(t, cfg)
	if !s.e.cluster {
		t.Fatal("not a cluster client")
	}
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
