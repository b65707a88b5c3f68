package batching

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-lore/caddy-lore/auth"
	"github.com/caddy-lore/caddy-lore/internal/fakeupstream"
	"github.com/caddy-lore/caddy-lore/llm"
	"github.com/caddy-lore/caddy-lore/store"
)

// Shutdown with durability (docs/batch-queue.md, Crash recovery and shutdown):
// Stop with an external store leaves queued items and in-flight batches in
// Redis (and Enqueue after Stop still queues); a new queue on the same Redis
// submits, polls and applies them all, once.
func TestStopKeepsItemsDurable(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b.cfg, fakeupstream.Options{})
		q1 := e.queue(queueOpts{cfg: func(c *Config) { c.PollInterval = time.Hour }})
		started(t, q1, context.Background())
		e.enqueue(q1, call("S1", 0), credA)
		e.enqueue(q1, call("S1", 1), credA)
		q1.flushAll() // one batch in flight, never polled by q1
		for i := range 3 {
			e.enqueue(q1, call("S2", i), credB)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := q1.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		e.enqueue(q1, call("S2", 3), credB) // after Stop: still durable
		if s := e.stats(q1); s.Queued != 4 || s.InFlightBatches != 1 || s.InFlightItems != 2 {
			t.Fatalf("after Stop: %+v", s)
		}
		if a, f := e.runner.counts(); a != 0 || f != 0 || e.runner.doCount() != 0 {
			t.Fatalf("Stop ran calls: applied %d failed %d do %d", a, f, e.runner.doCount())
		}

		q2 := e.queue(queueOpts{})
		q2.Start(context.Background())
		waitFor(t, "6 applied", func() bool { a, _ := e.runner.counts(); return a == 6 })
		waitFor(t, "an empty queue", func() bool { s := e.stats(q2); return s.InFlightBatches == 0 && s.Queued == 0 })
		if d := e.runner.duplicates(); len(d) != 0 {
			t.Fatalf("applied twice: %v", d)
		}
		cs := e.creates()
		if len(cs) != 2 || len(cs[0].ids) != 2 || len(cs[1].ids) != 4 {
			t.Fatalf("creates = %+v", cs)
		}
		if s := e.stats(q2); s.Resolved != 6 || s.Submitted != 6 || e.runner.doCount() != 0 {
			t.Fatalf("stats = %+v, %d sync calls", s, e.runner.doCount())
		}
	})
}

// Shutdown with the embedded store (docs/batch-queue.md, Crash recovery and
// shutdown): Stop runs the queued items synchronously before returning; calls
// after Stop run synchronously; no batch endpoint is called for them.
func TestStopEmbeddedRunsQueuedItems(t *testing.T) {
	e := newEnv(t, store.Config{}, fakeupstream.Options{BatchDelay: time.Hour})
	if !e.st.Embedded() {
		t.Fatal("not the embedded store")
	}
	q := e.queue(queueOpts{})
	started(t, q, context.Background())
	e.enqueue(q, call("S1", 0), credA)
	q.flushAll() // one batch in flight: it stays (a reload would poll it)
	e.runner.mu.Lock()
	e.runner.gate = make(chan struct{}) // prove Stop waits: released below
	gate := e.runner.gate
	e.runner.mu.Unlock()
	for i := range 3 {
		e.enqueue(q, call("S2", i), credB)
	}
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		done <- q.Stop(ctx)
	}()
	waitFor(t, "3 calls in flight", func() bool { e.runner.mu.Lock(); defer e.runner.mu.Unlock(); return e.runner.inDo == 3 })
	select {
	case err := <-done:
		t.Fatalf("Stop returned before its calls finished: %v", err)
	default:
	}
	close(gate)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if got := e.runner.appliedTo(call("S2", i).User); !reflect.DeepEqual(got, []string{"ok (turn 1)"}) {
			t.Fatalf("item %d applied %q", i, got)
		}
	}
	e.enqueue(q, call("S3", 0), credA) // after Stop: synchronous, done on return
	if got := e.runner.appliedTo("S3 item 0"); len(got) != 1 {
		t.Fatalf("after Stop applied %q", got)
	}
	if n := len(e.creates()); n != 1 {
		t.Fatalf("%d creates, want only the one before Stop", n)
	}
	if s := e.stats(q); s.Queued != 0 || s.InFlightBatches != 1 || s.SyncPending != 0 || s.SyncOK != 3 {
		t.Fatalf("stats = %+v", s)
	}
}

