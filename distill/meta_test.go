package distill

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddy-lore/caddy-lore/auth"
)

// docs/context-window.md, Distillation: with 10 live gen-0 rows and no prior meta, a run
// stores one generation-1 row and archives the 10 in the same script; a
// second round folds the first meta row and 10 new gen-0 rows into
// generation 2.
func TestMetaAtTen(t *testing.T) {
	e := newEnv(t)
	in := e.instance(t, auth.Credential{}, false)
	for i := 1; i <= 10; i++ {
		e.add(t, "s1", 5, apiKey)
		res, err := in.d.AfterTurn(ctx, "s1", 2)
		if err != nil || res.Meta != (i == 10) {
			t.Fatalf("run %d: %+v, %v", i, res, err)
		}
	}
	reqs := e.requests()
	if len(reqs) != 11 {
		t.Fatalf("%d requests, want 10 distillations and 1 meta", len(reqs))
	}
	sys, user := body(t, reqs[10])
	wantUser := "Consolidate these 10 segments, oldest first.\n\n" +
		strings.Repeat("Segment N:\n- distilled 5 messages\n\n---\n\n", 9) + "Segment N:\n- distilled 5 messages\n\nOutput only an <observations> block."
	for i := 1; i <= 10; i++ {
		wantUser = strings.Replace(wantUser, "Segment N:", "Segment "+strconv.Itoa(i)+":", 1)
	}
	if sys != ReflectorSystem || user != wantUser {
		t.Errorf("meta prompt: system %.40q…, user\n%s", sys, user)
	}
	rows := e.rows(t, "s1")
	if len(rows) != 1 || rows[0].Generation != 1 || rows[0].Observations != "- distilled 0 messages" ||
		rows[0].First != 0 || rows[0].Last != 49 || rows[0].LastPos != 49 || len(rows[0].SourceIDs) != 50 ||
		rows[0].SourceIDs[0] != "m0" || rows[0].SourceIDs[49] != "m49" {
		t.Fatalf("rows after the first meta: %+v", rows)
	}
	archived, err := ArchivedRows(ctx, e.st, "s1")
	if err != nil || len(archived) != 10 {
		t.Fatalf("%d archived, %v", len(archived), err)
	}
	for i, r := range archived {
		if r.Generation != 0 || !r.Archived || r.First != 5*i {
			t.Errorf("archived[%d] = %+v", i, r)
		}
	}

	// Ten more gen-0 rows: the meta row does not count towards the threshold.
	for i := 1; i <= 10; i++ {
		e.add(t, "s1", 5, apiKey)
		if res, err := in.d.AfterTurn(ctx, "s1", 2); err != nil || res.Meta != (i == 10) {
			t.Fatalf("second series, run %d: %+v, %v", i, res, err)
		}
	}
	_, user = body(t, e.requests()[21])
	if !strings.HasPrefix(user, "<previous-meta-summary>\n- distilled 0 messages\n</previous-meta-summary>\n\n"+
		"Update the summary above in place with these 10 new segments, oldest first.\n\nSegment 1:\n- distilled 5 messages\n\n---\n\n") {
		t.Errorf("anchored meta prompt: %.300q", user)
	}
	rows = e.rows(t, "s1")
	if len(rows) != 1 || rows[0].Generation != 2 || rows[0].First != 0 || rows[0].Last != 99 || len(rows[0].SourceIDs) != 100 {
		t.Fatalf("rows after the second meta: %+v", rows)
	}
	if archived, _ = ArchivedRows(ctx, e.st, "s1"); len(archived) != 21 || archived[0].Generation != 1 {
		t.Errorf("%d archived (first gen %d), want 21 with the generation-1 row first", len(archived), archived[0].Generation)
	}
	if e.guarded("s1") {
		t.Error("guard still held")
	}
}

// seed stores 10 gen-0 rows of 5 messages each for session sid.
func seed(t *testing.T, e *env, sid string) {
	t.Helper()
	e.add(t, sid, 50, apiKey)
	for i := 0; i < 10; i++ {
		row := Row{ID: "seed" + strconv.Itoa(i), Observations: "- seeded " + strconv.Itoa(i), First: 5 * i, Last: 5*i + 4}
		if out, _, err := StoreRow(ctx, e.st, sid, row); err != nil || out != RowStored {
			t.Fatalf("seed %d: %v, %v", i, out, err)
		}
	}
}

