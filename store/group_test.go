package store

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/redis/go-redis/v9"
)

// holdFirstGroup blocks the first transaction (with reads: the first plain
// pipeline) sent on s's client until release is closed, and counts them:
// the commits or reads made meanwhile gather in the next groups, whatever
// the timing. It also counts the HINCRBYs of counterKey.
type holdFirstGroup struct {
	release    chan struct{}
	reads      bool
	txs        atomic.Int32
	counterKey string
	hincrbys   atomic.Int32
}

func (h *holdFirstGroup) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *holdFirstGroup) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return next
}
func (h *holdFirstGroup) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, c := range cmds {
			if a := c.Args(); c.Name() == "hincrby" && len(a) > 1 && a[1] == h.counterKey {
				h.hincrbys.Add(1)
			}
		}
		if len(cmds) > 0 && (cmds[0].Name() == "multi") != h.reads && h.txs.Add(1) == 1 {
			<-h.release
		}
		return next(ctx, cmds)
	}
}

// waitGroupQueue waits until n members wait behind g's group in flight.
func waitGroupQueue(t *testing.T, g *grouper, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		g.mu.Lock()
		got := len(g.waiting)
		g.mu.Unlock()
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d queued, want %d", got, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// heldGroups runs member(0) and, once its group is held by hold, members 1
// to n-1, which queue on g behind it; then it releases the hold and waits
// for all: however the goroutines are scheduled, members 1 to n-1 go out
// together in the next groups.
func heldGroups(t *testing.T, hold *holdFirstGroup, g *grouper, n int, member func(i int)) {
	t.Helper()
	var wg sync.WaitGroup
	run := func(i int) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			member(i)
		}()
	}
	run(0)
	for hold.txs.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	for i := 1; i < n; i++ {
		run(i)
	}
	waitGroupQueue(t, g, n-1)
	close(hold.release)
	wg.Wait()
}

// Commits that end while one is in flight share the next transactions
// (at most maxGroup each), and each gets its own outcome: every session is
// stored whole, with its own curation counter.
func TestGroupCommitSharesRoundTrips(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend, s *Store) {
		hold := &holdFirstGroup{release: make(chan struct{})}
		s.AddHook(hold)
		const n = 100
		errs := make([]error, n)
		sessions := make([]*Session, n)
		for i := range sessions {
			sessions[i] = sampleSession(fmt.Sprintf("G%03d", i))
			sessions[i].TurnsSinceCuration = 7 // ignored: Redis counts
		}
		heldGroups(t, hold, &s.e.commits, n, func(i int) {
			errs[i] = s.CommitTurn(context.Background(), Turn{Session: sessions[i], Messages: sampleMessages(0, 3)})
		})
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

// A command that fails fails only its own commit: the others of its group
// are stored.
func TestGroupCommitIsolatesAFailedCommit(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend, s *Store) {
		ctx := context.Background()
		hold := &holdFirstGroup{release: make(chan struct{})}
		s.AddHook(hold)
		// The bad session's state key is a string: its HSET fails (WRONGTYPE).
		if err := b.raw.Set(ctx, s.keys.state("BAD"), "not a hash", time.Hour).Err(); err != nil {
			t.Fatal(err)
		}
		turns := []Turn{{Session: sampleSession("FIRST")}, {Session: sampleSession("BAD")},
			{Session: sampleSession("GOOD"), Messages: sampleMessages(0, 2)}}
		errs := make([]error, len(turns))
		heldGroups(t, hold, &s.e.commits, len(turns), func(i int) { errs[i] = s.CommitTurn(ctx, turns[i]) })
		first, bad, good := errs[0], errs[1], errs[2]
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

// A member whose deadline passed while it waited behind a slow group is
// left out of the next one: its deadline does not fail the members sent
// with it (the group takes the latest deadline, none when one has none).
func TestGroupLeavesOutAMemberThatGaveUp(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend, s *Store) {
		ctx := context.Background()
		hold := &holdFirstGroup{release: make(chan struct{})}
		s.AddHook(hold)
		short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
		defer cancel()
		ctxs := []context.Context{ctx, short, ctx}
		ids := []string{"FIRST", "HURRIED", "PATIENT"}
		errs := make([]error, len(ids))
		var wg sync.WaitGroup
		for i := range ids {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = s.CommitTurn(ctxs[i], Turn{Session: sampleSession(ids[i]), Messages: sampleMessages(0, 1)})
			}()
			if i == 0 {
				for hold.txs.Load() == 0 {
					time.Sleep(time.Millisecond)
				}
			}
		}
		waitGroupQueue(t, &s.e.commits, 2)
		<-short.Done() // the hurried caller gives up while the first group is held
		close(hold.release)
		wg.Wait()
		if errs[0] != nil || errs[2] != nil {
			t.Fatalf("first %v, patient %v: a member's expired deadline failed others", errs[0], errs[2])
		}
		if !errors.Is(errs[1], context.DeadlineExceeded) {
			t.Fatalf("hurried: %v", errs[1])
		}
		if got, _ := s.Messages(ctx, "HURRIED", 0, -1); len(got) != 0 {
			t.Fatal("a commit whose caller gave up before its group was sent was stored")
		}
		if got, _ := s.Messages(ctx, "PATIENT", 0, -1); len(got) != 1 {
			t.Fatalf("patient: %d messages", len(got))
		}
	})
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