// A config reload with the embedded store: the old instance's Stop leaves
// the queue to the new instance (same in-process store), which batches it.
func TestStopEmbeddedReloadHandsOver(t *testing.T) {
	e := newEnv(t, store.Config{}, fakeupstream.Options{})
	old := e.queue(queueOpts{})
	started(t, old, context.Background())
	for i := range 3 {
		e.enqueue(old, call("S", i), credA)
	}
	next := e.queue(queueOpts{})
	next.Start(context.Background()) // registered before Start returns
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := old.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if n := e.runner.doCount(); n != 0 {
		t.Fatalf("Stop ran %d calls synchronously", n)
	}
	next.trigger()
	waitFor(t, "3 applied", func() bool { a, _ := e.runner.counts(); return a == 3 })
	if n := len(e.creates()); n != 1 || e.runner.doCount() != 0 {
		t.Fatalf("%d creates, %d sync calls", n, e.runner.doCount())
	}
}

// Two instances on one Redis, 1,000 items enqueued concurrently through both,
// two credentials: every custom_id reaches the upstream exactly once, in a
// batch authenticated by its own credential, and every result is applied
// exactly once.
func TestTwoInstancesExactlyOnce(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b.cfg, fakeupstream.Options{})
		fast := func(c *Config) { c.FlushInterval = 5 * time.Millisecond; c.PollInterval = 5 * time.Millisecond }
		qs := []*Queue{e.queue(queueOpts{cfg: fast}), e.queue(queueOpts{cfg: fast})}
		for _, q := range qs {
			q.Start(context.Background())
		}
		credOf := map[string]auth.Credential{}
		var wg sync.WaitGroup
		for g := range 10 {
			sid, cred := fmt.Sprintf("S%d", g), []auth.Credential{credA, credB}[g%2]
			credOf[sid] = cred
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 100 {
					if err := qs[i%2].Enqueue(context.Background(), call(sid, i), cred); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		waitFor(t, "1,000 applied", func() bool { a, _ := e.runner.counts(); return a == 1000 })
		waitFor(t, "no records", func() bool { s := e.stats(qs[0]); return s.InFlightBatches+s.Submitting+s.SyncPending == 0 })
		seen := map[string]int{}
		for _, c := range e.creates() {
			key := c.header.Get("X-Api-Key")
			for i, id := range c.ids {
				seen[id]++
				var sid string
				var n int
				if _, err := fmt.Sscanf(c.users[i], "%s item %d", &sid, &n); err != nil || credOf[sid].Value != key {
					t.Fatalf("item %q in a batch of key %q", c.users[i], key)
				}
			}
		}
		if len(seen) != 1000 {
			t.Fatalf("%d distinct custom_ids submitted", len(seen))
		}
		for id, n := range seen {
			if n != 1 {
				t.Fatalf("custom_id %s submitted %d times", id, n)
			}
		}
		if d := e.runner.duplicates(); len(d) != 0 {
			t.Fatalf("applied twice: %v", d)
		}
		s := e.stats(qs[1])
		if s.Submitted != 1000 || s.Resolved != 1000 || s.Enqueued != 1000 || s.Queued != 0 || e.runner.doCount() != 0 {
			t.Fatalf("stats = %+v, %d sync calls", s, e.runner.doCount())
		}
	})
}

// killable is a queue whose Start context a test cancels ("kill -9": no
// Stop, nothing released).
type killable struct {
	q    *Queue
	kill context.CancelFunc
}

// die kills and returns once the queue's context has ended, as a process
// stops at once: no step of the queue runs after it.
func (k *killable) die() {
	k.kill()
	<-k.q.ctx.Done()
}

func (e *env) killable(o queueOpts) *killable {
	q := e.queue(o)
	ctx, cancel := context.WithCancel(context.Background())
	started(e.t, q, ctx)
	return &killable{q: q, kill: cancel}
}

// dead waits until the killed queue's goroutines are gone, as a killed
// process's would be.
func (k *killable) dead(t *testing.T) {
	t.Helper()
	waitFor(t, "the kill", func() bool { return k.q.ctx.Err() != nil })
	k.q.work.Wait()
}

