package batching

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-lore/caddy-lore/auth"
	"github.com/caddy-lore/caddy-lore/internal/fakeupstream"
	"github.com/caddy-lore/caddy-lore/llm"
	"github.com/caddy-lore/caddy-lore/pricing"
)

// started starts q and waits for its first flush and poll passes, so that
// nothing the test enqueues afterwards is taken by them.
func started(t testing.TB, q *Queue, ctx context.Context) {
	t.Helper()
	q.Start(ctx)
	waitFor(t, "the first passes", func() bool { return q.flushes.Load() >= 1 && q.polls.Load() >= 1 })
}

// 50 queued items are submitted at once, without waiting for the flush timer
// (docs/batch-queue.md, Enqueue: max_items).
func TestMaxItemsFlushesAtOnce(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b.cfg, fakeupstream.Options{BatchDelay: time.Hour})
		q := e.queue(queueOpts{}) // flush timer 1h
		started(t, q, context.Background())
		var users []string
		for i := range 49 {
			e.enqueue(q, call("S1", i), credA)
			users = append(users, call("S1", i).User)
		}
		if got := e.stats(q); got.Queued != 49 || len(e.creates()) != 0 {
			t.Fatalf("after 49: queued %d, creates %d", got.Queued, len(e.creates()))
		}
		e.enqueue(q, call("S1", 49), credA)
		users = append(users, call("S1", 49).User)
		waitFor(t, "a batch create", func() bool { return len(e.creates()) == 1 })
		waitFor(t, "the record", func() bool { return e.stats(q).InFlightBatches == 1 })
		c := e.creates()[0]
		if !reflect.DeepEqual(c.users, users) {
			t.Fatalf("batch requests = %v", c.users)
		}
		s := e.stats(q)
		if s.Queued != 0 || s.InFlightItems != 50 || s.Submitted != 50 || s.Batches != 1 || s.Enqueued != 50 {
			t.Fatalf("stats = %+v", s)
		}
		if n := e.runner.doCount(); n != 0 {
			t.Fatalf("%d synchronous calls", n)
		}
	})
}

// Three sessions over two credentials (and one OAuth token): one create per
// credential, each with only its own auth header and only its own items
// (docs/batch-queue.md, Flush).
func TestGroupsByCredential(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b.cfg, fakeupstream.Options{BatchDelay: time.Hour})
		q := e.queue(queueOpts{cfg: func(c *Config) { c.MaxItems = 1000 }})
		for i := range 2 {
			e.enqueue(q, call("S1", i), credA)
			e.enqueue(q, call("S2", i), credB)
			e.enqueue(q, call("S3", i), credA)
		}
		e.enqueue(q, call("S4", 0), credT)
		q.flushAll()
		cs := e.creates()
		if len(cs) != 3 {
			t.Fatalf("%d creates, want 3", len(cs))
		}
		want := []struct {
			apiKey, authz string
			users         []string
		}{
			{keyA, "", []string{"S1 item 0", "S3 item 0", "S1 item 1", "S3 item 1"}},
			{keyB, "", []string{"S2 item 0", "S2 item 1"}},
			{"", "Bearer " + oauthT, []string{"S4 item 0"}},
		}
		for i, w := range want {
			h := cs[i].header
			if h.Get("X-Api-Key") != w.apiKey || h.Get("Authorization") != w.authz || len(h.Values("X-Api-Key")) > 1 {
				t.Errorf("create %d: x-api-key %q authorization %q", i, h.Get("X-Api-Key"), h.Get("Authorization"))
			}
			if beta := h.Get("Anthropic-Beta"); (w.authz != "") != strings.Contains(beta, "oauth-2025-04-20") {
				t.Errorf("create %d: anthropic-beta %q", i, beta)
			}
			if h.Get("Anthropic-Version") != "2023-06-01" {
				t.Errorf("create %d: anthropic-version %q", i, h.Get("Anthropic-Version"))
			}
			if !reflect.DeepEqual(cs[i].users, w.users) {
				t.Errorf("create %d: requests %v, want %v", i, cs[i].users, w.users)
			}
		}
		s := e.stats(q)
		if s.InFlightBatches != 3 || s.InFlightItems != 7 || s.Submitted != 7 || s.Batches != 3 || s.Queued != 0 {
			t.Fatalf("stats = %+v", s)
		}
	})
}

