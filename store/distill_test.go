package store

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestDistillGuard(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			s := open(t, b.cfg)
			key := b.prefix() + "s:{S1}:dist:guard"
			if got, err := s.AcquireDistillGuard(ctx, "S1", "tokA", "hold", false, time.Minute); got != GuardAcquired || err != nil {
				t.Fatalf("first acquire = %v, %v", got, err)
			}
			if got, err := s.AcquireDistillGuard(ctx, "S1", "tokB", "hold", false, time.Minute); got != GuardBusy || err != nil {
				t.Fatalf("second acquire = %v, %v; want busy", got, err)
			}
			if ttl := b.raw.PTTL(ctx, key).Val(); ttl <= 59*time.Second || ttl > time.Minute {
				t.Errorf("guard TTL %v, want about 1m", ttl)
			}
			if n, err := s.AddDistillRef(ctx, "S1", "tokA", "call1", time.Hour); n != 2 || err != nil {
				t.Fatalf("AddDistillRef = %d, %v", n, err)
			}
			if ttl := b.raw.PTTL(ctx, key).Val(); ttl <= 59*time.Minute {
				t.Errorf("refreshed TTL %v, want about 1h", ttl)
			}
			if _, err := s.AddDistillRef(ctx, "S1", "tokB", "x", time.Hour); !errors.Is(err, ErrGuardLost) {
				t.Errorf("AddDistillRef with another token = %v", err)
			}
			if _, err := s.ReleaseDistillRef(ctx, "S1", "tokB", "hold"); !errors.Is(err, ErrGuardLost) {
				t.Errorf("release with another token = %v", err)
			}
			if n, err := s.ReleaseDistillRef(ctx, "S1", "tokA", "hold"); n != 1 || err != nil {
				t.Fatalf("release hold = %d, %v", n, err)
			}
			if _, err := s.ReleaseDistillRef(ctx, "S1", "tokA", "hold"); !errors.Is(err, ErrRefReleased) {
				t.Errorf("second release of hold = %v, want ErrRefReleased", err)
			}
			if n, err := s.ReleaseDistillRef(ctx, "S1", "tokA", "call1"); n != 0 || err != nil {
				t.Fatalf("release call1 = %d, %v", n, err)
			}
			if b.raw.Exists(ctx, key).Val() != 0 {
				t.Error("guard still exists with no reference")
			}
			if got, err := s.AcquireDistillGuard(ctx, "S1", "tokB", "hold", false, time.Minute); got != GuardAcquired || err != nil {
				t.Errorf("acquire after release = %v, %v", got, err)
			}
			if _, err := s.AcquireDistillGuard(ctx, "S1", "tok:C", "hold", true, time.Minute); err == nil {
				t.Error("a token with a colon was accepted")
			}
		})
	}
}