// recover starts a second instance whose clock is a minute ahead (the dead
// one's leases have expired) and waits until every item is applied once.
func (e *env) recoverAll(t *testing.T, n int) *Queue {
	t.Helper()
	q2 := e.queue(queueOpts{offset: time.Minute, cfg: func(c *Config) {
		c.FlushInterval = 5 * time.Millisecond
		c.PollInterval = 5 * time.Millisecond
	}})
	q2.Start(context.Background())
	waitFor(t, fmt.Sprintf("%d applied", n), func() bool { a, _ := e.runner.counts(); return a == n })
	waitFor(t, "no records", func() bool { s := e.stats(q2); return s.InFlightBatches+s.Submitting+s.SyncPending+s.Queued == 0 })
	if d := e.runner.duplicates(); len(d) != 0 {
		t.Fatalf("applied twice: %v", d)
	}
	if _, f := e.runner.counts(); f != 0 {
		t.Fatalf("%d failures", f)
	}
	return q2
}

// submittedOnce checks that the upstream received each of n items in exactly
// one create.
func (e *env) submittedOnce(t *testing.T, n int) {
	t.Helper()
	seen := map[string]int{}
	for _, c := range e.creates() {
		for _, id := range c.ids {
			seen[id]++
		}
	}
	if len(seen) != n {
		t.Fatalf("%d custom_ids submitted, want %d", len(seen), n)
	}
	for id, k := range seen {
		if k != 1 {
			t.Fatalf("%s submitted %d times", id, k)
		}
	}
}

// A kill at each step between enqueue and applied result: a new instance
// finishes the work with nothing lost and nothing submitted or applied twice.
func TestKilledMidway(t *testing.T) {
	scenario := func(name string, f func(t *testing.T, b backend)) {
		t.Run(name, func(t *testing.T) { eachBackend(t, f) })
	}
	{
		scenario("queued", func(t *testing.T, b backend) {
			e := newEnv(t, b.cfg, fakeupstream.Options{})
			k := e.killable(queueOpts{})
			for i := range 5 {
				e.enqueue(k.q, call("S", i), credA)
			}
			k.kill()
			k.dead(t)
			e.recoverAll(t, 5)
			e.submittedOnce(t, 5)
		})

		scenario("before the create arrived", func(t *testing.T, b backend) {
			e := newEnv(t, b.cfg, fakeupstream.Options{})
			var k *killable
			var armed atomic.Bool
			armed.Store(true)
			tr := hookTransport{next: http.DefaultTransport, hook: func(req *http.Request, next http.RoundTripper) (*http.Response, error) {
				if isCreate(req) && armed.CompareAndSwap(true, false) {
					k.die()
					return nil, context.Canceled
				}
				return next.RoundTrip(req)
			}}
			k = e.killable(queueOpts{transport: tr, cfg: func(c *Config) { c.MaxItems = 5 }})
			for i := range 5 {
				e.enqueue(k.q, call("S", i), credA)
			}
			k.dead(t)
			if s := e.stats(k.q); s.Submitting != 1 || len(e.creates()) != 0 {
				t.Fatalf("after the kill: %+v, %d creates", s, len(e.creates()))
			}
			q2 := e.recoverAll(t, 5)
			e.submittedOnce(t, 5)
			if s := e.stats(q2); s.Requeued != 5 || s.Batches != 1 {
				t.Fatalf("stats = %+v", s)
			}
		})

		scenario("after the create, before its id was recorded", func(t *testing.T, b backend) {
			e := newEnv(t, b.cfg, fakeupstream.Options{})
			var k *killable
			var armed atomic.Bool
			armed.Store(true)
			tr := hookTransport{next: http.DefaultTransport, hook: func(req *http.Request, next http.RoundTripper) (*http.Response, error) {
				if isCreate(req) && armed.CompareAndSwap(true, false) {
					resp, err := next.RoundTrip(req)
					if err == nil {
						_, _ = io.Copy(io.Discard, resp.Body)
						_ = resp.Body.Close()
					}
					k.die()
					return nil, errors.New("connection reset by peer")
				}
				return next.RoundTrip(req)
			}}
			k = e.killable(queueOpts{transport: tr, cfg: func(c *Config) { c.MaxItems = 5 }})
			for i := range 5 {
				e.enqueue(k.q, call("S", i), credA)
			}
			k.dead(t)
			if s := e.stats(k.q); s.Submitting != 1 || len(e.creates()) != 1 {
				t.Fatalf("after the kill: %+v, %d creates", s, len(e.creates()))
			}
			q2 := e.recoverAll(t, 5)
			e.submittedOnce(t, 5)
			if s := e.stats(q2); s.Requeued != 0 || s.Batches != 1 || s.Submitted != 5 || s.Resolved != 5 {
				t.Fatalf("stats = %+v", s)
			}
		})

		scenario("in flight", func(t *testing.T, b backend) {
			e := newEnv(t, b.cfg, fakeupstream.Options{BatchDelay: 50 * time.Millisecond})
			k := e.killable(queueOpts{cfg: func(c *Config) { c.MaxItems = 5; c.PollInterval = time.Hour }})
			for i := range 5 {
				e.enqueue(k.q, call("S", i), credA)
			}
			waitFor(t, "the batch in flight", func() bool { return e.stats(k.q).InFlightBatches == 1 })
			k.kill()
			k.dead(t)
			e.recoverAll(t, 5)
			e.submittedOnce(t, 5)
		})

		scenario("while applying results", func(t *testing.T, b backend) {
			e := newEnv(t, b.cfg, fakeupstream.Options{})
			var k *killable
			var applied atomic.Int64
			e.runner.applyHook = func(llm.Call) {
				if applied.Add(1) == 3 {
					k.die()
				}
			}
			k = e.killable(queueOpts{cfg: func(c *Config) { c.MaxItems = 10 }})
			for i := range 10 {
				e.enqueue(k.q, call("S", i), credA)
			}
			k.dead(t)
			if a, _ := e.runner.counts(); a != 3 {
				t.Fatalf("%d applied before the kill", a)
			}
			e.recoverAll(t, 10)
			e.submittedOnce(t, 10)
		})

		scenario("during synchronous runs", func(t *testing.T, b backend) {
			e := newEnv(t, b.cfg, fakeupstream.Options{})
			e.up.FailNext(fakeupstream.Failure{Path: "/v1/messages/batches", Status: 500})
			var k *killable
			var dos atomic.Int64
			e.runner.doHook = func(llm.Call) error {
				if dos.Add(1) == 2 {
					k.die()
					return context.Canceled
				}
				return nil
			}
			k = e.killable(queueOpts{cfg: func(c *Config) { c.MaxItems = 4 }})
			for i := range 4 {
				e.enqueue(k.q, call("S", i), credA)
			}
			k.dead(t)
			e.runner.mu.Lock()
			e.runner.doHook = nil
			e.runner.mu.Unlock()
			e.recoverAll(t, 4)
		})
	}
}

