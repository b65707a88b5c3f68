package idle

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/caddy-lore/caddy-lore/distill"
	"github.com/caddy-lore/caddy-lore/store"
)

const (
	timeout = 60 * time.Second
	tick    = 10 * time.Millisecond // real check interval of the tests
)

func TestInterval(t *testing.T) {
	for _, tc := range []struct{ timeout, want time.Duration }{
		{0, 30 * time.Second}, // the 60 s default
		{2 * time.Second, time.Second},
		{60 * time.Second, 30 * time.Second},
		{10 * time.Minute, 30 * time.Second},
		{50 * time.Millisecond, 100 * time.Millisecond},
	} {
		s := New(Config{IdleTimeout: tc.timeout})
		if got := s.Interval(); got != tc.want {
			t.Errorf("IdleTimeout %v: interval %v, want %v", tc.timeout, got, tc.want)
		}
	}
	if got := New(Config{Interval: 7 * time.Millisecond}).Interval(); got != 7*time.Millisecond {
		t.Errorf("explicit interval = %v", got)
	}
}

// newScheduler starts a scheduler on st with the fake clock and the tests'
// fast real ticker; it is stopped at cleanup.
func newScheduler(t *testing.T, st *store.Store, clk *clock, work func(context.Context, string) error, log *zap.Logger) (*Scheduler, *countingStore) {
	t.Helper()
	cs := &countingStore{Store: NewActiveSet(st)}
	s := New(Config{Store: cs, Work: work, IdleTimeout: timeout, Interval: tick, Now: clk.Now, Logger: log})
	s.Start(context.Background())
	t.Cleanup(s.Stop)
	return s, cs
}

// docs/context-window.md, Idle work and post-idle compaction (once per idle
// period): a session idle
// across many ticks runs its idle work once, never overlapping; after a new
// turn and a new idle period it runs again.
func TestIdleWorkOncePerIdlePeriod(t *testing.T) {
	cfg, _ := redisConfig(t)
	st := openStore(t, cfg)
	clk := &clock{now: t0}
	l := newLedger()
	work := func(_ context.Context, sid string) error {
		l.begin(sid)
		defer l.end(sid)
		return nil
	}
	_, cs := newScheduler(t, st, clk, work, nil)

	turn(t, st, nil, clk, "S1", 2)
	turn(t, st, nil, clk, "S2", 2)
	// Not idle yet: ticks pass, nothing runs.
	clk.Advance(timeout - time.Second)
	waitTicks(t, cs, 5)
	if n := l.total(); n != 0 {
		t.Fatalf("idle work ran %d times before the idle timeout", n)
	}
	// S2 is still active (a turn 30 s ago); S1 goes idle.
	turn(t, st, nil, clk, "S2", 2)
	clk.Advance(time.Second)
	waitFor(t, "S1's idle work", func() bool { return l.count("S1") == 1 })
	// Many ticks later, and much later on the clock: still once.
	for i := 0; i < 5; i++ {
		clk.Advance(timeout)
		waitTicks(t, cs, 4)
	}
	if n := l.count("S1"); n != 1 {
		t.Fatalf("S1's idle work ran %d times in one idle period", n)
	}
	if n := l.count("S2"); n != 1 {
		t.Fatalf("S2's idle work ran %d times, want once", n)
	}
	// A new turn, a new idle period: once more.
	turn(t, st, nil, clk, "S1", 2)
	waitTicks(t, cs, 3)
	if n := l.count("S1"); n != 1 {
		t.Fatalf("idle work ran right after a turn (%d runs)", n)
	}
	clk.Advance(timeout)
	waitFor(t, "S1's second idle work", func() bool { return l.count("S1") == 2 })
	waitTicks(t, cs, 5)
	if n := l.count("S1"); n != 2 || l.overlap {
		t.Fatalf("S1: %d runs (want 2), overlapping %v", n, l.overlap)
	}
}