// An urgent run may join a guard whose holders are all non-urgent runs,
// never one that an urgent run holds; a non-urgent run never joins. Each
// holder's references are its own: the non-urgent run's late release
// cannot drop the urgent run's hold, and the guard goes with the last
// reference of the last holder.
func TestDistillGuardUrgent(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			s := open(t, b.cfg)
			key := b.prefix() + "s:{S1}:dist:guard"
			acquire := func(tok string, urgent bool, want GuardOutcome) {
				t.Helper()
				if got, err := s.AcquireDistillGuard(ctx, "S1", tok, "hold", urgent, time.Minute); got != want || err != nil {
					t.Fatalf("acquire %s (urgent %v) = %v, %v; want %v", tok, urgent, got, err, want)
				}
			}
			release := func(tok, ref string, want int) {
				t.Helper()
				if n, err := s.ReleaseDistillRef(ctx, "S1", tok, ref); n != want || err != nil {
					t.Fatalf("release %s/%s = %d, %v; want %d", tok, ref, n, err, want)
				}
			}

			// A non-urgent run whose call is out (its own hold released).
			acquire("bg", false, GuardAcquired)
			if n, err := s.AddDistillRef(ctx, "S1", "bg", "call", time.Hour); n != 2 || err != nil {
				t.Fatalf("AddDistillRef = %d, %v", n, err)
			}
			release("bg", "hold", 1)

			acquire("u1", true, GuardJoined)
			acquire("u2", true, GuardBusy)   // urgent runs exclude each other
			acquire("bg2", false, GuardBusy) // and a non-urgent run waits for both
			if n, err := s.AddDistillRef(ctx, "S1", "u1", "call", time.Minute); n != 3 || err != nil {
				t.Fatalf("urgent AddDistillRef = %d, %v", n, err)
			}
			// The shorter urgent deadline does not cut the non-urgent one.
			if ttl := b.raw.PTTL(ctx, key).Val(); ttl <= 59*time.Minute {
				t.Errorf("guard TTL %v after the urgent run joined, want about 1h", ttl)
			}
			// Same reference names, other holder: nothing of u1 is released.
			if _, err := s.ReleaseDistillRef(ctx, "S1", "bg", "hold"); !errors.Is(err, ErrRefReleased) {
				t.Errorf("bg releasing hold again = %v, want ErrRefReleased", err)
			}
			if _, err := s.ReleaseDistillRef(ctx, "S1", "u2", "hold"); !errors.Is(err, ErrGuardLost) {
				t.Errorf("release by the refused urgent run = %v, want ErrGuardLost", err)
			}
			release("u1", "call", 2)
			release("u1", "hold", 1) // u1 is over; bg's call is still out
			if got := b.raw.HGetAll(ctx, key).Val(); len(got) != 2 || got["r:bg:call"] != "1" || !strings.HasPrefix(got["h:bg"], "0:") {
				t.Errorf("guard after the urgent run = %v", got)
			}
			acquire("u2", true, GuardJoined) // the next urgent run may go
			release("u2", "hold", 1)

			// The batched result arrives late, twice.
			release("bg", "call", 0)
			if _, err := s.ReleaseDistillRef(ctx, "S1", "bg", "call"); !errors.Is(err, ErrGuardLost) {
				t.Errorf("duplicate late release = %v, want ErrGuardLost", err)
			}
			if b.raw.Exists(ctx, key).Val() != 0 {
				t.Error("guard still exists with no reference")
			}

			// Urgent first: nobody else gets in until it is over.
			acquire("u3", true, GuardAcquired)
			acquire("u4", true, GuardBusy)
			acquire("bg3", false, GuardBusy)
			release("u3", "hold", 0)
			acquire("bg3", false, GuardAcquired)
			release("bg3", "hold", 0)
		})
	}
}

// Each holder lapses at its own deadline: a lapsed holder's references are
// dropped by the next script and do not keep anyone out.
func TestDistillGuardHolderLapses(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			s := open(t, b.cfg)
			key := b.prefix() + "s:{S1}:dist:guard"
			// A holder whose deadline has passed (a crashed run).
			if got, err := s.AcquireDistillGuard(ctx, "S1", "dead", "hold", false, -time.Second); got != GuardAcquired || err != nil {
				t.Fatalf("acquire = %v, %v", got, err)
			}
			if got, err := s.AcquireDistillGuard(ctx, "S1", "live", "hold", false, time.Minute); got != GuardAcquired || err != nil {
				t.Fatalf("acquire over a lapsed holder = %v, %v; want acquired", got, err)
			}
			if got := b.raw.HGetAll(ctx, key).Val(); len(got) != 2 || got["r:live:hold"] != "1" {
				t.Errorf("guard = %v, want only the live holder", got)
			}
			if _, err := s.ReleaseDistillRef(ctx, "S1", "dead", "hold"); !errors.Is(err, ErrGuardLost) {
				t.Errorf("release by the lapsed holder = %v, want ErrGuardLost", err)
			}
			if n, err := s.ReleaseDistillRef(ctx, "S1", "live", "hold"); n != 0 || err != nil {
				t.Errorf("release = %d, %v", n, err)
			}
			if b.raw.Exists(ctx, key).Val() != 0 {
				t.Error("guard still exists")
			}
		})
	}
}

