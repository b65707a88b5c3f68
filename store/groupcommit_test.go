package store

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/redis/go-redis/v9"
)

// holdFirstGroup blocks the first transaction sent on s's client until
// release is closed, and counts transactions: the commits made meanwhile
// gather in the next groups, whatever the timing.
type holdFirstGroup struct {
	release chan struct{}
	txs     atomic.Int32
}

func (h *holdFirstGroup) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *holdFirstGroup) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return next
}
func (h *holdFirstGroup) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if len(cmds) > 0 && cmds[0].Name() == "multi" && h.txs.Add(1) == 1 {
			<-h.release
		}
		return next(ctx, cmds)
	}
}

// waitQueued waits until n commits wait behind the group in flight.
func waitQueued(t *testing.T, s *Store, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s.e.commits.mu.Lock()
		got := len(s.e.commits.waiting)
		s.e.commits.mu.Unlock()
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d commits queued, want %d", got, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// Commits that end while one is in flight share the next transactions
// (at most maxGroup each), and each gets its own outcome: every session is
// stored whole, with its own curation counter.
func TestGroupCommitSharesRoundTrips(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			s := open(t, b.cfg)
			hold := &holdFirstGroup{release: make(chan struct{})}
			s.AddHook(hold)
			const n = 100
			errs := make([]error, n)
			sessions := make([]*Session, n)
			var wg sync.WaitGroup
			start := func(i int) {
				sessions[i] = sampleSession(fmt.Sprintf("G%03d", i))
				sessions[i].TurnsSinceCuration = 7 // ignored: Redis counts
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs[i] = s.CommitTurn(context.Background(), Turn{Session: sessions[i], Messages: sampleMessages(0, 3)})
				}()
			}
			start(0)
			for hold.txs.Load() == 0 {
				time.Sleep(time.Millisecond)
			}
			for i := 1; i < n; i++ {
				start(i)
			}
			waitQueued(t, s, n-1)
			close(hold.release)
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Fatalf("commit %d: %v", i, err)
				}
				if sessions[i].TurnsSinceCuration != 1 {
					t.Fatalf("commit %d: curation counter %d, want its own 1", i, sessions[i].TurnsSinceCuration)
				}
				if got, err := s.Messages(context.Background(), sessions[i].ID, 0, -1); err != nil || len(got) != 3 {
					t.Fatalf("session %d: %d messages, %v", i, len(got), err)
				}
			}
			// 1 alone, then 99 waiting: groups of 64 and 35.
			if got := hold.txs.Load(); got != 3 {
				t.Fatalf("%d transactions for %d commits, want 3", got, n)
			}
		})
	}
}

// A command that fails fails only its own commit: the others of its group
// are stored.
func TestGroupCommitIsolatesAFailedCommit(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			s := open(t, b.cfg)
			hold := &holdFirstGroup{release: make(chan struct{})}
			s.AddHook(hold)
			// The bad session's state key is a string: its HSET fails (WRONGTYPE).
			if err := b.raw.Set(ctx, s.keys.state("BAD"), "not a hash", time.Hour).Err(); err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			var first, bad, good error
			wg.Add(3)
			go func() { defer wg.Done(); first = s.CommitTurn(ctx, Turn{Session: sampleSession("FIRST")}) }()
			for hold.txs.Load() == 0 {
				time.Sleep(time.Millisecond)
			}
			go func() { defer wg.Done(); bad = s.CommitTurn(ctx, Turn{Session: sampleSession("BAD")}) }()
			go func() {
				defer wg.Done()
				good = s.CommitTurn(ctx, Turn{Session: sampleSession("GOOD"), Messages: sampleMessages(0, 2)})
			}()
			waitQueued(t, s, 2)
			close(hold.release)
			wg.Wait()
			if first != nil || good != nil {
				t.Fatalf("first %v, good %v", first, good)
			}
			if bad == nil {
				t.Fatal("the failed commit was reported stored")
			}
			if got, _ := s.Messages(ctx, "GOOD", 0, -1); len(got) != 2 {
				t.Fatalf("the good commit of the group: %d messages", len(got))
			}
			if hold.txs.Load() != 2 {
				t.Fatalf("%d transactions, want 2", hold.txs.Load())
			}
		})
	}
}

// When nothing can be sent (Redis unreachable), every commit of the group
// gets the outage.
func TestGroupCommitOutageFailsEveryCommit(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close() // nothing listens there now
	s := open(t, Config{Addresses: []string{addr}, DialTimeout: caddy.Duration(100 * time.Millisecond), Timeout: caddy.Duration(100 * time.Millisecond)})
	var wg sync.WaitGroup
	errs := make([]error, 5)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.CommitTurn(context.Background(), Turn{Session: sampleSession(fmt.Sprintf("O%d", i))})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err == nil {
			t.Fatalf("commit %d reported stored with Redis down", i)
		}
	}
}
