package store

import (
	"context"
	"maps"
	"testing"
)

// LoadTurn reads the lineage and, for a hinted session, its state and live
// distillations in one round trip; a hint of a session that is gone, or no
// hint, still gives the lineage.
func TestLoadTurnOneRoundTrip(t *testing.T) {
	b := backends(t)[0]
	s := open(t, b.cfg)
	ctx := context.Background()
	sess := sampleSession("S1")
	if err := s.CommitTurn(ctx, Turn{Session: sess, Messages: sampleMessages(0, 3), Credential: []byte("c")}); err != nil {
		t.Fatal(err)
	}
	// A live row as package distill stores it (distill.StoreRow): store
	// reads it raw, distill decodes it.
	row := `{"id":"r1","gen":0,"obs":"obs","first":0,"last":1,"first_pos":0,"last_pos":1,"at":0}`
	if err := b.raw.HSet(ctx, s.SessionKey("S1", DistRowsKey), "r1", row).Err(); err != nil {
		t.Fatal(err)
	}
	want := b.raw.HGetAll(ctx, b.prefix()+"s:{S1}:dist:rows").Val()
	if len(want) != 1 || want["r1"] != row {
		t.Fatalf("rows %v", want)
	}

	hook := &roundTrips{}
	s.e.client.AddHook(hook)
	load, err := s.LoadTurn(ctx, sess.Lineage, "", "S1")
	if err != nil {
		t.Fatal(err)
	}
	if n := hook.n.Load(); n != 1 {
		t.Fatalf("LoadTurn took %d round trips, want 1", n)
	}
	if load.Candidates["S1"] != 3 || load.Hinted == nil || load.Hinted.ID != "S1" || load.Hinted.Namespace != sess.Namespace {
		t.Fatalf("load %+v", load)
	}
	if !maps.Equal(load.HintedRows, want) {
		t.Fatalf("hinted rows %v, want %v", load.HintedRows, want)
	}

	for _, hint := range []string{"", "GONE"} {
		load, err := s.LoadTurn(ctx, sess.Lineage, "", hint)
		if err != nil || load.Candidates["S1"] != 3 || load.Hinted != nil || load.HintedRows != nil {
			t.Fatalf("hint %q: %+v %v", hint, load, err)
		}
	}
	if _, err := s.LoadTurn(ctx, sess.Lineage, "", "bad id{"); err == nil {
		t.Fatal("a hint that is not an id was accepted")
	}
}

// CommitTurn answers the curation counter as its own increment left it: a
// curation that subtracted its turns after the turn read the session (the
// race behind one curation too many per 3 turns) is already accounted for.
func TestCommitTurnAnswersTheCurationCounter(t *testing.T) {
	b := backends(t)[0]
	s := open(t, b.cfg)
	ctx := context.Background()
	sess := sampleSession("S1")
	sess.TurnsSinceCuration = 0
	for i := range 3 {
		// the first commit (New) sets the counter, the others add to it
		if err := s.CommitTurn(ctx, Turn{Session: sess, New: i == 0, Messages: sampleMessages(0, 3), Credential: []byte("c")}); err != nil {
			t.Fatal(err)
		}
		if stored, err := b.raw.HGet(ctx, s.keys.state("S1"), CurationField).Int(); err != nil || stored != i+1 || sess.TurnsSinceCuration != i+1 {
			t.Fatalf("commit %d: counter %d in Redis (%v), %d answered; want %d", i+1, stored, err, sess.TurnsSinceCuration, i+1)
		}
	}
	if sess.TurnsSinceCuration != 3 {
		t.Fatalf("after 3 commits the counter is %d, want 3", sess.TurnsSinceCuration)
	}
	read, err := s.LoadSession(ctx, "S1") // the next turn reads the session ...
	if err != nil || read.TurnsSinceCuration != 3 {
		t.Fatalf("read %+v %v", read, err)
	}
	// ... a curation of 3 turns ends (knowledge.CurationDone subtracts them) ...
	if err := b.raw.HIncrBy(ctx, s.keys.state("S1"), CurationField, -3).Err(); err != nil {
		t.Fatal(err)
	}
	if err := s.CommitTurn(ctx, Turn{Session: read}); err != nil { // ... and the turn is stored
		t.Fatal(err)
	}
	if read.TurnsSinceCuration != 1 {
		t.Fatalf("the commit answered %d turns since curation, want 1 (the read said 3)", read.TurnsSinceCuration)
	}
}