// Two instances on one Redis: each session's idle work runs exactly once.
func TestTwoInstancesRunIdleWorkOnce(t *testing.T) {
	cfg, _ := redisConfig(t)
	clk := &clock{now: t0}
	l := newLedger()
	work := func(_ context.Context, sid string) error {
		l.begin(sid)
		defer l.end(sid)
		time.Sleep(time.Millisecond) // let the other instance's tick interleave
		return nil
	}
	stA, stB := openStore(t, cfg), openStore(t, cfg)
	_, csA := newScheduler(t, stA, clk, work, nil)
	_, csB := newScheduler(t, stB, clk, work, nil)
	const sessions = 30
	for i := 0; i < sessions; i++ {
		turn(t, stA, nil, clk, fmt.Sprintf("S%02d", i), 2)
	}
	clk.Advance(timeout)
	waitFor(t, "every session's idle work", func() bool { return l.total() >= sessions })
	waitTicks(t, csA, 5)
	waitTicks(t, csB, 5)
	for i := 0; i < sessions; i++ {
		if n := l.count(fmt.Sprintf("S%02d", i)); n != 1 {
			t.Errorf("S%02d: idle work ran %d times over two instances", i, n)
		}
	}
	if l.overlap {
		t.Error("overlapping runs of one session")
	}
}

// ErrRetry (the distillation guard is busy) re-arms the session: the work
// runs again about one interval later, then the idle period is over.
func TestIdleWorkRetry(t *testing.T) {
	cfg, _ := redisConfig(t)
	st := openStore(t, cfg)
	clk := &clock{now: t0}
	l := newLedger()
	work := func(_ context.Context, sid string) error {
		l.begin(sid)
		defer l.end(sid)
		if l.count(sid) == 1 {
			return fmt.Errorf("guard busy: %w", ErrRetry)
		}
		return nil
	}
	s, cs := newScheduler(t, st, clk, work, nil)
	turn(t, st, nil, clk, "S1", 2)
	clk.Advance(timeout)
	waitFor(t, "the first try", func() bool { return l.count("S1") == 1 })
	waitFor(t, "the re-arm", func() bool {
		_, armed, _ := NewActiveSet(st).IdleArmed(context.Background(), "S1")
		return armed
	})
	waitTicks(t, cs, 3)
	if n := l.count("S1"); n != 1 {
		t.Fatalf("retried before its time (%d runs)", n)
	}
	clk.Advance(s.Interval())
	waitFor(t, "the retry", func() bool { return l.count("S1") == 2 })
	clk.Advance(timeout)
	waitTicks(t, cs, 5)
	if n := l.count("S1"); n != 2 {
		t.Fatalf("%d runs, want 2 (one deferred, one done)", n)
	}
}

// Other errors end the idle period (logged); a panic is recovered and
// logged with its stack, and the scheduler goes on with other sessions.
func TestIdleWorkErrorsAndPanics(t *testing.T) {
	cfg, _ := redisConfig(t)
	st := openStore(t, cfg)
	clk := &clock{now: t0}
	core, logs := observer.New(zap.DebugLevel)
	l := newLedger()
	work := func(_ context.Context, sid string) error {
		l.begin(sid)
		defer l.end(sid)
		switch sid {
		case "Panic":
			panic("boom")
		case "Fail":
			return errors.New("no credential")
		}
		return nil
	}
	_, cs := newScheduler(t, st, clk, work, zap.New(core))
	for _, sid := range []string{"Panic", "Fail", "Fine"} {
		turn(t, st, nil, clk, sid, 2)
	}
	clk.Advance(timeout)
	waitFor(t, "all three", func() bool { return l.total() == 3 })
	clk.Advance(timeout)
	waitTicks(t, cs, 5)
	if l.total() != 3 {
		t.Fatalf("%d runs, want 3 (failed and panicked work is not retried)", l.total())
	}
	p := logs.FilterMessage("idle work panicked").All()
	if len(p) != 1 || !strings.Contains(fmt.Sprint(p[0].ContextMap()["stack"]), "idle.(*Scheduler).run") {
		t.Fatalf("panic log = %+v", p)
	}
	if len(logs.FilterMessage("idle work failed").All()) != 1 {
		t.Fatal("the failure was not logged")
	}
}

// At most Concurrency sessions are worked on at once, and all get done.
func TestIdleWorkBoundedConcurrency(t *testing.T) {
	cfg, _ := redisConfig(t)
	st := openStore(t, cfg)
	clk := &clock{now: t0}
	l := newLedger()
	work := func(_ context.Context, sid string) error {
		l.begin(sid)
		defer l.end(sid)
		time.Sleep(2 * time.Millisecond)
		return nil
	}
	newScheduler(t, st, clk, work, nil)
	const sessions = 25
	for i := 0; i < sessions; i++ {
		turn(t, st, nil, clk, fmt.Sprintf("S%02d", i), 2)
	}
	clk.Advance(timeout)
	waitFor(t, "every session", func() bool { return l.total() == sessions })
	if l.max > DefaultConcurrency {
		t.Fatalf("%d idle works at once, want at most %d", l.max, DefaultConcurrency)
	}
}

