package distill

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddy-lore/caddy-lore/internal/storetest"
	"github.com/caddy-lore/caddy-lore/store"
)

func TestDistillGuard(t *testing.T) {
	storetest.EachBackend(t, "rows", func(t *testing.T, b storetest.Backend, st *store.Store) {
		ctx := context.Background()
		key := b.Cfg.KeyPrefix + "s:{S1}:dist:guard"
		if got, err := AcquireGuard(ctx, st, "S1", "tokA", "hold", false, time.Minute); got != GuardAcquired || err != nil {
			t.Fatalf("first acquire = %v, %v", got, err)
		}
		if got, err := AcquireGuard(ctx, st, "S1", "tokB", "hold", false, time.Minute); got != GuardBusy || err != nil {
			t.Fatalf("second acquire = %v, %v; want busy", got, err)
		}
		if ttl := b.Raw.PTTL(ctx, key).Val(); ttl <= 59*time.Second || ttl > time.Minute {
			t.Errorf("guard TTL %v, want about 1m", ttl)
		}
		if n, err := AddRef(ctx, st, "S1", "tokA", "call1", time.Hour); n != 2 || err != nil {
			t.Fatalf("AddRef = %d, %v", n, err)
		}
		if ttl := b.Raw.PTTL(ctx, key).Val(); ttl <= 59*time.Minute {
			t.Errorf("refreshed TTL %v, want about 1h", ttl)
		}
		if _, err := AddRef(ctx, st, "S1", "tokB", "x", time.Hour); !errors.Is(err, ErrGuardLost) {
			t.Errorf("AddRef with another token = %v", err)
		}
		if _, err := ReleaseRef(ctx, st, "S1", "tokB", "hold"); !errors.Is(err, ErrGuardLost) {
			t.Errorf("release with another token = %v", err)
		}
		if n, err := ReleaseRef(ctx, st, "S1", "tokA", "hold"); n != 1 || err != nil {
			t.Fatalf("release hold = %d, %v", n, err)
		}
		if _, err := ReleaseRef(ctx, st, "S1", "tokA", "hold"); !errors.Is(err, ErrRefReleased) {
			t.Errorf("second release of hold = %v, want ErrRefReleased", err)
		}
		if n, err := ReleaseRef(ctx, st, "S1", "tokA", "call1"); n != 0 || err != nil {
			t.Fatalf("release call1 = %d, %v", n, err)
		}
		if b.Raw.Exists(ctx, key).Val() != 0 {
			t.Error("guard still exists with no reference")
		}
		if got, err := AcquireGuard(ctx, st, "S1", "tokB", "hold", false, time.Minute); got != GuardAcquired || err != nil {
			t.Errorf("acquire after release = %v, %v", got, err)
		}
		if _, err := AcquireGuard(ctx, st, "S1", "tok:C", "hold", true, time.Minute); err == nil {
			t.Error("a token with a colon was accepted")
		}
	})
}