// Results (docs/batch-queue.md, Polling and results): succeeded rows apply
// their first text block; errored, canceled, expired and missing rows fail;
// unknown and unparsable lines are ignored. The batch's usage is recorded for
// the session.
func TestResults(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		var missingID string
		var okRow string
		tr := hookTransport{next: http.DefaultTransport, hook: func(req *http.Request, next http.RoundTripper) (*http.Response, error) {
			resp, err := next.RoundTrip(req)
			if err != nil || !strings.HasSuffix(req.URL.Path, "/results") {
				return resp, err
			}
			return rewriteBody(resp, func(body string) string {
				var keep []string
				for _, line := range strings.Split(strings.TrimSpace(body), "\n") {
					if strings.Contains(line, `"custom_id":"`+missingID+`"`) {
						continue
					}
					if strings.Contains(line, `"succeeded"`) {
						okRow = line
					}
					keep = append(keep, line)
				}
				keep = append(keep, `{"custom_id":"unknown-1","result":{"type":"succeeded","message":{"content":[{"type":"text","text":"stray"}]}}}`,
					`not json at all`, ``)
				return strings.Join(keep, "\n")
			}), nil
		}}
		e := newEnv(t, b.cfg, fakeupstream.Options{})
		q := e.queue(queueOpts{transport: tr, cfg: func(c *Config) { c.MaxItems = 1000 }})
		calls := map[string]llm.Call{}
		for _, u := range []string{"ok", "errored [[batch:errored]]", "missing", "canceled [[batch:canceled]]", "expired [[batch:expired]]"} {
			c := llm.Call{Kind: "distill", SessionID: "S1", Model: "claude-haiku-4-5", System: "sys", User: u}
			calls[u] = c
			e.enqueue(q, c, credA)
		}
		q.flushAll()
		cs := e.creates()
		if len(cs) != 1 || len(cs[0].ids) != 5 {
			t.Fatalf("creates = %+v", cs)
		}
		missingID = cs[0].ids[2]
		q.pollAll()

		if got := e.runner.appliedTo("ok"); !reflect.DeepEqual(got, []string{"ok (turn 1)"}) {
			t.Fatalf("ok applied %q", got)
		}
		if applied, failed := e.runner.counts(); applied != 1 || failed != 4 {
			t.Fatalf("applied %d failed %d", applied, failed)
		}
		wantErr := map[string]string{
			"errored [[batch:errored]]":   "batching: batch item errored: invalid_request_error: fake upstream: request marked [[batch:errored]]",
			"missing":                     ErrMissing.Error(),
			"canceled [[batch:canceled]]": "batching: batch item canceled",
			"expired [[batch:expired]]":   "batching: batch item expired",
		}
		for u, w := range wantErr {
			if got := e.runner.failedOf(u); len(got) != 1 || got[0].Error() != w {
				t.Errorf("%s failed with %v, want %q", u, got, w)
			}
		}
		s := e.stats(q)
		if s.Resolved != 1 || s.Failed != 4 || s.InFlightBatches != 0 || s.InFlightItems != 0 || s.Queued != 0 {
			t.Fatalf("stats = %+v", s)
		}
		var row struct {
			Result struct {
				Message struct {
					Usage pricing.Usage `json:"usage"`
				} `json:"message"`
			} `json:"result"`
		}
		mustJSON(t, okRow, &row)
		u := row.Result.Message.Usage
		if u.InputTokens == 0 || u.OutputTokens == 0 {
			t.Fatalf("row usage %+v", u)
		}
		got, err := q.SessionUsage(context.Background(), "S1")
		if err != nil {
			t.Fatal(err)
		}
		if want := map[string]BatchedUsage{"claude-haiku-4-5": {Calls: 1, Usage: u}}; !reflect.DeepEqual(got, want) {
			t.Fatalf("session usage %+v, want %+v", got, want)
		}
		if s.Tokens != u {
			t.Fatalf("total tokens %+v, want %+v", s.Tokens, u)
		}
	})
}