// Stop cancels running work, waits for it, and re-arms what it
// interrupted; Stop is idempotent and a stopped scheduler does not start.
func TestStopInterruptsAndRearms(t *testing.T) {
	cfg, _ := redisConfig(t)
	st := openStore(t, cfg)
	clk := &clock{now: t0}
	started := make(chan struct{})
	var once sync.Once
	returned := false
	var mu sync.Mutex
	work := func(ctx context.Context, sid string) error {
		once.Do(func() { close(started) })
		<-ctx.Done()
		mu.Lock()
		returned = true
		mu.Unlock()
		return ctx.Err()
	}
	s, _ := newScheduler(t, st, clk, work, nil)
	turn(t, st, nil, clk, "S1", 2)
	clk.Advance(timeout)
	<-started
	if _, armed, _ := NewActiveSet(st).IdleArmed(context.Background(), "S1"); armed {
		t.Fatal("armed while being worked on")
	}
	s.Stop()
	mu.Lock()
	ok := returned
	mu.Unlock()
	if !ok {
		t.Fatal("Stop returned before the work did")
	}
	select {
	case <-s.done:
	default:
		t.Fatal("the loop outlived Stop")
	}
	if _, armed, _ := NewActiveSet(st).IdleArmed(context.Background(), "S1"); !armed {
		t.Fatal("interrupted work not re-armed")
	}
	s.Stop()
	done := s.done
	s.Start(context.Background()) // a stopped scheduler stays stopped
	if s.done != done {
		t.Fatal("Start after Stop started a new loop")
	}
	var nilS *Scheduler
	nilS.Stop()
	New(Config{}).Stop() // never started
}

// ---------------------------------------------------------------- with the real distiller

// Idle work distils every pending message, even fewer than the minimum of
// 5, through the batch queue (non-urgent), billed to the session.
func TestIdleDistillsBelowMinimum(t *testing.T) {
	e := newDistillEnv(t)
	turn(t, e.st, e.keys, e.clk, "S1", 4)
	// A post-turn trigger does nothing with 4 messages.
	if res, err := e.d.AfterTurn(context.Background(), "S1", 0); err != nil || res.Segments != 0 {
		t.Fatalf("AfterTurn = %+v, %v", res, err)
	}
	newScheduler(t, e.st, e.clk, e.work, nil)
	e.clk.Advance(timeout)
	waitFor(t, "the idle distillation to be queued", func() bool { return e.q.Len() == 1 })
	calls := e.drain(t)
	if len(calls) != 1 || calls[0].Kind != distill.KindDistill || calls[0].Urgent {
		t.Fatalf("queued calls = %+v, want one non-urgent distill call", calls)
	}
	reqs := e.messageRequests()
	if len(reqs) != 1 || reqs[0].Header.Get("X-Api-Key") != sessionKey {
		t.Fatalf("%d upstream calls, want 1 with the session's key", len(reqs))
	}
	if !strings.Contains(string(reqs[0].Body), "message 0") || !strings.Contains(string(reqs[0].Body), "message 3") {
		t.Fatalf("the call does not render messages 0-3: %.300s", reqs[0].Body)
	}
	ctx := context.Background()
	if mark, _ := distill.DistilledUpTo(ctx, e.st, "S1"); mark != 4 {
		t.Fatalf("watermark %d after idle, want 4", mark)
	}
	rows, _ := distill.LiveRows(ctx, e.st, "S1")
	if len(rows) != 1 || !strings.Contains(rows[0].Observations, "distilled 4 messages") {
		t.Fatalf("rows = %+v", rows)
	}
}

