package distill

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-lore/caddy-lore/auth"
	"github.com/caddy-lore/caddy-lore/gradient"
	"github.com/caddy-lore/caddy-lore/internal/fakeupstream"
	"github.com/caddy-lore/caddy-lore/llm"
)

var ctx = context.Background()

// docs/context-window.md, Distillation: a turn at layer ≥ 2 runs one forced distillation
// with urgent = true: straight to /v1/messages (the queue is bypassed), the
// row stored before AfterTurn returns.
func TestAfterTurnLayer2IsUrgent(t *testing.T) {
	e := newEnv(t)
	in := e.instance(t, auth.Credential{}, true)
	e.add(t, "s1", 12, apiKey)
	res, err := in.d.AfterTurn(ctx, "s1", 2)
	if err != nil || res != (Result{Rounds: 1, Segments: 1, Messages: 12, Distilled: 12}) {
		t.Fatalf("AfterTurn(layer 2) = %+v, %v", res, err)
	}
	if in.q.Len() != 0 || len(e.requests()) != 1 {
		t.Fatalf("%d queued, %d upstream requests; want 0, 1", in.q.Len(), len(e.requests()))
	}
	sys, user := body(t, e.requests()[0])
	if sys != ObserverSystem || !strings.HasPrefix(user, "This is the beginning of the session") ||
		!strings.Contains(user, "\n\n[user] (14:00) message 0\n\n[assistant] (14:01) message 1\n\n") {
		t.Errorf("distillation prompt: system %.40q…, user %.200q…", sys, user)
	}
	rows := e.rows(t, "s1")
	if len(rows) != 1 || rows[0].Observations != "- distilled 12 messages" || rows[0].Generation != 0 ||
		rows[0].First != 0 || rows[0].Last != 11 || rows[0].FirstPos != 0 || rows[0].LastPos != 11 ||
		len(rows[0].SourceIDs) != 12 || rows[0].SourceIDs[11] != "m11" || rows[0].CreatedAt != t0.UnixMilli() {
		t.Fatalf("rows = %+v", rows)
	}
	if e.mark(t, "s1") != 12 || e.undistilled(t, "s1") != 0 || e.guarded("s1") {
		t.Errorf("mark %d, undistilled %d, guarded %v", e.mark(t, "s1"), e.undistilled(t, "s1"), e.guarded("s1"))
	}
	got, err := in.d.Rows(ctx, "s1")
	if err != nil || len(got) != 1 || got[0] != (gradient.Distillation{ID: rows[0].ID, Generation: 0, Observations: "- distilled 12 messages"}) {
		t.Errorf("Rows = %+v, %v", got, err)
	}

	// The next segment sees the previous observations.
	e.add(t, "s1", 6, apiKey)
	if res, err = in.d.AfterTurn(ctx, "s1", 3); err != nil || res.Distilled != 6 {
		t.Fatalf("second AfterTurn = %+v, %v", res, err)
	}
	_, user = body(t, e.requests()[1])
	if !strings.HasPrefix(user, "Previous observations (already recorded; do not repeat them):\n<previous-observations>\n- distilled 12 messages\n</previous-observations>") {
		t.Errorf("second prompt: %.200q", user)
	}
}

// docs/context-window.md, Distillation: 30 undistilled messages after a turn schedule a
// non-urgent (queued) distillation; 29 do not.
func TestAfterTurnThreshold(t *testing.T) {
	e := newEnv(t)
	in := e.instance(t, auth.Credential{}, true)
	e.add(t, "s1", 29, apiKey)
	res, err := in.d.AfterTurn(ctx, "s1", 1)
	if err != nil || res != (Result{}) || in.q.Len() != 0 || e.guarded("s1") {
		t.Fatalf("29 messages: %+v, %v, %d queued", res, err, in.q.Len())
	}
	e.add(t, "s1", 1, apiKey)
	res, err = in.d.AfterTurn(ctx, "s1", 0)
	if err != nil || res != (Result{Rounds: 1, Segments: 1, Messages: 30}) {
		t.Fatalf("30 messages: %+v, %v", res, err)
	}
	calls, creds := in.q.Take()
	if len(calls) != 1 || calls[0].Kind != KindDistill || calls[0].Urgent || calls[0].SessionID != "s1" || creds[0] != apiKey {
		t.Fatalf("queued %+v with %v", calls, creds)
	}
	if r := refOf(t, calls[0]); r.First != 0 || r.Last != 29 || len(r.IDs) != 30 || !r.MetaIfCold {
		t.Errorf("ref = %+v", r)
	}
	if len(e.requests()) != 0 || !e.guarded("s1") || e.undistilled(t, "s1") != 30 {
		t.Fatalf("before delivery: %d requests, guarded %v", len(e.requests()), e.guarded("s1"))
	}
	in.deliver(t, calls[0], creds[0])
	if rows := e.rows(t, "s1"); len(rows) != 1 || rows[0].Observations != "- distilled 30 messages" || e.mark(t, "s1") != 30 || e.guarded("s1") {
		t.Errorf("after delivery: rows %+v, mark %d, guarded %v", rows, e.mark(t, "s1"), e.guarded("s1"))
	}
}