// A create whose outcome is unknown (transport error, process alive) is
// reconciled one lease period later: not found upstream → the items run
// synchronously (docs/batch-queue.md, Flush: transport error).
func TestCreateTransportErrorReconciles(t *testing.T) {
	e := newEnv(t, backends(t)[0].cfg, fakeupstream.Options{})
	tr := hookTransport{next: http.DefaultTransport, hook: func(req *http.Request, next http.RoundTripper) (*http.Response, error) {
		if isCreate(req) {
			return nil, errors.New("dial tcp: connection refused")
		}
		return next.RoundTrip(req)
	}}
	clock := new(clockOffset)
	q := e.queue(queueOpts{transport: tr, clock: &clock.Int64, cfg: func(c *Config) { c.MaxItems = 1000 }})
	for i := range 3 {
		e.enqueue(q, call("S", i), credA)
	}
	q.flushAll()
	q.pollAll() // the lease is left for one period: nothing happens yet
	if s := e.stats(q); s.Submitting != 1 || e.runner.doCount() != 0 {
		t.Fatalf("before the lease expired: %+v", s)
	}
	clock.Store(int64(time.Minute))
	q.pollAll()
	waitFor(t, "3 applied", func() bool { a, _ := e.runner.counts(); return a == 3 })
	waitFor(t, "no records", func() bool { return e.stats(q).SyncPending == 0 })
	if s := e.stats(q); s.Fallback != 3 || s.SyncOK != 3 || s.Requeued != 0 || s.Batches != 0 {
		t.Fatalf("stats = %+v", s)
	}
	if n := e.count(http.MethodGet, "/v1/messages/batches"); n != 1 {
		t.Fatalf("%d list calls, want 1", n)
	}
}
