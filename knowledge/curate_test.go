package knowledge

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// docs/knowledge-and-recall.md, Long-term knowledge: Curation (with the fix for the prompt cache, see Block): the
// curator is scheduled when turnsSinceCuration reaches 3; on success the
// counter is reset and the new knowledge reaches the session's system
// prompt at its next cold-cache moment.
func TestCuratorEveryThreeTurns(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	block := func(fresh bool) string {
		sess := e.session(t, "SA")
		b, err := e.c.Block(ctx, sess, 8450, func() string { return "how do we build and run the tests" }, fresh)
		if err != nil {
			t.Fatal(err)
		}
		if sess.KnowledgeChanged { // as the turn's commit stores it
			e.raw.HSet(ctx, e.pfx+"s:{SA}:state", "ltm", b)
		}
		return b
	}
	if b := block(false); b != "" {
		t.Fatalf("block before any knowledge = %q", b)
	}
	for i, text := range []string{"hello", "the build: [[remember:Build command=Run make ci before every push]]"} {
		e.turn(t, "SA", text)
		if err := e.c.AfterTurn(ctx, "SA", e.session(t, "SA").TurnsSinceCuration); err != nil {
			t.Fatal(err)
		}
		if e.q.Len() != 0 {
			t.Fatalf("curation queued after %d turns", i+1)
		}
	}
	e.turn(t, "SA", "third")
	if got := e.session(t, "SA").TurnsSinceCuration; got != 3 {
		t.Fatalf("turns since curation = %d, want 3", got)
	}
	if err := e.c.AfterTurn(ctx, "SA", 3); err != nil {
		t.Fatal(err)
	}
	if e.q.Len() != 1 || !e.guarded("SA") {
		t.Fatalf("queued %d, guarded %v; want 1 curation in flight", e.q.Len(), e.guarded("SA"))
	}
	// In flight: a fourth turn schedules nothing more, and is not lost from
	// the counter when the curation lands.
	e.turn(t, "SA", "fourth")
	if err := e.c.AfterTurn(ctx, "SA", 4); err != nil || e.q.Len() != 1 {
		t.Fatalf("second curation while one is in flight: queued %d, %v", e.q.Len(), err)
	}
	calls, creds := e.q.Take()
	if calls[0].Kind != KindCurate || calls[0].System != CuratorSystem || creds[0].Value != keyA {
		t.Fatalf("call %+v with %s", calls[0], creds[0].Value)
	}
	if !strings.Contains(calls[0].User, "[user] the build: [[remember:") || strings.Contains(calls[0].User, "fourth") {
		t.Fatalf("curator saw the wrong messages:\n%s", calls[0].User)
	}
	if err := e.q.Enqueue(ctx, calls[0], creds[0]); err != nil {
		t.Fatal(err)
	}
	if n := e.drain(t); n != 1 {
		t.Fatalf("delivered %d", n)
	}
	got := e.entries(t, nsA, projA)
	if len(got) != 1 || got[0].Title != "Build command" || got[0].Content != "Run make ci before every push" ||
		got[0].Confidence != 1 || got[0].Category != "pattern" || got[0].Project != projA {
		t.Fatalf("entries = %+v", got)
	}
	if n := e.session(t, "SA").TurnsSinceCuration; n != 1 {
		t.Fatalf("turns since curation after success = %d, want 1 (3 covered, the fourth kept)", n)
	}
	if mark, _ := CurationMark(ctx, e.st, "SA"); mark != 6 {
		t.Fatalf("curation mark = %d, want 6", mark)
	}
	if e.guarded("SA") {
		t.Fatal("guard still held after the curation was applied")
	}
	// The handler's figure (4, read before the curation landed) is stale:
	// Redis says 1, so nothing is due.
	if err := e.c.AfterTurn(ctx, "SA", 4); err != nil || e.q.Len() != 0 {
		t.Fatalf("a stale counter scheduled a curation: queued %d, %v", e.q.Len(), err)
	}
	if b := block(false); b != "" {
		t.Fatalf("the block changed mid-session (a full prompt-cache rewrite): %q", b)
	}
	want := "## Long-term Knowledge\n\n### Pattern\n- **Build command**: Run make ci before every push"
	if b := block(true); b != want {
		t.Fatalf("fresh block =\n%q\nwant\n%q", b, want)
	}
	if b := block(false); b != want {
		t.Fatalf("the fresh block was not kept: %q", b)
	}
	// A second session of the same person and project gets it at once; the
	// same project under another credential never does.
	if b, _ := e.c.Block(ctx, e.session(t, "SA2"), 8450, func() string { return "build" }, false); b != want {
		t.Fatalf("sibling session block = %q", b)
	}
	if b, _ := e.c.Block(ctx, e.session(t, "SB"), 8450, func() string { return "build" }, false); b != "" {
		t.Fatalf("another credential's session sees the knowledge: %q", b)
	}
}