// The counters of a group's commits are added up: one HINCRBY per field
// and key for the whole group, the sums right, the latest expiry kept.
func TestGroupCommitAddsUpCounters(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend, s *Store) {
		ctx := context.Background()
		day, other := s.Key("usage:{day}"), s.Key("usage:{other}")
		hold := &holdFirstGroup{release: make(chan struct{}), counterKey: day}
		s.AddHook(hold)
		expire := time.Now().Add(time.Hour).Truncate(time.Second)
		counts := func(i int) []Increments {
			in := []Increments{{Key: day, ExpireAt: expire.Add(time.Duration(i) * time.Second),
				Fields: []Increment{{"t", 1}, {"out", int64(i)}}}}
			if i%2 == 0 {
				in = append(in, Increments{Key: other, ExpireAt: expire, Fields: []Increment{{"t", 2}}})
			}
			return in
		}
		const n = 11
		errs := make([]error, n)
		heldGroups(t, hold, &s.e.commits, n, func(i int) {
			errs[i] = s.CommitTurn(ctx, Turn{Session: sampleSession(fmt.Sprintf("C%02d", i)), Counters: counts(i)})
		})
		for i, err := range errs {
			if err != nil {
				t.Fatalf("commit %d: %v", i, err)
			}
		}
		got := b.raw.HGetAll(ctx, day).Val()
		if got["t"] != "11" || got["out"] != "55" { // 0+1+...+10
			t.Fatalf("day counters %v", got)
		}
		if got := b.raw.HGet(ctx, other, "t").Val(); got != "12" { // 6 even commits
			t.Fatalf("other counter %q", got)
		}
		// 2 HINCRBYs for the first commit alone, 2 for the group of 10.
		if got := hold.hincrbys.Load(); got != 4 {
			t.Fatalf("%d HINCRBYs of the day key, want 4", got)
		}
		if at := b.raw.ExpireTime(ctx, day).Val(); at != time.Duration(expire.Add(10*time.Second).Unix())*time.Second {
			t.Fatalf("day expires at %v, want the latest, %v", at, expire.Add(10*time.Second).Unix())
		}
	})
}

// A counter command that fails fails the commits that added to its key,
// and only them.
func TestGroupCommitFailedCounterKey(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend, s *Store) {
		ctx := context.Background()
		hold := &holdFirstGroup{release: make(chan struct{})}
		s.AddHook(hold)
		bad, good := s.Key("usage:{bad}"), s.Key("usage:{good}")
		if err := b.raw.Set(ctx, bad, "not a hash", time.Hour).Err(); err != nil {
			t.Fatal(err)
		}
		at := time.Now().Add(time.Hour)
		commit := func(id string, keys ...string) error {
			var in []Increments
			for _, k := range keys {
				in = append(in, Increments{Key: k, ExpireAt: at, Fields: []Increment{{"t", 1}}})
			}
			return s.CommitTurn(ctx, Turn{Session: sampleSession(id), Messages: sampleMessages(0, 1), Counters: in})
		}
		ids := []string{"FIRST", "BAD1", "BAD2", "GOOD", "NONE"}
		keys := [][]string{nil, {bad}, {good, bad}, {good}, nil}
		errs := make([]error, len(ids))
		heldGroups(t, hold, &s.e.commits, len(ids), func(i int) { errs[i] = commit(ids[i], keys[i]...) })
		for i, err := range errs {
			if failed := err != nil; failed != (ids[i] == "BAD1" || ids[i] == "BAD2") {
				t.Errorf("commit %s: %v", ids[i], err)
			}
		}
		// The session writes of every commit are applied, as a failed
		// command in a MULTI leaves the others applied.
		for _, id := range []string{"BAD1", "GOOD", "NONE"} {
			if got, _ := s.Messages(ctx, id, 0, -1); len(got) != 1 {
				t.Errorf("session %s: %d messages", id, len(got))
			}
		}
		if got := b.raw.HGet(ctx, good, "t").Val(); got != "2" {
			t.Fatalf("good counter %q", got)
		}
	})
}

// Turn reads made while one is in flight share the next pipeline, and
// each gets its own result and its own error.
func TestGroupedReadsShareRoundTrips(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend, s *Store) {
		ctx := context.Background()
		const n = 20
		for i := range n {
			sess := sampleSession(fmt.Sprintf("R%02d", i))
			sess.Lineage = fmt.Sprintf("lineage%02d", i)
			sess.MessageCount = i + 1
			if err := s.CommitTurn(ctx, Turn{Session: sess}); err != nil {
				t.Fatal(err)
			}
		}
		if err := b.raw.Set(ctx, s.keys.lineage("lineagebad"), "not a hash", time.Hour).Err(); err != nil {
			t.Fatal(err)
		}
		hold := &holdFirstGroup{release: make(chan struct{}), reads: true}
		s.AddHook(hold)
		loads := make([]TurnLoad, n+1)
		errs := make([]error, n+1)
		heldGroups(t, hold, &s.e.reads, n+1, func(i int) {
			lineage, hint := fmt.Sprintf("lineage%02d", i), fmt.Sprintf("R%02d", i)
			if i == n {
				lineage = "lineagebad"
			}
			loads[i], errs[i] = s.LoadTurn(ctx, lineage, "", hint)
		})
		for i := range n {
			id := fmt.Sprintf("R%02d", i)
			if errs[i] != nil || loads[i].Candidates[id] != i+1 || loads[i].Hinted == nil || loads[i].Hinted.ID != id {
				t.Fatalf("read %d: %+v, %v", i, loads[i], errs[i])
			}
		}
		if errs[n] == nil {
			t.Fatal("a read of a lineage that is not a hash succeeded")
		}
		if got := hold.txs.Load(); got != 2 {
			t.Fatalf("%d pipelines for %d reads, want 2", got, n+1)
		}
	})
}