// docs/context-window.md, Distillation: 4 pending messages are not distilled unless forced.
func TestMinMessages(t *testing.T) {
	e := newEnv(t)
	in := e.instance(t, auth.Credential{}, false)
	e.add(t, "s1", 4, apiKey)
	res, err := in.d.run(ctx, "s1", runOpts{})
	if err != nil || res != (Result{}) || len(e.requests()) != 0 || e.guarded("s1") {
		t.Fatalf("unforced run: %+v, %v, %d requests", res, err, len(e.requests()))
	}
	res, err = in.d.run(ctx, "s1", runOpts{force: true, urgent: true})
	if err != nil || res != (Result{Rounds: 1, Segments: 1, Messages: 4, Distilled: 4}) {
		t.Fatalf("forced run: %+v, %v", res, err)
	}
	if rows := e.rows(t, "s1"); len(rows) != 1 || rows[0].Observations != "- distilled 4 messages" {
		t.Errorf("rows = %+v", rows)
	}
}

// Idle distils everything pending, below the minimum too, through the
// background pool (no queue).
func TestIdle(t *testing.T) {
	e := newEnv(t)
	in := e.instance(t, auth.Credential{}, false)
	e.add(t, "s1", 3, apiKey)
	res, err := in.d.Idle(ctx, "s1")
	if err != nil || res.Busy || res.Segments != 1 || res.Messages != 3 {
		t.Fatalf("Idle = %+v, %v", res, err)
	}
	e.waitIdle(t, "s1")
	if rows := e.rows(t, "s1"); len(rows) != 1 || rows[0].Observations != "- distilled 3 messages" || e.mark(t, "s1") != 3 {
		t.Errorf("rows = %+v, mark %d", rows, e.mark(t, "s1"))
	}
	// The applier's meta check may still hold the guard for a moment after
	// the row landed (it re-takes the guard to look): Busy then is right,
	// and the idle scheduler retries; so does this test.
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if res, err = in.d.Idle(ctx, "s1"); err != nil || !res.Busy {
			break
		}
	}
	if err != nil || res != (Result{}) || len(e.requests()) != 1 {
		t.Errorf("Idle with nothing pending = %+v, %v, %d requests", res, err, len(e.requests()))
	}
}

// docs/context-window.md, Distillation: an answer without tags is stored whole (trimmed);
// an empty answer stores nothing and the messages stay undistilled.
func TestEmptyAndUntaggedResults(t *testing.T) {
	e := newEnv(t)
	in := e.instance(t, auth.Credential{}, false)
	e.add(t, "s1", 6, apiKey)
	answer := func(text string, count int) {
		e.up.FailNext(fakeupstream.Failure{Path: "/v1/messages", Status: 200, Count: count,
			Body: `{"type":"message","role":"assistant","content":[{"type":"text","text":` + quote(text) + `}]}`})
	}
	// A forced urgent run tries a failed segment again in its next round,
	// up to MaxRounds; three empty answers leave the messages undistilled.
	answer("  \n ", 3)
	res, err := in.d.AfterTurn(ctx, "s1", 2)
	if err != nil || res != (Result{Rounds: 3, Segments: 3, Messages: 18}) || len(e.requests()) != 3 {
		t.Fatalf("AfterTurn with empty answers = %+v, %v, %d requests", res, err, len(e.requests()))
	}
	if len(e.rows(t, "s1")) != 0 || e.undistilled(t, "s1") != 6 || e.mark(t, "s1") != 0 || e.guarded("s1") {
		t.Fatalf("after empty answers: %d rows, %d undistilled, guarded %v", len(e.rows(t, "s1")), e.undistilled(t, "s1"), e.guarded("s1"))
	}
	// One empty answer, then the fake's observations in the next round.
	answer("", 1)
	if res, err = in.d.AfterTurn(ctx, "s1", 2); err != nil || res != (Result{Rounds: 2, Segments: 2, Messages: 12, Distilled: 6}) {
		t.Fatalf("AfterTurn with one empty answer = %+v, %v", res, err)
	}
	rows := e.rows(t, "s1")
	if len(rows) != 1 || rows[0].Observations != "- distilled 6 messages" {
		t.Fatalf("rows %+v", rows)
	}

	e.add(t, "s1", 5, apiKey)
	answer("  plain notes, no tags \n", 1)
	if _, err := in.d.AfterTurn(ctx, "s1", 2); err != nil {
		t.Fatal(err)
	}
	if rows = e.rows(t, "s1"); len(rows) != 2 || rows[1].Observations != "plain notes, no tags" {
		t.Fatalf("untagged: rows %+v", rows)
	}

	// An empty answer on a non-urgent run: nothing stored, guard released.
	e.add(t, "s1", 5, apiKey)
	answer("", 1)
	if _, err := in.d.Idle(ctx, "s1"); err != nil {
		t.Fatal(err)
	}
	e.waitIdle(t, "s1")
	if len(e.rows(t, "s1")) != 2 || e.undistilled(t, "s1") != 5 || e.mark(t, "s1") != 11 {
		t.Errorf("after an empty answer: %d rows, %d undistilled, mark %d", len(e.rows(t, "s1")), e.undistilled(t, "s1"), e.mark(t, "s1"))
	}
}

