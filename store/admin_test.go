package store

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

func TestListAndDeleteSessions(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend, s *Store) {
		ctx := context.Background()
		for i := range 7 {
			sess := sampleSession(fmt.Sprintf("L%d", i))
			if err := s.CommitTurn(ctx, Turn{Session: sess, Messages: sampleMessages(0, 2), Credential: []byte{1}}); err != nil {
				t.Fatal(err)
			}
		}
		// Page through everything with a small limit.
		seen := map[string]bool{}
		var cursor uint64
		for pages := 0; ; pages++ {
			page, next, err := s.ListSessions(ctx, cursor, 3)
			if err != nil || pages > 20 {
				t.Fatalf("ListSessions: %v (pages %d)", err, pages)
			}
			for _, sess := range page {
				seen[sess.ID] = true
			}
			if cursor = next; cursor == 0 {
				break
			}
		}
		if len(seen) != 7 {
			t.Fatalf("listed %v", seen)
		}

		if ok, err := s.DeleteSession(ctx, "L3"); !ok || err != nil {
			t.Fatalf("DeleteSession = %v, %v", ok, err)
		}
		if ok, err := s.DeleteSession(ctx, "L3"); ok || err != nil {
			t.Fatalf("second DeleteSession = %v, %v", ok, err)
		}
		if _, err := s.DeleteSession(ctx, "bad{id"); err != ErrInvalidID {
			t.Fatalf("invalid id: %v", err)
		}
		for _, k := range scanKeys(t, b.raw, b.prefix()) {
			if strings.Contains(k, "{L3}") {
				t.Fatalf("key %s left after delete", k)
			}
			if v, err := b.raw.HGetAll(ctx, k).Result(); err == nil {
				for f := range v {
					if f == "L3" {
						t.Fatalf("field L3 left in %s", k)
					}
				}
			}
			if _, err := b.raw.ZScore(ctx, k, "L3").Result(); err == nil {
				t.Fatalf("member L3 left in %s", k)
			}
		}
		page, _, err := s.ListSessions(ctx, 0, 0)
		if err != nil || len(page) != 6 {
			t.Fatalf("after delete: %d sessions, %v", len(page), err)
		}
	})
}
