package store

import (
	"context"
	"reflect"
	"testing"
	"time"
)

func TestUsageCountersPerDay(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			s := open(t, b.cfg)
			day1 := time.Date(2026, 12, 6, 23, 59, 0, 0, time.UTC)
			day2 := day1.Add(2 * time.Minute)
			alice := sampleSession("S1")
			alice.Person = "alice"
			turn := UsageFigures{Turns: 1, Input: 10, Output: 20, CacheRead: 30, CacheWrite: 40, CostMicroUSD: 500, CounterfactualMicroUSD: 900}
			for _, at := range []time.Time{day1, day1, day2} {
				rec := UsageRecord{At: at, Person: "alice", Model: "claude-sonnet-4-5", Figures: turn}
				if err := s.CommitTurn(ctx, Turn{Session: alice, Usage: &rec, Retention: 48 * time.Hour}); err != nil {
					t.Fatal(err)
				}
			}
			// A worker call is counted for the session's person, read from the session.
			worker := UsageFigures{WorkerCalls: 1, WorkerBatchCalls: 1, WorkerInput: 100, WorkerOutput: 7, WorkerCostMicroUSD: 60}
			if err := s.AddWorkerUsage(ctx, "S1", UsageRecord{At: day2, Person: "ignored", Model: "claude-haiku-4-5", Figures: worker}, 48*time.Hour); err != nil {
				t.Fatal(err)
			}
			// A session without Person counts for its fingerprint; a missing one for "unknown".
			if err := s.CommitTurn(ctx, Turn{Session: sampleSession("S2")}); err != nil {
				t.Fatal(err)
			}
			for _, sid := range []string{"S2", "gone"} {
				if err := s.AddWorkerUsage(ctx, sid, UsageRecord{At: day2, Model: "m|x", Figures: worker}, 0); err != nil {
					t.Fatal(err)
				}
			}

			got, err := s.ReadUsage(ctx, day1, day2)
			if err != nil {
				t.Fatal(err)
			}
			twice := turn
			twice.Add(turn)
			want := []UsageEntry{
				{Day: "2026-12-06", Person: "alice", Model: "claude-sonnet-4-5", Figures: twice},
				{Day: "2026-12-07", Person: "a1b2c3d4e5f6", Model: "m_x", Figures: worker},
				{Day: "2026-12-07", Person: "alice", Model: "claude-haiku-4-5", Figures: worker},
				{Day: "2026-12-07", Person: "alice", Model: "claude-sonnet-4-5", Figures: turn},
				{Day: "2026-12-07", Person: "unknown", Model: "m_x", Figures: worker},
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("usage =\n%+v\nwant\n%+v", got, want)
			}
			if got, _ := s.ReadUsage(ctx, day2, day2); len(got) != 4 {
				t.Fatalf("one day = %+v", got)
			}
			// Each day expires retention after it began.
			p := b.prefix()
			if at := b.raw.ExpireTime(ctx, p+"usage:{2026-12-06}").Val(); at != time.Duration(time.Date(2026, 12, 8, 0, 0, 0, 0, time.UTC).Unix())*time.Second {
				t.Errorf("expiry of day 1 = %v", at)
			}
		})
	}
}

func TestUsageRange(t *testing.T) {
	s := open(t, backends(t)[0].cfg)
	d := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, until := range []time.Time{d.Add(-time.Hour), d.AddDate(0, 0, MaxUsageDays)} {
		if _, err := s.ReadUsage(context.Background(), d, until); err != ErrUsageRange {
			t.Errorf("ReadUsage(%v) err = %v", until, err)
		}
	}
	if got, err := s.ReadUsage(context.Background(), d, d.AddDate(0, 0, MaxUsageDays-1)); err != nil || len(got) != 0 {
		t.Errorf("empty range = %v, %v", got, err)
	}
}

func TestUsageExpiry(t *testing.T) {
	day := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if got := usageExpiry(day, day.Add(time.Hour), 720*time.Hour); !got.Equal(day.Add(720 * time.Hour)) {
		t.Errorf("long retention: %v", got)
	}
	// Retention shorter than the day so far: counted from now, never in the past.
	if got := usageExpiry(day, day.Add(5*time.Hour), time.Hour); !got.Equal(day.Add(6 * time.Hour)) {
		t.Errorf("short retention: %v", got)
	}
}
