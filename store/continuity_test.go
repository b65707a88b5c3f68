package store

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// CopyHistory carries the messages, distillations and watermarks, and nothing
// else: no credential, state, batch usage or guards
// (docs/sessions-and-identity.md, Continuity by proof of history).
func TestCopyHistory(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend, s *Store) {
		ctx := context.Background()
		p := b.prefix()
		k := func(sid, rest string) string { return p + "s:{" + sid + "}:" + rest }
		r := b.raw
		r.RPush(ctx, k("OLD", "msgs"), `{"id":"a","pos":0}`, `{"id":"b","pos":1}`)
		r.Set(ctx, k("OLD", "dist:mark"), "2", 0)
		r.Set(ctx, k("OLD", "kn:mark"), "1", 0)
		r.HSet(ctx, k("OLD", "dist:rows"), "r1", `{"id":"r1"}`)
		r.HSet(ctx, k("OLD", "dist:archive"), "r0", `{"id":"r0"}`)
		r.HSet(ctx, k("OLD", "dist:ahead"), "r9", `{"id":"r9"}`)
		r.ZAdd(ctx, k("OLD", "dist:ahead:idx"), redis.Z{Score: 5, Member: "5:6:r9"})
		r.Set(ctx, k("OLD", "cred"), "sealed", 0)
		r.HSet(ctx, k("OLD", "state"), "id", "OLD", "ltm", "knowledge")
		r.HSet(ctx, k("OLD", "dist:guard"), "h:x", "1")
		r.Set(ctx, k("OLD", "kn:guard"), "x", 0)
		r.HSet(ctx, k("OLD", "batch"), "in", "5")

		if err := s.CopyHistory(ctx, "OLD", "NEW", time.Hour); err != nil {
			t.Fatal(err)
		}
		if got := r.LRange(ctx, k("NEW", "msgs"), 0, -1).Val(); strings.Join(got, "|") != `{"id":"a","pos":0}|{"id":"b","pos":1}` {
			t.Fatalf("messages %v", got)
		}
		if r.Get(ctx, k("NEW", "dist:mark")).Val() != "2" || r.Get(ctx, k("NEW", "kn:mark")).Val() != "1" {
			t.Fatal("watermarks not copied")
		}
		for _, h := range []string{"dist:rows", "dist:archive", "dist:ahead"} {
			if len(r.HGetAll(ctx, k("NEW", h)).Val()) != 1 {
				t.Fatalf("%s not copied", h)
			}
		}
		if z := r.ZRangeWithScores(ctx, k("NEW", "dist:ahead:idx"), 0, -1).Val(); len(z) != 1 || z[0].Score != 5 {
			t.Fatalf("ahead index %v", z)
		}
		for _, rest := range []string{"cred", "state", "dist:guard", "kn:guard", "batch"} {
			if r.Exists(ctx, k("NEW", rest)).Val() != 0 {
				t.Fatalf("%s was copied", rest)
			}
		}
		for _, rest := range []string{"msgs", "dist:mark", "dist:rows", "dist:ahead:idx"} {
			if ttl := r.TTL(ctx, k("NEW", rest)).Val(); ttl <= 0 || ttl > time.Hour {
				t.Fatalf("%s TTL %v", rest, ttl)
			}
		}
		if s.CopyHistory(ctx, "OLD", "OLD", time.Hour) == nil || s.CopyHistory(ctx, "O{x}", "NEW", time.Hour) == nil {
			t.Fatal("bad ids accepted")
		}
	})
}

// LoadTurn reads the origin index CommitTurn writes, and DeleteSession
// removes the session from it.
func TestOriginIndex(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend, s *Store) {
		ctx := context.Background()
		sess := &Session{ID: "S1", Namespace: "ns", Lineage: "lin1", Origin: "orig1", MessageCount: 3}
		if err := s.CommitTurn(ctx, Turn{Session: sess}); err != nil {
			t.Fatal(err)
		}
		load, err := s.LoadTurn(ctx, "lin2", "orig1", "")
		if got := load.Origins; err != nil || got["S1"] != 3 || len(got) != 1 {
			t.Fatalf("Origins = %v, %v", got, err)
		}
		loaded, _ := s.LoadSession(ctx, "S1")
		if loaded.Origin != "orig1" {
			t.Fatalf("origin not stored: %q", loaded.Origin)
		}
		if _, err := s.DeleteSession(ctx, "S1"); err != nil {
			t.Fatal(err)
		}
		if load, _ := s.LoadTurn(ctx, "lin2", "orig1", ""); len(load.Origins) != 0 {
			t.Fatalf("deleted session still indexed: %v", load.Origins)
		}
	})
}