// A batch still in progress after max age is abandoned (and canceled
// upstream); its items run synchronously, at most 5 at a time, and it leaves
// the in-flight set (docs/batch-queue.md, Polling and results).
func TestAbandonOldBatch(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b.cfg, fakeupstream.Options{BatchDelay: 24 * time.Hour})
		clock := new(clockOffset)
		q := e.queue(queueOpts{clock: &clock.Int64, cfg: func(c *Config) { c.MaxItems = 1000 }})
		for i := range 12 {
			e.enqueue(q, call("S1", i), credA)
		}
		q.flushAll()
		q.pollAll() // young: only polled
		if s := e.stats(q); s.InFlightBatches != 1 || e.runner.doCount() != 0 {
			t.Fatalf("before max age: %+v, %d calls", s, e.runner.doCount())
		}
		gate := make(chan struct{})
		e.runner.mu.Lock()
		e.runner.gate = gate
		e.runner.mu.Unlock()
		clock.Store(int64(61 * time.Minute))
		q.pollAll()
		waitFor(t, "5 calls in flight", func() bool { e.runner.mu.Lock(); defer e.runner.mu.Unlock(); return e.runner.inDo == 5 })
		close(gate)
		waitFor(t, "12 applied", func() bool { a, _ := e.runner.counts(); return a == 12 })
		waitFor(t, "the sync record to finish", func() bool { return e.stats(q).SyncPending == 0 })
		if e.runner.maxInDo != 5 {
			t.Fatalf("max concurrent calls %d, want 5", e.runner.maxInDo)
		}
		for i := range 12 {
			if got := e.runner.appliedTo(call("S1", i).User); !reflect.DeepEqual(got, []string{"ok (turn 1)"}) {
				t.Fatalf("item %d applied %q", i, got)
			}
		}
		id := batchIDs(t, e)[0]
		if n := e.count(http.MethodPost, "/v1/messages/batches/"+id+"/cancel"); n != 1 {
			t.Fatalf("%d cancels", n)
		}
		s := e.stats(q)
		if s.InFlightBatches != 0 || s.InFlightItems != 0 || s.Abandoned != 1 || s.Fallback != 12 || s.SyncOK != 12 {
			t.Fatalf("stats = %+v", s)
		}
	})
}

// A failing create sends the items to synchronous runs with their own
// credentials (docs/batch-queue.md, Flush).
func TestCreateFailureRunsSync(t *testing.T) {
	for _, status := range []int{500, 400, 429} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			e := newEnv(t, backends(t)[0].cfg, fakeupstream.Options{})
			e.up.FailNext(fakeupstream.Failure{Path: "/v1/messages/batches", Status: status, Count: 2})
			var fallbacks atomic.Int64
			q := e.queue(queueOpts{cfg: func(c *Config) {
				c.MaxItems = 1000
				c.OnFallback = func(kind string) {
					if kind == "distill" {
						fallbacks.Add(1)
					}
				}
			}})
			e.enqueue(q, call("S1", 0), credA)
			e.enqueue(q, call("S2", 0), credB)
			q.flushAll()
			waitFor(t, "2 applied", func() bool { a, _ := e.runner.counts(); return a == 2 })
			if n := fallbacks.Load(); n != 2 {
				t.Fatalf("OnFallback heard %d calls, want 2", n)
			}
			waitFor(t, "the sync records to finish", func() bool { return e.stats(q).SyncPending == 0 })
			s := e.stats(q)
			if s.Fallback != 2 || s.SyncOK != 2 || s.Batches != 0 || s.InFlightBatches != 0 {
				t.Fatalf("stats = %+v", s)
			}
			if n := len(e.creates()); n != 2 { // both failed
				t.Fatalf("%d creates", n)
			}
			refused, _ := NewRedisQueue(e.st).Refused(context.Background(), e.keys.Namespace(credA))
			if refused {
				t.Fatal("a 5xx/4xx remembered the credential as refused")
			}
		})
	}
}