// Results applied out of order (a batch answers in any order) wait until
// the rows before them arrive; a duplicate delivery changes nothing.
func TestOutOfOrderResults(t *testing.T) {
	e := newEnv(t)
	in := e.instance(t, auth.Credential{}, true)
	e.add(t, "s1", 65, apiKey)
	res, err := in.d.AfterTurn(ctx, "s1", 1)
	if err != nil || res != (Result{Rounds: 1, Segments: 3, Messages: 65}) {
		t.Fatalf("AfterTurn = %+v, %v", res, err)
	}
	calls, creds := in.q.Take()
	var spans [][2]int
	for _, c := range calls {
		r := refOf(t, c)
		spans = append(spans, [2]int{r.First, r.Last})
	}
	if len(spans) != 3 || spans[0] != [2]int{0, 29} || spans[1] != [2]int{30, 59} || spans[2] != [2]int{60, 64} {
		t.Fatalf("segments %v", spans)
	}
	in.deliver(t, calls[2], creds[2])
	if len(e.rows(t, "s1")) != 0 || e.mark(t, "s1") != 0 || e.undistilled(t, "s1") != 60 || !e.guarded("s1") {
		t.Fatalf("after the last segment: %d rows, mark %d, undistilled %d", len(e.rows(t, "s1")), e.mark(t, "s1"), e.undistilled(t, "s1"))
	}
	in.deliver(t, calls[0], creds[0])
	in.deliver(t, calls[0], creds[0]) // delivered twice
	if rows := e.rows(t, "s1"); len(rows) != 1 || e.mark(t, "s1") != 30 || !e.guarded("s1") {
		t.Fatalf("after the first segment: %d rows, mark %d, guarded %v", len(rows), e.mark(t, "s1"), e.guarded("s1"))
	}
	in.deliver(t, calls[1], creds[1])
	rows := e.rows(t, "s1")
	var got []string
	for _, r := range rows {
		got = append(got, r.Observations)
	}
	if strings.Join(got, "|") != "- distilled 30 messages|- distilled 30 messages|- distilled 5 messages" ||
		e.mark(t, "s1") != 65 || e.undistilled(t, "s1") != 0 || e.guarded("s1") {
		t.Errorf("after all: rows %v, mark %d, guarded %v", got, e.mark(t, "s1"), e.guarded("s1"))
	}
}

// A failed segment leaves a hole; the next run distils only the hole.
func TestHoleIsRedistilled(t *testing.T) {
	e := newEnv(t)
	in := e.instance(t, auth.Credential{}, true)
	e.add(t, "s1", 65, apiKey)
	if _, err := in.d.AfterTurn(ctx, "s1", 1); err != nil {
		t.Fatal(err)
	}
	calls, creds := in.q.Take()
	in.w.Fail(ctx, calls[0], errors.New("batch row errored"))
	in.deliver(t, calls[1], creds[1])
	in.deliver(t, calls[2], creds[2])
	if e.mark(t, "s1") != 0 || e.undistilled(t, "s1") != 30 || e.guarded("s1") {
		t.Fatalf("mark %d, undistilled %d, guarded %v", e.mark(t, "s1"), e.undistilled(t, "s1"), e.guarded("s1"))
	}
	res, err := in.d.AfterTurn(ctx, "s1", 2)
	if err != nil || res != (Result{Rounds: 1, Segments: 1, Messages: 30, Distilled: 30}) {
		t.Fatalf("re-run = %+v, %v", res, err)
	}
	if len(e.rows(t, "s1")) != 3 || e.mark(t, "s1") != 65 {
		t.Errorf("%d rows, mark %d", len(e.rows(t, "s1")), e.mark(t, "s1"))
	}
}

