package knowledge

import (
	"context"
	"testing"
	"time"

	"github.com/caddy-lore/caddy-lore/internal/storetest"
	"github.com/caddy-lore/caddy-lore/store"
)

func TestEntriesStore(t *testing.T) {
	ctx := context.Background()
	cfg, raw := storetest.Config(t, "knowledge")
	st := storetest.Open(t, cfg)
	ns, proj := "0123456789abcdef0123456789abcdef", "p0123456789abcdef"
	key := st.Key("kn:{" + ns + "." + proj + "}:entries")
	put := []Entry{
		{ID: "a", Project: proj, Title: "A", Content: "a", Confidence: 0.5, UpdatedAt: 2},
		{ID: "b", Project: proj, Title: "B", Content: "b", Confidence: 1, UpdatedAt: 1},
		{ID: "c", Project: proj, Title: "C", Content: "c", Confidence: 0.5, UpdatedAt: 3},
	}
	if err := Apply(ctx, st, ns, proj, Change{Put: put}, time.Hour); err != nil {
		t.Fatal(err)
	}
	got, err := Entries(ctx, st, ns, proj)
	if err != nil || len(got) != 3 || got[0].ID != "b" || got[1].ID != "c" || got[2].ID != "a" {
		t.Fatalf("entries (by confidence, then newest) = %+v, %v", got, err)
	}
	if ttl := raw.TTL(ctx, key).Val(); ttl <= 0 || ttl > time.Hour {
		t.Fatalf("ttl %v", ttl)
	}
	if err := Apply(ctx, st, ns, proj, Change{Delete: []string{"a", "missing"}}, 2*time.Hour); err != nil {
		t.Fatal(err)
	}
	if got, _ := Entries(ctx, st, ns, proj); len(got) != 2 {
		t.Fatalf("after delete %d entries", len(got))
	}
	if ttl := raw.TTL(ctx, key).Val(); ttl <= time.Hour {
		t.Fatalf("an empty change must refresh the TTL: %v", ttl)
	}
	if other, _ := Entries(ctx, st, "ffffffffffffffffffffffffffffffff", proj); len(other) != 0 {
		t.Fatal("another namespace sees the entries")
	}
	if _, err := Entries(ctx, st, ns, "bad}project"); err != store.ErrInvalidID {
		t.Fatalf("bad project: %v", err)
	}
	// One read gives a project's entries and the namespace's global ones.
	if err := Apply(ctx, st, ns, GlobalProject, Change{Put: []Entry{{ID: "g", Project: GlobalProject, Title: "G", Content: "g", Confidence: 1}}}, time.Hour); err != nil {
		t.Fatal(err)
	}
	own, global, err := readScopes(ctx, st, ns, proj)
	if err != nil || len(own) != 2 || len(global) != 1 || global[0].ID != "g" {
		t.Fatalf("scopes = %+v / %+v, %v", own, global, err)
	}
}

// The consolidation guard is held by one token at a time and released only
// by its holder.
func TestConsolidationGuard(t *testing.T) {
	ctx := context.Background()
	cfg, _ := storetest.Config(t, "knowledge")
	st := storetest.Open(t, cfg)
	ns, proj := "0123456789abcdef0123456789abcdef", "p0123456789abcdef"
	if ok, err := acquireConsolidation(ctx, st, ns, proj, "t1", time.Minute); err != nil || !ok {
		t.Fatalf("first acquire: %v %v", ok, err)
	}
	if ok, _ := acquireConsolidation(ctx, st, ns, proj, "t2", time.Minute); ok {
		t.Fatal("a second holder took the guard")
	}
	if err := releaseConsolidation(ctx, st, ns, proj, "t2"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := acquireConsolidation(ctx, st, ns, proj, "t3", time.Minute); ok {
		t.Fatal("a non-holder released the guard")
	}
	if err := releaseConsolidation(ctx, st, ns, proj, "t1"); err != nil {
		t.Fatal(err)
	}
	if ok, err := acquireConsolidation(ctx, st, ns, proj, "t3", time.Minute); err != nil || !ok {
		t.Fatalf("after release: %v %v", ok, err)
	}
	if _, err := acquireConsolidation(ctx, st, "bad}ns", proj, "t", time.Minute); err != store.ErrInvalidID {
		t.Fatalf("bad namespace: %v", err)
	}
}