// An OAuth credential refused by the batch API (403) runs synchronously and is
// remembered: its next item never reaches the batch endpoint. Other
// credentials in the same flush are batched as usual (docs/batch-queue.md,
// Flush).
func TestRefusedCredentialRemembered(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b.cfg, fakeupstream.Options{RefuseBatchBearer: true})
		q := e.queue(queueOpts{cfg: func(c *Config) { c.MaxItems = 1000 }})
		e.enqueue(q, call("T", 0), credT)
		e.enqueue(q, call("A", 0), credA)
		e.enqueue(q, call("T", 1), credT)
		q.flushAll()
		waitFor(t, "T's items applied", func() bool {
			return len(e.runner.appliedTo("T item 0")) == 1 && len(e.runner.appliedTo("T item 1")) == 1
		})
		cs := e.creates()
		if len(cs) != 2 || cs[0].header.Get("Authorization") != "Bearer "+oauthT || cs[0].header.Get("X-Api-Key") != "" ||
			!strings.Contains(cs[0].header.Get("Anthropic-Beta"), "oauth-2025-04-20") {
			t.Fatalf("creates = %+v", cs)
		}
		q.pollAll()
		if got := e.runner.appliedTo("A item 0"); len(got) != 1 {
			t.Fatalf("A applied %q", got)
		}

		e.enqueue(q, call("T", 2), credT)
		waitFor(t, "T's third item applied", func() bool { return len(e.runner.appliedTo("T item 2")) == 1 })
		if n := e.count(http.MethodPost, "/v1/messages/batches"); n != 2 {
			t.Fatalf("%d batch endpoint calls after the refusal, want the 2 before", n)
		}
		q.flushAll()
		if n := e.count(http.MethodPost, "/v1/messages/batches"); n != 2 {
			t.Fatalf("a flush sent the refused credential's items: %d creates", n)
		}
		waitFor(t, "the sync records to finish", func() bool { return e.stats(q).SyncPending == 0 })
		s := e.stats(q)
		if s.Refused != 1 || s.Fallback != 3 || s.SyncOK != 3 || s.Resolved != 1 {
			t.Fatalf("stats = %+v", s)
		}
	})
}

// custom_ids match the API's pattern and are unique, over 10,000 items, and
// the fake (which validates them) accepts a batch of 10,000.
func TestCustomIDs(t *testing.T) {
	seen := map[string]bool{}
	now := time.Now()
	kinds := []string{"distill", "", "meta/curate x", strings.Repeat("k", 80), "é-ü_9"}
	for i := range 10000 {
		id, err := newCustomID(kinds[i%len(kinds)], now)
		if err != nil {
			t.Fatal(err)
		}
		if !customIDRe.MatchString(id) || seen[id] {
			t.Fatalf("custom_id %q invalid or repeated", id)
		}
		seen[id] = true
	}
	e := newEnv(t, backends(t)[0].cfg, fakeupstream.Options{BatchDelay: time.Hour})
	q := e.queue(queueOpts{cfg: func(c *Config) { c.MaxItems = MaxItemsLimit }})
	for i := range 10000 {
		e.enqueue(q, call("S", i), credA)
	}
	q.flushAll()
	cs := e.creates() // taken 2,000 at a time
	ids := map[string]bool{}
	for i, c := range cs {
		if len(c.ids) != 2000 {
			t.Fatalf("create %d has %d requests", i, len(c.ids))
		}
		for _, id := range c.ids {
			if !customIDRe.MatchString(id) || ids[id] || !strings.HasPrefix(id, "distill-") {
				t.Fatalf("custom_id %q invalid or repeated", id)
			}
			ids[id] = true
		}
	}
	if len(cs) != 5 || len(ids) != 10000 {
		t.Fatalf("%d creates, %d ids", len(cs), len(ids))
	}
	if s := e.stats(q); s.InFlightItems != 10000 || s.Batches != 5 {
		t.Fatalf("stats = %+v", s)
	}
}

// A call without a credential is refused; an urgent one runs synchronously.
func TestEnqueueEdges(t *testing.T) {
	e := newEnv(t, backends(t)[0].cfg, fakeupstream.Options{})
	q := e.queue(queueOpts{})
	if err := q.Enqueue(context.Background(), call("S", 0), auth.Credential{Scheme: auth.SchemeAPIKey}); !errors.Is(err, llm.ErrNoCredential) {
		t.Fatalf("no credential: %v", err)
	}
	c := call("S", 1)
	c.Urgent = true
	e.enqueue(q, c, credB)
	if got := e.runner.appliedTo(c.User); !reflect.DeepEqual(got, []string{"ok (turn 1)"}) {
		t.Fatalf("urgent applied %q", got)
	}
	if s := e.stats(q); s.Enqueued != 0 || s.Queued != 0 {
		t.Fatalf("stats = %+v", s)
	}
}

// A panicking Apply is logged; the results of the other items still apply.
func TestApplyPanicContained(t *testing.T) {
	e := newEnv(t, backends(t)[0].cfg, fakeupstream.Options{})
	q := e.queue(queueOpts{cfg: func(c *Config) { c.MaxItems = 1000 }})
	e.runner.panicOn = "S item 0"
	for i := range 3 {
		e.enqueue(q, call("S", i), credA)
	}
	q.flushAll()
	q.pollAll()
	if a, f := e.runner.counts(); a != 3 || f != 0 {
		t.Fatalf("applied %d failed %d", a, f)
	}
	if s := e.stats(q); s.InFlightBatches != 0 || s.Resolved != 3 {
		t.Fatalf("stats = %+v", s)
	}
}