// docs/context-window.md, Distillation (in-flight guard): never two background distillations of one session at once,
// across instances too; the guard is released once every result is in.
// (An urgent run does not wait for batched calls: urgent_test.go.)
func TestGuardAcrossInstances(t *testing.T) {
	e := newEnv(t)
	a := e.instance(t, auth.Credential{}, true)
	b := e.instance(t, auth.Credential{}, true)
	e.add(t, "s1", 30, apiKey)
	if res, err := a.d.AfterTurn(ctx, "s1", 1); err != nil || res.Segments != 1 {
		t.Fatalf("a: %+v, %v", res, err)
	}
	e.add(t, "s1", 30, apiKey)
	for name, in := range map[string]*instance{"a": a, "b": b} {
		if res, err := in.d.AfterTurn(ctx, "s1", 1); err != nil || res != (Result{Busy: true}) {
			t.Errorf("%s layer 1 while a run is out: %+v, %v", name, res, err)
		}
		if res, err := in.d.Idle(ctx, "s1"); err != nil || res != (Result{Busy: true}) {
			t.Errorf("%s idle while a run is out: %+v, %v", name, res, err)
		}
	}
	a.drain(t)
	if e.guarded("s1") {
		t.Fatal("guard held after a's result")
	}
	if res, err := b.d.AfterTurn(ctx, "s1", 1); err != nil || res.Busy || res.Messages != 30 {
		t.Fatalf("b after a's result: %+v, %v", res, err)
	}
	b.drain(t)
	if e.mark(t, "s1") != 60 || len(e.rows(t, "s1")) != 2 || e.guarded("s1") {
		t.Errorf("mark %d, %d rows, guarded %v", e.mark(t, "s1"), len(e.rows(t, "s1")), e.guarded("s1"))
	}
}

// A compaction's urgent distillation goes ahead beside a batched run on
// another instance: the summary is written from every message, and the
// batched result, arriving later, is dropped.
func TestCompactBesideBatchedRun(t *testing.T) {
	e := newEnv(t)
	a := e.instance(t, auth.Credential{}, true)
	b := e.instance(t, auth.Credential{}, true)
	e.add(t, "s1", 30, apiKey)
	if res, err := a.d.AfterTurn(ctx, "s1", 1); err != nil || res.Segments != 1 {
		t.Fatalf("a: %+v, %v", res, err)
	}
	e.add(t, "s1", 30, apiKey)
	if _, err := b.d.Compact(ctx, "s1", "", ""); err != nil {
		t.Fatalf("Compact beside a batched run: %v", err)
	}
	if e.mark(t, "s1") != 60 || len(e.rows(t, "s1")) != 2 || !e.guarded("s1") || len(e.requests()) != 3 {
		t.Fatalf("after Compact: mark %d, %d rows, guarded %v, %d requests", e.mark(t, "s1"), len(e.rows(t, "s1")), e.guarded("s1"), len(e.requests()))
	}
	if n := a.drain(t); n != 1 || e.mark(t, "s1") != 60 || len(e.rows(t, "s1")) != 2 || e.guarded("s1") {
		t.Errorf("after a's result (%d): mark %d, %d rows, guarded %v", n, e.mark(t, "s1"), len(e.rows(t, "s1")), e.guarded("s1"))
	}
}

func TestGuardConcurrentRuns(t *testing.T) {
	e := newEnv(t)
	ins := []*instance{e.instance(t, auth.Credential{}, true), e.instance(t, auth.Credential{}, true)}
	e.add(t, "s1", 40, apiKey)
	var mu sync.Mutex
	ran, busy := 0, 0
	var wg sync.WaitGroup
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func(in *instance) {
			defer wg.Done()
			res, err := in.d.Idle(ctx, "s1")
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				t.Error(err)
			case res.Busy:
				busy++
			default:
				ran++
			}
		}(ins[i%2])
	}
	wg.Wait()
	if ran != 1 || busy != 15 || ins[0].q.Len()+ins[1].q.Len() != 2 {
		t.Errorf("%d ran, %d busy, %d+%d queued; want 1, 15, 2 calls", ran, busy, ins[0].q.Len(), ins[1].q.Len())
	}
}

