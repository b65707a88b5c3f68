package usage

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/caddy-lore/caddy-lore/internal/storetest"
	"github.com/caddy-lore/caddy-lore/store"
)

func session(id, person string) *store.Session {
	return &store.Session{ID: id, Namespace: "0123456789abcdef0123456789abcdef", Fingerprint: "a1b2c3d4e5f6", Person: person,
		Lineage: "lin0123456789abcdef", LastRequest: time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)}
}

// The counters are written in the turn's own commit (store.Turn.Counters), in
// its MULTI on a single node, and by worker calls for the session's person.
func TestCountersPerDay(t *testing.T) {
	ctx := context.Background()
	cfg, raw := storetest.Config(t, "usage")
	st := storetest.Open(t, cfg)
	// Today's last minute and tomorrow's first, relative to the clock: the
	// days' counters expire 48 hours after each day began, by Redis's clock
	// (fixed dates made this test fail once they were two days old).
	day1 := time.Now().UTC().Truncate(24 * time.Hour).Add(24*time.Hour - time.Minute)
	day2 := day1.Add(2 * time.Minute)
	d1, d2 := day1.Format("2006-01-02"), day2.Format("2006-01-02")
	turn := Figures{Turns: 1, Input: 10, Output: 20, CacheRead: 30, CacheWrite: 40, CostMicroUSD: 500, CounterfactualMicroUSD: 900}
	for _, at := range []time.Time{day1, day1, day2} {
		rec := Record{At: at, Person: "alice", Model: "claude-sonnet-4-5", Figures: turn}
		if err := st.CommitTurn(ctx, store.Turn{Session: session("S1", "alice"), Counters: []store.Increments{Queue(st, rec, 48*time.Hour)}, Retention: 48 * time.Hour}); err != nil {
			t.Fatal(err)
		}
	}
	// A worker call is counted for the session's person, read from the session.
	worker := Figures{WorkerCalls: 1, WorkerBatchCalls: 1, WorkerInput: 100, WorkerOutput: 7, WorkerCostMicroUSD: 60}
	if err := AddWorker(ctx, st, "S1", Record{At: day2, Person: "ignored", Model: "claude-haiku-4-5", Figures: worker}, 48*time.Hour); err != nil {
		t.Fatal(err)
	}
	// A session without Person counts for its fingerprint; a missing one for "unknown".
	if err := st.CommitTurn(ctx, store.Turn{Session: session("S2", "")}); err != nil {
		t.Fatal(err)
	}
	for _, sid := range []string{"S2", "gone"} {
		if err := AddWorker(ctx, st, sid, Record{At: day2, Model: "m|x", Figures: worker}, 0); err != nil {
			t.Fatal(err)
		}
	}

	got, err := Read(ctx, st, day1, day2)
	if err != nil {
		t.Fatal(err)
	}
	twice := turn
	twice.Add(turn)
	want := []Entry{
		{Day: d1, Person: "alice", Model: "claude-sonnet-4-5", Figures: twice},
		{Day: d2, Person: "a1b2c3d4e5f6", Model: "m_x", Figures: worker},
		{Day: d2, Person: "alice", Model: "claude-haiku-4-5", Figures: worker},
		{Day: d2, Person: "alice", Model: "claude-sonnet-4-5", Figures: turn},
		{Day: d2, Person: "unknown", Model: "m_x", Figures: worker},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("usage =\n%+v\nwant\n%+v", got, want)
	}
	if got, _ := Read(ctx, st, day2, day2); len(got) != 4 {
		t.Fatalf("one day = %+v", got)
	}
	// Each day expires retention after it began.
	if at := raw.ExpireTime(ctx, st.Key("usage:{"+d1+"}")).Val(); at != time.Duration(day1.Truncate(24*time.Hour).Add(48*time.Hour).Unix())*time.Second {
		t.Errorf("expiry of day 1 = %v", at)
	}
}

// A turn with no figures to add (all zero) still sets the day's expiry and
// writes nothing else.
func TestQueueNothingToCount(t *testing.T) {
	ctx := context.Background()
	cfg, raw := storetest.Config(t, "usage")
	st := storetest.Open(t, cfg)
	at := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	if err := st.CommitTurn(ctx, store.Turn{Session: session("S1", "bob"), Counters: []store.Increments{Queue(st, Record{At: at, Person: "bob"}, time.Hour)}}); err != nil {
		t.Fatal(err)
	}
	if n := raw.HLen(ctx, st.Key("usage:{2026-12-06}")).Val(); n != 0 {
		t.Fatalf("%d counters written for nothing", n)
	}
}

func TestReadRange(t *testing.T) {
	cfg, _ := storetest.Config(t, "usage")
	st := storetest.Open(t, cfg)
	d := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, until := range []time.Time{d.Add(-time.Hour), d.AddDate(0, 0, MaxDays)} {
		if _, err := Read(context.Background(), st, d, until); err != ErrRange {
			t.Errorf("Read(%v) err = %v", until, err)
		}
	}
	if got, err := Read(context.Background(), st, d, d.AddDate(0, 0, MaxDays-1)); err != nil || len(got) != 0 {
		t.Errorf("empty range = %v, %v", got, err)
	}
}

func TestExpiry(t *testing.T) {
	day := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if got := expiry(day, day.Add(time.Hour), 720*time.Hour); !got.Equal(day.Add(720 * time.Hour)) {
		t.Errorf("long retention: %v", got)
	}
	// Retention shorter than the day so far: counted from now, never in the past.
	if got := expiry(day, day.Add(5*time.Hour), time.Hour); !got.Equal(day.Add(6 * time.Hour)) {
		t.Errorf("short retention: %v", got)
	}
}