// docs/knowledge-and-recall.md, Long-term knowledge: Curation: a 1,500-char create is stored as 1,200 chars plus
// the note; a create whose title matches an entry case-insensitively
// updates that entry.
func TestCurationTruncatesAndDedupes(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	long := strings.Repeat("x", 1500)
	e.turn(t, "SA", "[[remember:Deploy steps="+long+"]]")
	e.turn(t, "SA", "two")
	if ok, err := e.c.curate(ctx, "SA", false); !ok || err != nil {
		t.Fatalf("curate = %v, %v", ok, err)
	}
	e.drain(t)
	got := e.entries(t, nsA, projA)
	if len(got) != 1 || got[0].Content != strings.Repeat("x", 1200)+" [truncated — entry too long]" {
		t.Fatalf("entries = %+v", got)
	}
	if n := len([]rune(got[0].Content)); n != 1200+len([]rune(" [truncated — entry too long]")) {
		t.Fatalf("stored %d chars", n)
	}
	id := got[0].ID
	e.turn(t, "SA", "[[remember:DEPLOY STEPS=ship with make deploy]]")
	e.turn(t, "SA", "four")
	if ok, err := e.c.curate(ctx, "SA", false); !ok || err != nil {
		t.Fatalf("curate = %v, %v", ok, err)
	}
	e.drain(t)
	got = e.entries(t, nsA, projA)
	if len(got) != 1 || got[0].ID != id || got[0].Content != "ship with make deploy" || got[0].Title != "Deploy steps" {
		t.Fatalf("dedupe by title: %+v", got)
	}
}

func TestCurationNeedsThreeNewMessages(t *testing.T) {
	e := newEnv(t)
	e.turn(t, "SA", "only one turn, two messages")
	if ok, err := e.c.curate(context.Background(), "SA", false); ok || err != nil || e.q.Len() != 0 {
		t.Fatalf("curate = %v, %v, queued %d", ok, err, e.q.Len())
	}
	if e.guarded("SA") {
		t.Fatal("guard left held by a skipped curation")
	}
}

// A failed call leaves everything for the next trigger: the guard is
// released, the counter and the mark stay.
func TestCurationFailureLeavesWorkForLater(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for range 3 {
		e.turn(t, "SA", "a turn")
	}
	if ok, _ := e.c.curate(ctx, "SA", false); !ok {
		t.Fatal("not submitted")
	}
	calls, _ := e.q.Take()
	e.w.Fail(ctx, calls[0], errors.New("batch row errored"))
	if e.guarded("SA") {
		t.Fatal("guard still held")
	}
	if n := e.session(t, "SA").TurnsSinceCuration; n != 3 {
		t.Fatalf("counter = %d, want 3", n)
	}
	if mark, _ := CurationMark(ctx, e.st, "SA"); mark != 0 {
		t.Fatalf("mark = %d, want 0", mark)
	}
	if ok, _ := e.c.curate(ctx, "SA", false); !ok {
		t.Fatal("the next trigger could not curate")
	}
}

// Idle runs a due curation and consolidates a project with more than 25
// live entries down to what the worker keeps (update/delete only).
func TestIdleCuratesAndConsolidates(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	var put []Entry
	for i := range 27 {
		put = append(put, Entry{ID: newID(t0) + string(rune('a'+i%26)), Project: projA, Category: "gotcha",
			Title: "entry " + string(rune('a'+i)), Content: "content", Confidence: 0.9, UpdatedAt: int64(1000 - i)})
	}
	if err := Apply(ctx, e.st, nsA, projA, Change{Put: put}, 0); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		e.turn(t, "SA", "a turn")
	}
	if err := e.c.Idle(ctx, "SA"); err != nil {
		t.Fatal(err)
	}
	calls, creds := e.q.Take()
	if len(calls) != 2 || calls[0].Kind != KindCurate || calls[1].Kind != KindConsolidate {
		t.Fatalf("idle queued %d calls", len(calls))
	}
	if !strings.Contains(calls[1].User, "The project has 27 knowledge entries; bring them down to at most 20.") {
		t.Fatalf("consolidation prompt:\n%s", calls[1].User)
	}
	// A second idle while the consolidation is in flight queues none.
	if err := e.c.Idle(ctx, "SA"); err != nil || e.q.Len() != 0 {
		t.Fatalf("second idle queued %d, %v", e.q.Len(), err)
	}
	for i := range calls {
		if err := e.q.Enqueue(ctx, calls[i], creds[i]); err != nil {
			t.Fatal(err)
		}
	}
	e.drain(t)
	if got := e.entries(t, nsA, projA); len(got) != 20 {
		t.Fatalf("after consolidation %d entries, want 20", len(got))
	}
	if n := e.session(t, "SA").TurnsSinceCuration; n != 0 {
		t.Fatalf("counter after idle curation = %d", n)
	}
}