// The skipMeta gate (docs/context-window.md, Distillation): a post-turn run does not fold rows
// while the session's prompt cache is warm; once it is cold it does.
func TestSkipMetaGate(t *testing.T) {
	e := newEnv(t)
	in := e.instance(t, auth.Credential{}, true)
	seed(t, e, "s1")
	e.add(t, "s1", 30, apiKey) // last request now: warm
	if res, err := in.d.AfterTurn(ctx, "s1", 1); err != nil || res.Segments != 1 || res.Meta {
		t.Fatalf("AfterTurn = %+v, %v", res, err)
	}
	if n := in.drain(t); n != 1 || len(e.rows(t, "s1")) != 11 {
		t.Fatalf("warm cache: %d calls delivered, %d rows; want 1, 11 (no meta)", n, len(e.rows(t, "s1")))
	}

	e.add(t, "s1", 30, apiKey)
	e.advance(6 * time.Minute) // the cache went cold since that request
	if _, err := in.d.AfterTurn(ctx, "s1", 1); err != nil {
		t.Fatal(err)
	}
	calls, creds := in.q.Take()
	in.deliver(t, calls[0], creds[0])
	calls, creds = in.q.Take()
	if len(calls) != 1 || calls[0].Kind != KindMeta || calls[0].Urgent || creds[0] != apiKey {
		t.Fatalf("after the last result on a cold cache: queued %+v", calls)
	}
	in.deliver(t, calls[0], creds[0])
	rows := e.rows(t, "s1")
	if len(rows) != 1 || rows[0].Generation != 1 || rows[0].Last != 109 || e.guarded("s1") {
		t.Errorf("rows %+v, guarded %v", rows, e.guarded("s1"))
	}
}

// The gate holds only up to twice the threshold: a session that stays warm
// past the window (no urgent run) still folds its rows once 20 are live.
func TestSkipMetaGateBounded(t *testing.T) {
	e := newEnv(t)
	in := e.instance(t, auth.Credential{}, true)
	e.add(t, "s1", 95, apiKey) // last request now: warm
	for i := 0; i < 19; i++ {
		row := Row{ID: "seed" + strconv.Itoa(i), Observations: "- seeded " + strconv.Itoa(i), First: 5 * i, Last: 5*i + 4}
		if out, _, err := StoreRow(ctx, e.st, "s1", row); err != nil || out != RowStored {
			t.Fatalf("seed %d: %v, %v", i, out, err)
		}
	}
	e.add(t, "s1", 30, apiKey)
	if _, err := in.d.AfterTurn(ctx, "s1", 1); err != nil {
		t.Fatal(err)
	}
	calls, creds := in.q.Take()
	if len(calls) != 1 {
		t.Fatalf("want one distillation call for the 30 new messages, got %d", len(calls))
	}
	in.deliver(t, calls[0], creds[0]) // the 20th gen-0 row
	calls, _ = in.q.Take()
	if len(calls) != 1 || calls[0].Kind != KindMeta || calls[0].Urgent {
		t.Fatalf("warm cache with 20 gen-0 rows: queued %+v, want one non-urgent meta call", calls)
	}
}

// Idle allows meta-distillation whatever the cache (docs/context-window.md, Idle work and
// post-idle compaction), even with
// nothing to distil.
func TestIdleMeta(t *testing.T) {
	e := newEnv(t)
	in := e.instance(t, auth.Credential{}, true)
	seed(t, e, "s1") // last request now: warm
	res, err := in.d.Idle(ctx, "s1")
	if err != nil || res != (Result{Meta: true}) {
		t.Fatalf("Idle = %+v, %v", res, err)
	}
	if n := in.drain(t); n != 1 {
		t.Fatalf("%d calls delivered, want 1", n)
	}
	rows := e.rows(t, "s1")
	if len(rows) != 1 || rows[0].Generation != 1 || rows[0].First != 0 || rows[0].Last != 49 {
		t.Errorf("rows %+v", rows)
	}
}

// A meta result whose merged rows are no longer live is dropped whole.
func TestStaleMetaDropped(t *testing.T) {
	e := newEnv(t)
	in := e.instance(t, auth.Credential{}, true)
	seed(t, e, "s1")
	if _, err := in.d.Idle(ctx, "s1"); err != nil {
		t.Fatal(err)
	}
	calls, creds := in.q.Take()
	// Another meta folded the rows meanwhile.
	if ok, err := ReplaceWithMeta(ctx, e.st, "s1", Row{ID: "other", Generation: 1, Observations: "- other", Last: 49},
		[]string{"seed0", "seed1", "seed2", "seed3", "seed4", "seed5", "seed6", "seed7", "seed8", "seed9"}); !ok || err != nil {
		t.Fatal(ok, err)
	}
	in.deliver(t, calls[0], creds[0])
	rows := e.rows(t, "s1")
	if len(rows) != 1 || rows[0].ID != "other" || e.guarded("s1") {
		t.Errorf("rows %+v, guarded %v", rows, e.guarded("s1"))
	}
}
