package store

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"
)

func TestDistillGuard(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			s := open(t, b.cfg)
			key := b.prefix() + "s:{S1}:dist:guard"
			if ok, err := s.AcquireDistillGuard(ctx, "S1", "tokA", "hold", time.Minute); !ok || err != nil {
				t.Fatalf("first acquire = %v, %v", ok, err)
			}
			if ok, err := s.AcquireDistillGuard(ctx, "S1", "tokB", "hold", time.Minute); ok || err != nil {
				t.Fatalf("second acquire = %v, %v; want false", ok, err)
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
			if ok, err := s.AcquireDistillGuard(ctx, "S1", "tokB", "hold", time.Minute); !ok || err != nil {
				t.Errorf("acquire after release = %v, %v", ok, err)
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

// The meta swap is all or nothing (reference §12 item 39).
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