// docs/sessions-and-identity.md, Whose credential pays for background work:
// the session's credential, else the worker credential, else the
// work is skipped: no call, guard released, messages left undistilled.
func TestDistillationCredentials(t *testing.T) {
	e := newEnv(t)
	withService := e.instance(t, service, false)
	e.add(t, "bearer", 5, bearer)
	e.add(t, "anon", 5, auth.Credential{})
	for _, sid := range []string{"bearer", "anon"} {
		if res, err := withService.d.AfterTurn(ctx, sid, 2); err != nil || res.Distilled != 5 {
			t.Fatalf("%s: %+v, %v", sid, res, err)
		}
	}
	reqs := e.requests()
	if len(reqs) != 2 || reqs[0].Header.Get("Authorization") != "Bearer "+sessionOAuth ||
		reqs[0].Header.Get("Anthropic-Beta") != "oauth-2025-04-20" || reqs[1].Header.Get("X-Api-Key") != serviceKey {
		t.Fatalf("%d requests; first Authorization %q beta %q; second x-api-key %q", len(reqs), reqs[0].Header.Get("Authorization"),
			reqs[0].Header.Get("Anthropic-Beta"), reqs[1].Header.Get("X-Api-Key"))
	}

	none := e.instance(t, auth.Credential{}, true)
	e.add(t, "anon", 30, auth.Credential{})
	for _, layer := range []int{2, 1} {
		res, err := none.d.AfterTurn(ctx, "anon", layer)
		if !errors.Is(err, llm.ErrNoCredential) || res.Distilled != 0 {
			t.Errorf("layer %d without any credential: %+v, %v", layer, res, err)
		}
	}
	if len(e.requests()) != 2 || none.q.Len() != 0 || e.guarded("anon") || e.undistilled(t, "anon") != 30 {
		t.Errorf("%d requests, %d queued, guarded %v, %d undistilled", len(e.requests()), none.q.Len(), e.guarded("anon"), e.undistilled(t, "anon"))
	}
}

// cancelling wraps a worker and cancels the caller's context just before
// each Submit, as a client disconnecting mid-run would.
type cancelling struct {
	Worker
	cancel context.CancelFunc
}

func (c cancelling) Submit(ctx context.Context, call llm.Call) error {
	c.cancel()
	return c.Worker.Submit(ctx, call)
}

// A run whose caller goes away still releases the guard.
func TestCancelledCallerReleasesGuard(t *testing.T) {
	e := newEnv(t)
	in := e.instance(t, auth.Credential{}, false)
	e.add(t, "s1", 6, apiKey)
	cctx, cancel := context.WithCancel(ctx)
	d := New(Config{Store: e.st, Worker: cancelling{in.w, cancel}, Location: in.d.cfg.Location, Now: e.clock})
	res, err := d.AfterTurn(cctx, "s1", 2)
	if !errors.Is(err, context.Canceled) || res != (Result{Rounds: 1, Segments: 1, Messages: 6}) {
		t.Fatalf("AfterTurn = %+v, %v", res, err)
	}
	if e.guarded("s1") || e.undistilled(t, "s1") != 6 || len(e.requests()) != 0 {
		t.Errorf("guarded %v, %d undistilled, %d requests", e.guarded("s1"), e.undistilled(t, "s1"), len(e.requests()))
	}
}

// An inline run of several segments: each observer sees the observations
// of the segment before it, and the rows arrive in order.
func TestUrgentSegmentsChain(t *testing.T) {
	e := newEnv(t)
	in := e.instance(t, auth.Credential{}, false)
	e.add(t, "s1", 65, apiKey)
	res, err := in.d.AfterTurn(ctx, "s1", 4)
	if err != nil || res != (Result{Rounds: 1, Segments: 3, Messages: 65, Distilled: 65}) {
		t.Fatalf("AfterTurn = %+v, %v", res, err)
	}
	reqs := e.requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests", len(reqs))
	}
	for i, want := range []string{"This is the beginning of the session",
		"Previous observations (already recorded; do not repeat them):\n<previous-observations>\n- distilled 30 messages\n</previous-observations>",
		"Previous observations (already recorded; do not repeat them):\n<previous-observations>\n- distilled 30 messages\n</previous-observations>"} {
		if _, user := body(t, reqs[i]); !strings.HasPrefix(user, want) || !strings.Contains(user, "Session date: March 3, 2026\n") {
			t.Errorf("request %d: %.160q", i, user)
		}
	}
	var got []string
	for _, r := range e.rows(t, "s1") {
		got = append(got, r.Observations)
	}
	if strings.Join(got, "|") != "- distilled 30 messages|- distilled 30 messages|- distilled 5 messages" || e.mark(t, "s1") != 65 {
		t.Errorf("rows %v, mark %d", got, e.mark(t, "s1"))
	}
}
