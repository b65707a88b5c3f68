package knowledge

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/caddy-lore/caddy-lore/internal/storetest"
	"github.com/caddy-lore/caddy-lore/store"
)

// The curation watermark only moves forward, the turns since curation lose
// what a curation covered without going below 0, a session that is gone
// gets no keys, the guard has one holder at a time, and the session's
// deletion removes the curation keys with it; on miniredis and a real
// Redis (the script must behave the same on both).
func TestCurationBookkeeping(t *testing.T) {
	storetest.EachBackend(t, "curation", func(t *testing.T, b storetest.Backend, s *store.Store) {
		ctx := context.Background()
		sess := &store.Session{ID: "S1", Namespace: nsA, Fingerprint: "a1b2c3d4e5f6", Lineage: "lin0123456789abcdef", Project: projA}
		two := []store.StoredMessage{
			{ID: "m1", Role: "user", Position: 0, Content: json.RawMessage(`"q"`)},
			{ID: "m2", Role: "assistant", Position: 1, Content: json.RawMessage(`[{"type":"text","text":"a"}]`)},
		}
		for range 4 {
			if err := s.CommitTurn(ctx, store.Turn{Session: sess, Messages: two}); err != nil {
				t.Fatal(err)
			}
		}
		if got, _ := s.LoadSession(ctx, "S1"); got.TurnsSinceCuration != 4 {
			t.Fatalf("counter after 4 commits = %d", got.TurnsSinceCuration)
		}
		if err := CurationDone(ctx, s, "S1", 6, 3); err != nil {
			t.Fatal(err)
		}
		got, _ := s.LoadSession(ctx, "S1")
		if mark, _ := CurationMark(ctx, s, "S1"); got.TurnsSinceCuration != 1 || mark != 6 {
			t.Fatalf("counter %d mark %d, want 1 and 6", got.TurnsSinceCuration, mark)
		}
		// The mark never moves back; the counter never goes below 0.
		if err := CurationDone(ctx, s, "S1", 2, 5); err != nil {
			t.Fatal(err)
		}
		got, _ = s.LoadSession(ctx, "S1")
		if mark, _ := CurationMark(ctx, s, "S1"); got.TurnsSinceCuration != 0 || mark != 6 {
			t.Fatalf("counter %d mark %d, want 0 and 6", got.TurnsSinceCuration, mark)
		}
		markKey := s.SessionKey("S1", store.CurationMarkKey)
		if ttl := b.Raw.PTTL(ctx, markKey).Val(); ttl <= 0 {
			t.Fatalf("mark without the session's TTL: %v", ttl)
		}
		// A session that is gone gets no keys.
		if err := CurationDone(ctx, s, "GONE", 3, 3); err != nil ||
			b.Raw.Exists(ctx, s.SessionKey("GONE", store.CurationMarkKey), s.SessionKey("GONE", store.StateKey)).Val() != 0 {
			t.Fatalf("keys created for a missing session: %v", err)
		}
		if n, _ := s.MessageLen(ctx, "S1"); n != 8 {
			t.Fatalf("message len %d", n)
		}

		ok, err := AcquireCurationGuard(ctx, s, "S1", "t1", time.Minute)
		if !ok || err != nil {
			t.Fatal("guard not taken", err)
		}
		if ok, _ := AcquireCurationGuard(ctx, s, "S1", "t2", time.Minute); ok {
			t.Fatal("guard taken twice")
		}
		_ = ReleaseCurationGuard(ctx, s, "S1", "t2") // not the holder: no effect
		if ok, _ := AcquireCurationGuard(ctx, s, "S1", "t3", time.Minute); ok {
			t.Fatal("a foreign token released the guard")
		}
		_ = ReleaseCurationGuard(ctx, s, "S1", "t1")
		if ok, _ := AcquireCurationGuard(ctx, s, "S1", "t4", time.Minute); !ok {
			t.Fatal("guard not released by its holder")
		}

		// The knowledge block rides with the session, written only
		// when it changed.
		if got, _ := s.LoadSession(ctx, "S1"); got.KnowledgeChosen {
			t.Fatal("a block before any was chosen")
		}
		sess.Knowledge, sess.KnowledgeChanged = "", true // chosen: none
		if err := s.CommitTurn(ctx, store.Turn{Session: sess}); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.LoadSession(ctx, "S1"); !got.KnowledgeChosen || got.Knowledge != "" {
			t.Fatalf("empty choice not kept: %+v", got)
		}
		sess.Knowledge, sess.KnowledgeChanged = "## Long-term Knowledge", true
		_ = s.CommitTurn(ctx, store.Turn{Session: sess})
		sess.Knowledge, sess.KnowledgeChanged = "not written", false
		_ = s.CommitTurn(ctx, store.Turn{Session: sess})
		if got, _ := s.LoadSession(ctx, "S1"); got.Knowledge != "## Long-term Knowledge" {
			t.Fatalf("block %q", got.Knowledge)
		}
		if ok, err := s.DeleteSession(ctx, "S1"); !ok || err != nil {
			t.Fatal(err)
		}
		if n := b.Raw.Exists(ctx, markKey, s.SessionKey("S1", store.CurationGuardKey), s.SessionKey("S1", store.StateKey)).Val(); n != 0 {
			t.Fatalf("%d knowledge keys survive DeleteSession", n)
		}
	})
}
