package distill

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/caddy-lore/caddy-lore/auth"
	"github.com/caddy-lore/caddy-lore/llm"
)

// hooked wraps a worker and runs hook before each urgent Submit, i.e. while
// an urgent run holds the guard.
type hooked struct {
	Worker
	hook func(c llm.Call)
}

func (h hooked) Submit(ctx context.Context, c llm.Call) error {
	if c.Urgent && h.hook != nil {
		h.hook(c)
	}
	return h.Worker.Submit(ctx, c)
}

// rowSpans renders the session's live rows as "first-last:gen:observations".
func (e *env) rowSpans(t *testing.T, sid string) string {
	t.Helper()
	var out []string
	for _, r := range e.rows(t, sid) {
		out = append(out, fmt.Sprintf("%d-%d:%d:%s", r.First, r.Last, r.Generation, r.Observations))
	}
	return strings.Join(out, "|")
}

// The e2e bug: a background run whose calls sit in a batch held the guard
// until the batch came back, and every urgent run meanwhile returned Busy.
// Now the urgent run distils the pending messages itself, inline; the
// batched results, delivered afterwards, overlap its rows and are dropped,
// and the guard goes with the last of them.
func TestUrgentRunBesideBatchedRun(t *testing.T) {
	e := newEnv(t)
	in := e.instance(t, auth.Credential{}, true)
	e.add(t, "s1", 65, apiKey)
	res, err := in.d.AfterTurn(ctx, "s1", 1)
	if err != nil || res != (Result{Rounds: 1, Segments: 3, Messages: 65}) {
		t.Fatalf("background AfterTurn = %+v, %v", res, err)
	}
	held, creds := in.q.Take() // the batch holds them until the test says so
	if len(held) != 3 || !e.guarded("s1") || len(e.requests()) != 0 {
		t.Fatalf("%d calls held, guarded %v, %d requests", len(held), e.guarded("s1"), len(e.requests()))
	}

	e.add(t, "s1", 5, apiKey)
	res, err = in.d.AfterTurn(ctx, "s1", 2)
	if err != nil || res != (Result{Joined: true, Rounds: 1, Segments: 3, Messages: 70, Distilled: 70}) {
		t.Fatalf("urgent AfterTurn beside the batched run = %+v, %v", res, err)
	}
	const want = "0-29:0:- distilled 30 messages|30-59:0:- distilled 30 messages|60-69:0:- distilled 10 messages"
	if got := e.rowSpans(t, "s1"); got != want || e.mark(t, "s1") != 70 || e.undistilled(t, "s1") != 0 ||
		in.q.Len() != 0 || len(e.requests()) != 3 {
		t.Fatalf("after the urgent run: rows %s, mark %d, %d queued, %d requests", got, e.mark(t, "s1"), in.q.Len(), len(e.requests()))
	}
	before := e.rows(t, "s1")
	// The batched calls still hold the guard: background runs wait.
	if !e.guarded("s1") {
		t.Fatal("guard released while batched calls are out")
	}
	if res, err := in.d.AfterTurn(ctx, "s1", 1); err != nil || res != (Result{}) {
		t.Errorf("background AfterTurn with nothing pending = %+v, %v", res, err)
	}
	if res, err := in.d.Idle(ctx, "s1"); err != nil || res != (Result{Busy: true}) {
		t.Errorf("Idle while batched calls are out = %+v, %v", res, err)
	}

	// The batch comes back, in another order, one result twice.
	for _, i := range []int{2, 0, 0, 1} {
		in.deliver(t, held[i], creds[i])
	}
	after := e.rows(t, "s1")
	if len(after) != len(before) || e.rowSpans(t, "s1") != want || e.mark(t, "s1") != 70 || e.undistilled(t, "s1") != 0 {
		t.Fatalf("after the batched results: rows %s, mark %d", e.rowSpans(t, "s1"), e.mark(t, "s1"))
	}
	for i := range before {
		if after[i].ID != before[i].ID {
			t.Errorf("row %d replaced: %s, was %s", i, after[i].ID, before[i].ID)
		}
	}
	if n := e.raw.HLen(ctx, e.prefix+"s:{s1}:dist:ahead").Val(); n != 0 {
		t.Errorf("%d rows waiting out of order", n)
	}
	if e.guarded("s1") || len(e.requests()) != 7 {
		t.Errorf("guarded %v, %d requests; want released, 7", e.guarded("s1"), len(e.requests()))
	}
	if res, err := in.d.Idle(ctx, "s1"); err != nil || res.Busy {
		t.Errorf("Idle after the batch = %+v, %v", res, err)
	}
}

