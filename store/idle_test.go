package store

import (
	"context"
	"errors"
	"net"
	"reflect"
	"slices"
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

func TestIdleSetTrimmedByRetention(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend, s *Store) {
		ctx := context.Background()
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
		if _, armed := armedAt(t, b, "Zero"); armed {
			t.Fatal("a session without a last request is armed")
		}
	})
}

// The trim is the same for every commit of a second: only the first one of
// each second (of last-request time) sends it.
func TestIdleSetTrimmedOncePerSecond(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend, s *Store) {
		ctx := context.Background()
		set := b.prefix() + IdleSetKey
		now := t0.Add(2 * time.Hour).Truncate(time.Second)
		idleSession(t, s, "First", now, time.Hour)
		if err := b.raw.ZAdd(ctx, set, redis.Z{Score: float64(t0.UnixMilli()), Member: "Stale"}).Err(); err != nil {
			t.Fatal(err)
		}
		idleSession(t, s, "Same", now.Add(500*time.Millisecond), time.Hour)
		if _, err := b.raw.ZScore(ctx, set, "Stale").Result(); err != nil {
			t.Fatalf("a second commit in the same second trimmed the set (%v)", err)
		}
		idleSession(t, s, "Next", now.Add(time.Second), time.Hour)
		got := b.raw.ZRange(ctx, set, 0, -1).Val()
		if !reflect.DeepEqual(got, []string{"First", "Same", "Next"}) {
			t.Fatalf("active set = %v, want [First Same Next]", got)
		}
	})
}

// armedAt reads session id's score in the idle active set, as
// idle.ActiveSet.IdleArmed does (package idle cannot be imported here).
func armedAt(t *testing.T, b backend, id string) (time.Time, bool) {
	t.Helper()
	score, err := b.raw.ZScore(context.Background(), b.prefix()+IdleSetKey, id).Result()
	if errors.Is(err, redis.Nil) {
		return time.Time{}, false
	}
	if err != nil {
		t.Fatal(err)
	}
	return time.UnixMilli(int64(score)).UTC(), true
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
	if at, armed := armedAt(t, b, "S1"); !armed || !at.Equal(sess.LastRequest) {
		t.Fatalf("armed = %v, %v", at, armed)
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