func TestStoreDistillation(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			s := open(t, b.cfg)
			row := func(id string, first, last int) DistillRow {
				return DistillRow{ID: id, Observations: "- " + id, First: first, Last: last, CreatedAt: t0.UnixMilli()}
			}
			if out, _, err := s.StoreDistillation(ctx, "S1", row("r0", 0, 4)); out != RowNoSession || err != nil {
				t.Fatalf("no session: %v, %v", out, err)
			}
			if err := s.CommitTurn(ctx, Turn{Session: sampleSession("S1"), Messages: sampleMessages(0, 20), Retention: time.Hour}); err != nil {
				t.Fatal(err)
			}
			steps := []struct {
				row     DistillRow
				outcome StoreOutcome
				mark    int
			}{
				{row("r2", 10, 14), RowAhead, 0},
				{row("r3", 15, 19), RowAhead, 0},
				{row("dup", 12, 16), RowRejected, 0},
				{row("r0", 0, 4), RowStored, 5},
				{row("old", 3, 6), RowRejected, 5},
				{row("r1", 5, 9), RowStored, 20},
				{row("late", 18, 19), RowRejected, 20},
			}
			for _, st := range steps {
				out, mark, err := s.StoreDistillation(ctx, "S1", st.row)
				if out != st.outcome || mark != st.mark || err != nil {
					t.Fatalf("%s: %v, mark %d, %v; want %v, %d", st.row.ID, out, mark, err, st.outcome, st.mark)
				}
			}
			rows, err := s.Distillations(ctx, "S1")
			var ids []string
			for _, r := range rows {
				ids = append(ids, r.ID)
			}
			if err != nil || len(ids) != 4 || ids[0] != "r0" || ids[1] != "r1" || ids[2] != "r2" || ids[3] != "r3" {
				t.Fatalf("Distillations = %v, %v", ids, err)
			}
			if n, _ := s.UndistilledCount(ctx, "S1"); n != 0 {
				t.Errorf("undistilled %d", n)
			}
			for _, k := range []string{"mark", "rows"} {
				if ttl := b.raw.PTTL(ctx, b.prefix()+"s:{S1}:dist:"+k).Val(); ttl <= 59*time.Minute || ttl > time.Hour {
					t.Errorf("%s TTL %v, want the messages' 1h", k, ttl)
				}
			}
		})
	}
}

// The meta swap is all or nothing: the merged rows are archived atomically
// (docs/context-window.md, Distillation).
func TestReplaceWithMeta(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			s := open(t, b.cfg)
			if err := s.CommitTurn(ctx, Turn{Session: sampleSession("S1"), Messages: sampleMessages(0, 10)}); err != nil {
				t.Fatal(err)
			}
			for i, id := range []string{"a", "b", "c"} {
				r := DistillRow{ID: id, Observations: "- " + id, First: 3 * i, Last: 3*i + 2}
				if out, _, err := s.StoreDistillation(ctx, "S1", r); out != RowStored || err != nil {
					t.Fatal(out, err)
				}
			}
			snapshot := func() []map[string]string {
				var out []map[string]string
				for _, k := range []string{"rows", "archive"} {
					out = append(out, b.raw.HGetAll(ctx, b.prefix()+"s:{S1}:dist:"+k).Val())
				}
				return out
			}
			before := snapshot()
			meta := DistillRow{ID: "m", Generation: 1, Observations: "- m", First: 0, Last: 8}
			if ok, err := s.ReplaceWithMeta(ctx, "S1", meta, []string{"a", "b", "gone"}); ok || err != nil {
				t.Fatalf("stale swap = %v, %v", ok, err)
			}
			if after := snapshot(); !reflect.DeepEqual(after, before) || len(after[0]) != 3 || len(after[1]) != 0 {
				t.Fatalf("a refused swap changed Redis: %v, before %v", after, before)
			}
			if ok, err := s.ReplaceWithMeta(ctx, "S1", meta, []string{"a", "b"}); !ok || err != nil {
				t.Fatalf("swap = %v, %v", ok, err)
			}
			rows, _ := s.Distillations(ctx, "S1")
			archived, _ := s.ArchivedDistillations(ctx, "S1")
			if len(rows) != 2 || rows[0].ID != "m" || rows[1].ID != "c" || rows[0].Archived ||
				len(archived) != 2 || archived[0].ID != "a" || archived[1].ID != "b" || !archived[0].Archived {
				t.Errorf("rows %+v, archived %+v", rows, archived)
			}
		})
	}
}