// While an urgent run is in progress (here: inside its first Submit), a
// second urgent run and any background run are refused; batched results
// delivered meanwhile are taken in where they fit, release only their own
// references, and the urgent run fills in around them without a duplicate.
func TestUrgentRunExcludesUrgentRuns(t *testing.T) {
	e := newEnv(t)
	in := e.instance(t, auth.Credential{}, true)
	e.add(t, "s1", 65, apiKey)
	if _, err := in.d.AfterTurn(ctx, "s1", 1); err != nil {
		t.Fatal(err)
	}
	held, creds := in.q.Take()
	if len(held) != 3 || refOf(t, held[2]).First != 60 || refOf(t, held[2]).Last != 64 {
		t.Fatalf("held %d calls", len(held))
	}
	e.add(t, "s1", 5, apiKey)

	type attempt struct {
		name string
		res  Result
		err  error
	}
	var inside []attempt
	ran := false
	var d *Distiller
	d = New(Config{Store: e.st, Location: in.d.cfg.Location, Now: e.clock, Worker: hooked{Worker: in.w, hook: func(llm.Call) {
		if ran {
			return
		}
		ran = true
		for _, a := range []struct {
			name string
			run  func() (Result, error)
		}{
			{"layer 2", func() (Result, error) { return d.AfterTurn(ctx, "s1", 2) }},
			{"layer 4", func() (Result, error) { return in.d.AfterTurn(ctx, "s1", 4) }},
			{"compact's run", func() (Result, error) { return d.run(ctx, "s1", runOpts{force: true, urgent: true}) }},
			{"idle", func() (Result, error) { return d.Idle(ctx, "s1") }},
		} {
			res, err := a.run()
			inside = append(inside, attempt{a.name, res, err})
		}
		// The last batched segment arrives now: it waits out of order, and
		// releasing the batched run's references leaves the urgent run's.
		for i := range held {
			if i == 2 {
				in.deliver(t, held[i], creds[i])
			} else {
				in.w.Fail(ctx, held[i], errors.New("batch row expired"))
			}
		}
		inside = append(inside, attempt{name: "guarded"})
		if !e.guarded("s1") {
			inside[len(inside)-1].err = errors.New("guard gone while the urgent run is in progress")
		}
		res, err := d.AfterTurn(ctx, "s1", 2)
		inside = append(inside, attempt{"layer 2 after the batch", res, err})
	}}})

	res, err := d.AfterTurn(ctx, "s1", 2)
	// Round 1 planned 0-29, 30-59, 60-69; the batched 60-64 came in first,
	// so 60-69 overlapped and was dropped, and round 2 distilled 65-69.
	if err != nil || res != (Result{Joined: true, Rounds: 2, Segments: 4, Messages: 75, Distilled: 65}) {
		t.Fatalf("urgent AfterTurn = %+v, %v", res, err)
	}
	if len(inside) != 6 {
		t.Fatalf("hook ran %d attempts", len(inside))
	}
	for _, a := range inside {
		if a.name == "guarded" {
			if a.err != nil {
				t.Error(a.err)
			}
			continue
		}
		if a.err != nil || a.res != (Result{Busy: true}) {
			t.Errorf("%s during the urgent run = %+v, %v; want busy", a.name, a.res, a.err)
		}
	}
	const want = "0-29:0:- distilled 30 messages|30-59:0:- distilled 30 messages|60-64:0:- distilled 5 messages|65-69:0:- distilled 5 messages"
	if got := e.rowSpans(t, "s1"); got != want || e.mark(t, "s1") != 70 || e.undistilled(t, "s1") != 0 || e.guarded("s1") {
		t.Errorf("rows %s, mark %d, undistilled %d, guarded %v", got, e.mark(t, "s1"), e.undistilled(t, "s1"), e.guarded("s1"))
	}
	if in.q.Len() != 0 {
		t.Errorf("%d calls queued", in.q.Len())
	}
}

// Meta-distillation follows the same rule: an urgent run beside a
// batched meta call folds the rows itself; the late batched meta result
// finds its rows archived and is dropped whole.
func TestUrgentMetaBesideBatchedMeta(t *testing.T) {
	e := newEnv(t)
	in := e.instance(t, auth.Credential{}, true)
	seed(t, e, "s1")
	if res, err := in.d.Idle(ctx, "s1"); err != nil || res != (Result{Meta: true}) {
		t.Fatalf("Idle = %+v, %v", res, err)
	}
	held, creds := in.q.Take()
	if len(held) != 1 || held[0].Kind != KindMeta || !e.guarded("s1") {
		t.Fatalf("held %+v", held)
	}

	e.add(t, "s1", 5, apiKey)
	res, err := in.d.AfterTurn(ctx, "s1", 2)
	if err != nil || res != (Result{Joined: true, Rounds: 1, Segments: 1, Messages: 5, Distilled: 5, Meta: true}) {
		t.Fatalf("urgent AfterTurn = %+v, %v", res, err)
	}
	rows := e.rows(t, "s1")
	if len(rows) != 1 || rows[0].Generation != 1 || rows[0].First != 0 || rows[0].Last != 54 ||
		len(rows[0].SourceIDs) != 5 || rows[0].SourceIDs[0] != "m50" { // seed's rows carry no ids
		t.Fatalf("rows after the urgent meta: %+v", rows)
	}
	if !e.guarded("s1") {
		t.Fatal("guard released while the batched meta call is out")
	}

	in.deliver(t, held[0], creds[0])
	after := e.rows(t, "s1")
	archived, err := ArchivedRows(ctx, e.st, "s1")
	if len(after) != 1 || after[0].ID != rows[0].ID || err != nil || len(archived) != 11 || e.guarded("s1") {
		t.Errorf("after the batched meta: rows %+v, %d archived (%v), guarded %v", after, len(archived), err, e.guarded("s1"))
	}
	ids := map[string]bool{}
	for _, r := range archived {
		if ids[r.ID] || r.Generation != 0 {
			t.Errorf("archived row %+v twice or not gen-0", r)
		}
		ids[r.ID] = true
	}
	if in.q.Len() != 0 || len(e.requests()) != 3 {
		t.Errorf("%d queued, %d requests; want 0, 3", in.q.Len(), len(e.requests()))
	}
}
