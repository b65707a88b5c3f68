package store

import (
	"context"
	"testing"
	"time"
)

func TestCurationBookkeeping(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			s := open(t, b.cfg)
			sess := sampleSession("S1")
			for range 4 {
				if err := s.CommitTurn(ctx, Turn{Session: sess, Messages: sampleMessages(0, 2)}); err != nil {
					t.Fatal(err)
				}
			}
			if got, _ := s.LoadSession(ctx, "S1"); got.TurnsSinceCuration != 4 {
				t.Fatalf("counter after 4 commits = %d", got.TurnsSinceCuration)
			}
			if err := s.CurationDone(ctx, "S1", 6, 3); err != nil {
				t.Fatal(err)
			}
			got, _ := s.LoadSession(ctx, "S1")
			if mark, _ := s.CurationMark(ctx, "S1"); got.TurnsSinceCuration != 1 || mark != 6 {
				t.Fatalf("counter %d mark %d, want 1 and 6", got.TurnsSinceCuration, mark)
			}
			// The mark never moves back; the counter never goes below 0.
			if err := s.CurationDone(ctx, "S1", 2, 5); err != nil {
				t.Fatal(err)
			}
			got, _ = s.LoadSession(ctx, "S1")
			if mark, _ := s.CurationMark(ctx, "S1"); got.TurnsSinceCuration != 0 || mark != 6 {
				t.Fatalf("counter %d mark %d, want 0 and 6", got.TurnsSinceCuration, mark)
			}
			if ttl := b.raw.PTTL(ctx, s.keys.knMark("S1")).Val(); ttl <= 0 {
				t.Fatalf("mark without the session's TTL: %v", ttl)
			}
			// A session that is gone gets no keys.
			if err := s.CurationDone(ctx, "GONE", 3, 3); err != nil || b.raw.Exists(ctx, s.keys.knMark("GONE"), s.keys.state("GONE")).Val() != 0 {
				t.Fatalf("keys created for a missing session: %v", err)
			}
			if n, _ := s.MessageLen(ctx, "S1"); n != 8 {
				t.Fatalf("message len %d", n)
			}

			ok, err := s.AcquireCurationGuard(ctx, "S1", "t1", time.Minute)
			if !ok || err != nil {
				t.Fatal("guard not taken", err)
			}
			if ok, _ := s.AcquireCurationGuard(ctx, "S1", "t2", time.Minute); ok {
				t.Fatal("guard taken twice")
			}
			_ = s.ReleaseCurationGuard(ctx, "S1", "t2") // not the holder: no effect
			if ok, _ := s.AcquireCurationGuard(ctx, "S1", "t3", time.Minute); ok {
				t.Fatal("a foreign token released the guard")
			}
			_ = s.ReleaseCurationGuard(ctx, "S1", "t1")
			if ok, _ := s.AcquireCurationGuard(ctx, "S1", "t4", time.Minute); !ok {
				t.Fatal("guard not released by its holder")
			}

			// The knowledge block rides with the session, written only
			// when it changed.
			if got, _ := s.LoadSession(ctx, "S1"); got.KnowledgeChosen {
				t.Fatal("a block before any was chosen")
			}
			sess.Knowledge, sess.KnowledgeChanged = "", true // chosen: none
			if err := s.CommitTurn(ctx, Turn{Session: sess}); err != nil {
				t.Fatal(err)
			}
			if got, _ := s.LoadSession(ctx, "S1"); !got.KnowledgeChosen || got.Knowledge != "" {
				t.Fatalf("empty choice not kept: %+v", got)
			}
			sess.Knowledge, sess.KnowledgeChanged = "## Long-term Knowledge", true
			_ = s.CommitTurn(ctx, Turn{Session: sess})
			sess.Knowledge, sess.KnowledgeChanged = "not written", false
			_ = s.CommitTurn(ctx, Turn{Session: sess})
			if got, _ := s.LoadSession(ctx, "S1"); got.Knowledge != "## Long-term Knowledge" {
				t.Fatalf("block %q", got.Knowledge)
			}
			if ok, err := s.DeleteSession(ctx, "S1"); !ok || err != nil {
				t.Fatal(err)
			}
			if n := b.raw.Exists(ctx, s.keys.knMark("S1"), s.keys.knGuard("S1"), s.keys.state("S1")).Val(); n != 0 {
				t.Fatalf("%d knowledge keys survive DeleteSession", n)
			}
		})
	}
}