// An urgent run may join a guard whose holders are all non-urgent runs,
// never one that an urgent run holds; a non-urgent run never joins. Each
// holder's references are its own: the non-urgent run's late release
// cannot drop the urgent run's hold, and the guard goes with the last
// reference of the last holder.
func TestDistillGuardUrgent(t *testing.T) {
	storetest.EachBackend(t, "rows", func(t *testing.T, b storetest.Backend, st *store.Store) {
		ctx := context.Background()
		key := b.Cfg.KeyPrefix + "s:{S1}:dist:guard"
		acquire := func(tok string, urgent bool, want GuardOutcome) {
			t.Helper()
			if got, err := AcquireGuard(ctx, st, "S1", tok, "hold", urgent, time.Minute); got != want || err != nil {
				t.Fatalf("acquire %s (urgent %v) = %v, %v; want %v", tok, urgent, got, err, want)
			}
		}
		release := func(tok, ref string, want int) {
			t.Helper()
			if n, err := ReleaseRef(ctx, st, "S1", tok, ref); n != want || err != nil {
				t.Fatalf("release %s/%s = %d, %v; want %d", tok, ref, n, err, want)
			}
		}

		// A non-urgent run whose call is out (its own hold released).
		acquire("bg", false, GuardAcquired)
		if n, err := AddRef(ctx, st, "S1", "bg", "call", time.Hour); n != 2 || err != nil {
			t.Fatalf("AddRef = %d, %v", n, err)
		}
		release("bg", "hold", 1)

		acquire("u1", true, GuardJoined)
		acquire("u2", true, GuardBusy)   // urgent runs exclude each other
		acquire("bg2", false, GuardBusy) // and a non-urgent run waits for both
		if n, err := AddRef(ctx, st, "S1", "u1", "call", time.Minute); n != 3 || err != nil {
			t.Fatalf("urgent AddRef = %d, %v", n, err)
		}
		// The shorter urgent deadline does not cut the non-urgent one.
		if ttl := b.Raw.PTTL(ctx, key).Val(); ttl <= 59*time.Minute {
			t.Errorf("guard TTL %v after the urgent run joined, want about 1h", ttl)
		}
		// Same reference names, other holder: nothing of u1 is released.
		if _, err := ReleaseRef(ctx, st, "S1", "bg", "hold"); !errors.Is(err, ErrRefReleased) {
			t.Errorf("bg releasing hold again = %v, want ErrRefReleased", err)
		}
		if _, err := ReleaseRef(ctx, st, "S1", "u2", "hold"); !errors.Is(err, ErrGuardLost) {
			t.Errorf("release by the refused urgent run = %v, want ErrGuardLost", err)
		}
		release("u1", "call", 2)
		release("u1", "hold", 1) // u1 is over; bg's call is still out
		if got := b.Raw.HGetAll(ctx, key).Val(); len(got) != 2 || got["r:bg:call"] != "1" || !strings.HasPrefix(got["h:bg"], "0:") {
			t.Errorf("guard after the urgent run = %v", got)
		}
		acquire("u2", true, GuardJoined) // the next urgent run may go
		release("u2", "hold", 1)

		// The batched result arrives late, twice.
		release("bg", "call", 0)
		if _, err := ReleaseRef(ctx, st, "S1", "bg", "call"); !errors.Is(err, ErrGuardLost) {
			t.Errorf("duplicate late release = %v, want ErrGuardLost", err)
		}
		if b.Raw.Exists(ctx, key).Val() != 0 {
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

// Each holder lapses at its own deadline: a lapsed holder's references are
// dropped by the next script and do not keep anyone out.
func TestDistillGuardHolderLapses(t *testing.T) {
	storetest.EachBackend(t, "rows", func(t *testing.T, b storetest.Backend, st *store.Store) {
		ctx := context.Background()
		key := b.Cfg.KeyPrefix + "s:{S1}:dist:guard"
		// A holder whose deadline has passed (a crashed run).
		if got, err := AcquireGuard(ctx, st, "S1", "dead", "hold", false, -time.Second); got != GuardAcquired || err != nil {
			t.Fatalf("acquire = %v, %v", got, err)
		}
		if got, err := AcquireGuard(ctx, st, "S1", "live", "hold", false, time.Minute); got != GuardAcquired || err != nil {
			t.Fatalf("acquire over a lapsed holder = %v, %v; want acquired", got, err)
		}
		if got := b.Raw.HGetAll(ctx, key).Val(); len(got) != 2 || got["r:live:hold"] != "1" {
			t.Errorf("guard = %v, want only the live holder", got)
		}
		if _, err := ReleaseRef(ctx, st, "S1", "dead", "hold"); !errors.Is(err, ErrGuardLost) {
			t.Errorf("release by the lapsed holder = %v, want ErrGuardLost", err)
		}
		if n, err := ReleaseRef(ctx, st, "S1", "live", "hold"); n != 0 || err != nil {
			t.Errorf("release = %d, %v", n, err)
		}
		if b.Raw.Exists(ctx, key).Val() != 0 {
			t.Error("guard still exists")
		}
	})
}

func TestStoreRow(t *testing.T) {
	storetest.EachBackend(t, "rows", func(t *testing.T, b storetest.Backend, st *store.Store) {
		ctx := context.Background()
		row := func(id string, first, last int) Row {
			return Row{ID: id, Observations: "- " + id, First: first, Last: last, CreatedAt: t0.UnixMilli()}
		}
		if out, _, err := StoreRow(ctx, st, "S1", row("r0", 0, 4)); out != RowNoSession || err != nil {
			t.Fatalf("no session: %v, %v", out, err)
		}
		if err := st.CommitTurn(ctx, store.Turn{Session: rowsSession("S1"), Messages: rowsMessages(20), Retention: time.Hour}); err != nil {
			t.Fatal(err)
		}
		steps := []struct {
			row     Row
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
		for _, step := range steps {
			out, mark, err := StoreRow(ctx, st, "S1", step.row)
			if out != step.outcome || mark != step.mark || err != nil {
				t.Fatalf("%s: %v, mark %d, %v; want %v, %d", step.row.ID, out, mark, err, step.outcome, step.mark)
			}
		}
		rows, err := LiveRows(ctx, st, "S1")
		var ids []string
		for _, r := range rows {
			ids = append(ids, r.ID)
		}
		if err != nil || len(ids) != 4 || ids[0] != "r0" || ids[1] != "r1" || ids[2] != "r2" || ids[3] != "r3" {
			t.Fatalf("LiveRows = %v, %v", ids, err)
		}
		if n, _ := UndistilledCount(ctx, st, "S1"); n != 0 {
			t.Errorf("undistilled %d", n)
		}
		for _, k := range []string{"mark", "rows"} {
			if ttl := b.Raw.PTTL(ctx, b.Cfg.KeyPrefix+"s:{S1}:dist:"+k).Val(); ttl <= 59*time.Minute || ttl > time.Hour {
				t.Errorf("%s TTL %v, want the messages' 1h", k, ttl)
			}
		}
	})
}

// The meta swap is all or nothing: the merged rows are archived atomically
// (docs/context-window.md, Distillation).
func TestReplaceWithMeta(t *testing.T) {
	storetest.EachBackend(t, "rows", func(t *testing.T, b storetest.Backend, st *store.Store) {
		ctx := context.Background()
		if err := st.CommitTurn(ctx, store.Turn{Session: rowsSession("S1"), Messages: rowsMessages(10)}); err != nil {
			t.Fatal(err)
		}
		for i, id := range []string{"a", "b", "c"} {
			r := Row{ID: id, Observations: "- " + id, First: 3 * i, Last: 3*i + 2}
			if out, _, err := StoreRow(ctx, st, "S1", r); out != RowStored || err != nil {
				t.Fatal(out, err)
			}
		}
		snapshot := func() []map[string]string {
			var out []map[string]string
			for _, k := range []string{"rows", "archive"} {
				out = append(out, b.Raw.HGetAll(ctx, b.Cfg.KeyPrefix+"s:{S1}:dist:"+k).Val())
			}
			return out
		}
		before := snapshot()
		meta := Row{ID: "m", Generation: 1, Observations: "- m", First: 0, Last: 8}
		if ok, err := ReplaceWithMeta(ctx, st, "S1", meta, []string{"a", "b", "gone"}); ok || err != nil {
			t.Fatalf("stale swap = %v, %v", ok, err)
		}
		if after := snapshot(); !reflect.DeepEqual(after, before) || len(after[0]) != 3 || len(after[1]) != 0 {
			t.Fatalf("a refused swap changed Redis: %v, before %v", after, before)
		}
		if ok, err := ReplaceWithMeta(ctx, st, "S1", meta, []string{"a", "b"}); !ok || err != nil {
			t.Fatalf("swap = %v, %v", ok, err)
		}
		rows, _ := LiveRows(ctx, st, "S1")
		archived, _ := ArchivedRows(ctx, st, "S1")
		if len(rows) != 2 || rows[0].ID != "m" || rows[1].ID != "c" || rows[0].Archived ||
			len(archived) != 2 || archived[0].ID != "a" || archived[1].ID != "b" || !archived[0].Archived {
			t.Errorf("rows %+v, archived %+v", rows, archived)
		}
	})
}

// store.LoadTurn reads a hinted session's live rows raw, in the turn's one
// round trip (store/turnload_test.go counts it); DecodeRows gives them as
// LiveRows does. A row that is not JSON is an error.
func TestDecodeLoadTurnRows(t *testing.T) {
	storetest.EachBackend(t, "rows", func(t *testing.T, b storetest.Backend, st *store.Store) {
		ctx := context.Background()
		sess := rowsSession("S1")
		if err := st.CommitTurn(ctx, store.Turn{Session: sess, Messages: rowsMessages(6)}); err != nil {
			t.Fatal(err)
		}
		for _, r := range []Row{
			{ID: "r1", Observations: "obs", First: 0, Last: 1, FirstPos: 0, LastPos: 1, SourceIDs: []string{"m0", "m1"}},
			{ID: "r2", Observations: "obs 2", First: 2, Last: 3, FirstPos: 2, LastPos: 3, CreatedAt: t0.UnixMilli()},
		} {
			if out, _, err := StoreRow(ctx, st, "S1", r); out != RowStored || err != nil {
				t.Fatalf("storing %s: %v %v", r.ID, out, err)
			}
		}
		want, err := LiveRows(ctx, st, "S1")
		if err != nil || len(want) != 2 {
			t.Fatalf("rows %v %v", want, err)
		}
		load, err := st.LoadTurn(ctx, sess.Lineage, "", "S1")
		if err != nil || load.Hinted == nil {
			t.Fatalf("load %+v %v", load, err)
		}
		got, err := DecodeRows("S1", load.HintedRows, false)
		if err != nil || !reflect.DeepEqual(got, want) || got[0].ID != "r1" || got[0].Observations != "obs" || got[0].Archived {
			t.Fatalf("hinted rows %+v, %v; want %+v", got, err, want)
		}
		if rows, err := DecodeRows("S1", nil, false); rows != nil || err != nil {
			t.Errorf("no rows: %v, %v", rows, err)
		}
		if rows, err := DecodeRows("S1", map[string]string{"x": "{"}, false); err == nil {
			t.Errorf("a row that is not JSON decoded: %+v", rows)
		}
	})
}

// rowsSession is a session for the rows' tests: its messages are what the
// rows cover.
func rowsSession(id string) *store.Session {
	return &store.Session{ID: id, Namespace: "0123456789abcdef0123456789abcdef", Lineage: "lin0123456789abcdef",
		Model: "claude-sonnet-4-5", CreatedAt: t0, LastRequest: t0}
}

// rowsMessages is n stored messages, positions 0 to n-1, user and
// assistant in turn.
func rowsMessages(n int) []store.StoredMessage {
	out := make([]store.StoredMessage, n)
	for pos := range out {
		role := "user"
		if pos%2 == 1 {
			role = "assistant"
		}
		out[pos] = store.StoredMessage{ID: "m" + strconv.Itoa(pos), Role: role, Position: pos,
			Content: json.RawMessage(`[{"type":"text","text":"message ` + strconv.Itoa(pos) + `"}]`),
			At:      t0.Add(time.Duration(pos) * time.Second).UnixMilli()}
	}
	return out
}
