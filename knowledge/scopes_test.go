package knowledge

import (
	"context"
	"strconv"
	"testing"
	"time"
)

func TestScopeCache(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	var c scopeCache
	put := func(id string) {
		if err := Apply(ctx, e.st, nsA, projA, Change{Put: []Entry{{ID: id, Project: projA, Title: id, Content: "c", Confidence: 1}}}, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	count := func(at time.Time) int {
		own, _, err := c.get(ctx, e.st, nsA, projA, at)
		if err != nil {
			t.Fatal(err)
		}
		return len(own)
	}
	put("a")
	if n := count(t0); n != 1 {
		t.Fatalf("first read %d", n)
	}
	put("b")
	if n := count(t0.Add(scopeTTL - time.Second)); n != 1 {
		t.Fatalf("cached read %d, want the cached 1", n)
	}
	if n := count(t0.Add(scopeTTL)); n != 2 {
		t.Fatalf("read after the TTL %d, want 2", n)
	}
	put("c")
	c.drop(nsA, projA)
	if n := count(t0.Add(scopeTTL)); n != 3 {
		t.Fatalf("read after drop %d, want 3", n)
	}
	for i := range 2 * scopeEntries {
		if _, _, err := c.get(ctx, e.st, nsA, "p"+strconv.Itoa(i), t0); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(c.entries); n > scopeEntries {
		t.Fatalf("%d cached scopes, bound %d", n, scopeEntries)
	}
}