// Idle work meta-distils when the thresholds allow (≥ 10 gen-0 rows), even
// though the session's cache counts as warm for the post-turn skipMeta gate
// (its last request is younger than the 5 min cache TTL): on idle it is
// allowed unconditionally. Also with nothing pending.
func TestIdleMetaDistills(t *testing.T) {
	for _, pending := range []int{3, 0} {
		t.Run(fmt.Sprintf("%d pending", pending), func(t *testing.T) {
			e := newDistillEnv(t)
			ctx := context.Background()
			turn(t, e.st, e.keys, e.clk, "S1", 20)
			for i := 0; i < distill.MetaThreshold; i++ {
				row := distill.Row{ID: fmt.Sprintf("r%02d", i), Observations: fmt.Sprintf("- row %d", i),
					First: 2 * i, Last: 2*i + 1, FirstPos: 2 * i, LastPos: 2*i + 1, CreatedAt: e.clk.Now().UnixMilli()}
				if out, _, err := distill.StoreRow(ctx, e.st, "S1", row); err != nil || out != distill.RowStored {
					t.Fatalf("StoreRow = %v, %v", out, err)
				}
			}
			if pending > 0 {
				turn(t, e.st, e.keys, e.clk, "S1", pending)
			}
			newScheduler(t, e.st, e.clk, e.work, nil)
			e.clk.Advance(timeout) // 60 s: idle, yet younger than the cache TTL
			want := 1
			if pending > 0 {
				want = 2 // the distillation, then the meta when its row is in
			}
			var calls []string
			waitFor(t, "the idle calls", func() bool {
				for _, c := range e.drain(t) {
					calls = append(calls, c.Kind)
				}
				return len(calls) >= want
			})
			if calls[len(calls)-1] != distill.KindMeta || len(calls) != want {
				t.Fatalf("idle calls = %v, want %d ending with meta", calls, want)
			}
			rows, _ := distill.LiveRows(ctx, e.st, "S1")
			archived, _ := distill.ArchivedRows(ctx, e.st, "S1")
			wantArchived := distill.MetaThreshold
			if pending > 0 {
				wantArchived++
			}
			if len(rows) != 1 || rows[0].Generation != 1 || len(archived) != wantArchived {
				t.Fatalf("after idle: live rows %+v, %d archived; want one gen-1 row and %d archived",
					rows, len(archived), wantArchived)
			}
			if mark, _ := distill.DistilledUpTo(ctx, e.st, "S1"); mark != 20+pending {
				t.Fatalf("watermark %d, want %d", mark, 20+pending)
			}
		})
	}
}

// A session whose post-turn distillation is still in flight when it goes
// idle (its guard is held) is not skipped: the idle work is retried and
// distils what arrived after that run.
func TestIdleRetriesWhileDistillationInFlight(t *testing.T) {
	e := newDistillEnv(t)
	ctx := context.Background()
	turn(t, e.st, e.keys, e.clk, "S1", distill.MaxSegment)
	if res, err := e.d.AfterTurn(ctx, "S1", 0); err != nil || res.Segments != 1 {
		t.Fatalf("AfterTurn = %+v, %v", res, err)
	}
	turn(t, e.st, e.keys, e.clk, "S1", 3)
	var mu sync.Mutex
	var results []error
	work := func(ctx context.Context, sid string) error {
		err := e.work(ctx, sid)
		mu.Lock()
		results = append(results, err)
		mu.Unlock()
		return err
	}
	s, _ := newScheduler(t, e.st, e.clk, work, nil)
	e.clk.Advance(timeout)
	waitFor(t, "the deferred idle work", func() bool {
		mu.Lock()
		defer mu.Unlock()
		if len(results) == 0 {
			return false
		}
		_, armed, _ := NewActiveSet(e.st).IdleArmed(ctx, "S1")
		return armed
	})
	if !errors.Is(results[0], ErrRetry) {
		t.Fatalf("idle work with the guard held returned %v, want ErrRetry", results[0])
	}
	if n := e.q.Len(); n != 1 {
		t.Fatalf("%d calls queued while the guard is held, want only the post-turn one", n)
	}
	e.drain(t) // the batch of the post-turn run comes back
	if mark, _ := distill.DistilledUpTo(ctx, e.st, "S1"); mark != distill.MaxSegment {
		t.Fatalf("watermark %d", mark)
	}
	e.clk.Advance(s.Interval())
	waitFor(t, "the retried idle distillation", func() bool { return e.q.Len() == 1 })
	e.drain(t)
	mu.Lock()
	if len(results) != 2 || results[1] != nil {
		t.Errorf("idle work results %v, want [ErrRetry, nil]", results)
	}
	mu.Unlock()
	if mark, _ := distill.DistilledUpTo(ctx, e.st, "S1"); mark != distill.MaxSegment+3 {
		t.Fatalf("watermark %d after the retry, want %d", mark, distill.MaxSegment+3)
	}
}