// Stats: queue length and the oldest item's age on a frozen clock.
func TestStatsOldestAge(t *testing.T) {
	e := newEnv(t, backends(t)[0].cfg, fakeupstream.Options{})
	q := e.queue(queueOpts{})
	t0 := time.Now().Truncate(time.Millisecond)
	q.now = func() time.Time { return t0 }
	e.enqueue(q, call("S", 0), credA)
	q.now = func() time.Time { return t0.Add(30 * time.Second) }
	e.enqueue(q, call("S", 1), credA)
	q.now = func() time.Time { return t0.Add(90 * time.Second) }
	s := e.stats(q)
	if s.Queued != 2 || s.OldestAge != 90*time.Second || s.Enqueued != 2 {
		t.Fatalf("stats = %+v", s)
	}
	if s, _ := ReadStats(context.Background(), e.st, t0.Add(time.Minute)); s.OldestAge != time.Minute {
		t.Fatalf("ReadStats oldest %v", s.OldestAge)
	}
}

func TestConfigValidate(t *testing.T) {
	e := newEnv(t, backends(t)[0].cfg, fakeupstream.Options{})
	ok := Config{Keys: e.keys, Store: e.st}
	tests := []struct {
		mod  func(*Config)
		want string
	}{
		{func(*Config) {}, ""},
		{func(c *Config) { c.MaxItems = 100000 }, ""},
		{func(c *Config) { c.MaxItems = 100001 }, "max_items 100001 is outside 1..100000"},
		{func(c *Config) { c.MaxItems = -1 }, "max_items -1 is outside 1..100000"},
		{func(c *Config) { c.FlushInterval = -time.Second }, "flush_interval is negative"},
		{func(c *Config) { c.PollInterval = -time.Second }, "poll_interval is negative"},
		{func(c *Config) { c.MaxAge = -time.Second }, "max_age is negative"},
		{func(c *Config) { c.Upstream = mustURL(t, "ftp://x") }, `upstream "ftp://x" is not an http(s) URL`},
		{func(c *Config) { c.Keys = nil }, "no keyring"},
		{func(c *Config) { c.Store = nil }, "no store"},
	}
	for _, tt := range tests {
		c := ok
		tt.mod(&c)
		err := c.Validate()
		if tt.want == "" && err != nil || tt.want != "" && (err == nil || err.Error() != "batching: "+tt.want) {
			t.Errorf("Validate = %v, want %q", err, tt.want)
		}
	}
	d := ok.withDefaults()
	if d.FlushInterval != 30*time.Second || d.MaxItems != 50 || d.PollInterval != time.Minute || d.MaxAge != time.Hour ||
		d.Upstream.String() != "https://api.anthropic.com" {
		t.Fatalf("defaults = %+v", d)
	}
	if _, err := New(ok, nil); err == nil {
		t.Fatal("New without a runner")
	}
}

// Twenty sessions with twenty credentials: twenty creates, each
// authenticated by one credential and carrying only that session's items.
func TestTwentyCredentials(t *testing.T) {
	var keys []string
	for i := range 20 {
		keys = append(keys, fmt.Sprintf("sk-ant-api03-twenty-%02d", i))
	}
	e := newEnv(t, backends(t)[0].cfg, fakeupstream.Options{APIKeys: keys, BatchDelay: time.Hour})
	q := e.queue(queueOpts{cfg: func(c *Config) { c.MaxItems = 1000 }})
	for i := range 5 {
		for s, k := range keys {
			e.enqueue(q, call(fmt.Sprintf("S%02d", s), i), auth.Credential{Scheme: auth.SchemeAPIKey, Value: k})
		}
	}
	q.flushAll()
	cs := e.creates()
	if len(cs) != 20 {
		t.Fatalf("%d creates", len(cs))
	}
	for i, c := range cs {
		key := c.header.Get("X-Api-Key")
		if key != keys[i] || c.header.Get("Authorization") != "" || len(c.users) != 5 {
			t.Fatalf("create %d: key %q, %d requests", i, key, len(c.users))
		}
		for j, u := range c.users {
			if want := call(fmt.Sprintf("S%02d", i), j).User; u != want {
				t.Fatalf("create %d request %d is %q, want %q", i, j, u, want)
			}
		}
	}
}
