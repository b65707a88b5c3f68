package distill

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/caddy-lore/caddy-lore/store"
)

// Distillation storage: the rows, the watermark and the in-flight guard in
// Redis, each written by one Lua script (rows_scripts.go). The keys are the
// session's (names and schema in store/keys_distill.go; docs/redis-keys.md
// has the whole key schema): store copies and deletes them with the
// session, and store.LoadTurn reads the live rows in the turn's round trip
// (DecodeRows decodes them).
//
// Coverage is tracked by list index — a stored message's place in the
// session's message list, in append order — not by its conversation
// position: the handler skips empty messages (positions with holes) and
// re-stores the newest message after a client rewinds (positions that
// repeat), while list indices are dense and only grow. The watermark is a
// count: entries [0, mark) are covered by live rows.
//
// Every write is one Lua script over keys of one hash slot, so it is atomic
// on a single node, sentinel or cluster alike.

// Row is one stored distillation. First/Last are the list indices of the
// messages it covers (inclusive); FirstPos/LastPos their conversation
// positions, SourceIDs their message ids, for recall and admin output.
type Row struct {
	ID           string   `json:"id"`
	Generation   int      `json:"gen"`
	Observations string   `json:"obs"`
	First        int      `json:"first"`
	Last         int      `json:"last"`
	FirstPos     int      `json:"first_pos"`
	LastPos      int      `json:"last_pos"`
	SourceIDs    []string `json:"src,omitempty"`
	CreatedAt    int64    `json:"at"` // unix ms
	// Archived is set on rows read from the archive (merged into a meta
	// row); it is where a row lives, not a stored field.
	Archived bool `json:"-"`
}

// Span is a range of list indices, inclusive.
type Span struct{ First, Last int }

// Pending is what a distillation run works on.
type Pending struct {
	Mark     int                   // the watermark; Messages[0] is list entry Mark
	Messages []store.StoredMessage // entries Mark..end, including any in Ahead
	Ahead    []Span                // ranges above Mark already distilled out of order, sorted
}

// StoreOutcome says what StoreRow did with a row.
type StoreOutcome int

const (
	// RowRejected: the row overlaps rows already stored (a duplicate or a
	// stale result); nothing was written.
	RowRejected StoreOutcome = iota
	// RowStored: the row continued the watermark and is live.
	RowStored
	// RowAhead: the row starts above the watermark; it is kept aside until
	// the rows before it arrive.
	RowAhead
	// RowNoSession: the session's messages are gone (expired).
	RowNoSession
)

// ErrGuardLost means the in-flight guard is no longer the caller's (it
// expired, possibly taken over by another run).
var ErrGuardLost = errors.New("distill: distillation guard lost")

// ErrRefReleased means the guard reference was released already.
var ErrRefReleased = errors.New("distill: distillation guard reference already released")

// evalScript executes a script for session sid after validating the id,
// under the store's outage rules (store.Store.Do).
func evalScript(ctx context.Context, st *store.Store, sid string, sc *redis.Script, keys []string, args ...any) (any, error) {
	if err := store.CheckID(sid); err != nil {
		return nil, err
	}
	var out any
	err := st.Do(ctx, func(ctx context.Context, c redis.UniversalClient) error {
		var err error
		out, err = sc.Run(ctx, c, keys, args...).Result()
		return err
	})
	return out, err
}

// GuardOutcome says what AcquireGuard did.
type GuardOutcome int

const (
	// GuardBusy: another run holds the guard and the caller may not join
	// it; nothing was written.
	GuardBusy GuardOutcome = iota
	// GuardAcquired: nobody held the guard; the caller is its only holder.
	GuardAcquired
	// GuardJoined: an urgent caller joined a guard whose holders are all
	// non-urgent runs (their calls are still out, typically in a batch).
	GuardJoined
)

// AcquireGuard takes the session's in-flight distillation guard for the
// run token, holding reference ref (the run's own hold). A non-urgent run
// gets it only if nobody holds it; an urgent run also when its holders are
// all non-urgent, never beside another urgent run (see rows_scripts.go).
// The guard is visible to every instance on the same Redis; the holder
// lapses after ttl unless AddRef refreshes it.
func AcquireGuard(ctx context.Context, st *store.Store, sid, token, ref string, urgent bool, ttl time.Duration) (GuardOutcome, error) {
	if err := checkGuardToken(token); err != nil {
		return GuardBusy, err
	}
	u := "0"
	if urgent {
		u = "1"
	}
	now := time.Now()
	out, err := evalScript(ctx, st, sid, acquireGuardScript, []string{st.SessionKey(sid, store.DistGuardKey)},
		token, ref, u, now.Add(ttl).UnixMilli(), now.UnixMilli())
	if err != nil {
		return GuardBusy, err
	}
	n, err := replyInt(out)
	if err != nil || n < 0 || n > int(GuardJoined) {
		return GuardBusy, cmp.Or(err, fmt.Errorf("distill: unexpected guard reply %d", n))
	}
	return GuardOutcome(n), nil
}

// AddRef adds reference ref (one outstanding worker call) to the holder
// token and pushes its deadline to now+ttl. It returns the references now
// held in the guard, all holders together.
func AddRef(ctx context.Context, st *store.Store, sid, token, ref string, ttl time.Duration) (int, error) {
	if err := checkGuardToken(token); err != nil {
		return 0, err
	}
	now := time.Now()
	out, err := evalScript(ctx, st, sid, addRefScript, []string{st.SessionKey(sid, store.DistGuardKey)},
		token, ref, now.Add(ttl).UnixMilli(), now.UnixMilli())
	if err != nil {
		return 0, err
	}
	n, err := replyInt(out)
	if err == nil && n < 0 {
		err = ErrGuardLost
	}
	return n, err
}

// ReleaseRef drops the holder token's reference ref; the holder leaves the
// guard with its last reference, and the guard is deleted when no reference
// of any holder is left. It returns the references left, all holders
// together (0: the guard is gone). Releasing a reference that is already
// gone returns ErrRefReleased and changes nothing.
func ReleaseRef(ctx context.Context, st *store.Store, sid, token, ref string) (int, error) {
	if err := checkGuardToken(token); err != nil {
		return 0, err
	}
	out, err := evalScript(ctx, st, sid, releaseRefScript, []string{st.SessionKey(sid, store.DistGuardKey)},
		token, ref, time.Now().UnixMilli())
	if err != nil {
		return 0, err
	}
	n, err := replyInt(out)
	switch {
	case err != nil:
	case n == -1:
		err = ErrGuardLost
	case n < 0:
		err = ErrRefReleased
	}
	return max(n, 0), err
}

// checkGuardToken rejects a token the guard's field names cannot carry.
func checkGuardToken(token string) error {
	if token == "" || strings.Contains(token, ":") {
		return fmt.Errorf("distill: invalid distillation guard token %q", token)
	}
	return nil
}

// replyInt reads an integer script reply.
func replyInt(v any) (int, error) {
	n, ok := v.(int64)
	if !ok {
		return 0, fmt.Errorf("distill: unexpected script reply %T", v)
	}
	return int(n), nil
}

// LoadPending returns the messages at and after the watermark and the
// ranges among them that out-of-order rows already cover, in one round trip.
func LoadPending(ctx context.Context, st *store.Store, sid string) (*Pending, error) {
	keys := []string{st.SessionKey(sid, store.MessagesKey), st.SessionKey(sid, store.DistMarkKey), st.SessionKey(sid, store.DistAheadIdxKey)}
	out, err := evalScript(ctx, st, sid, pendingScript, keys)
	if err != nil {
		return nil, err
	}
	parts, _ := out.([]any)
	if len(parts) != 3 {
		return nil, fmt.Errorf("distill: session %s: unexpected pending-distillation reply", sid)
	}
	mark, err := replyInt(parts[0])
	if err != nil {
		return nil, err
	}
	p := &Pending{Mark: mark}
	if p.Ahead, err = parseSpans(parts[1]); err != nil {
		return nil, fmt.Errorf("distill: session %s: %w", sid, err)
	}
	raw, _ := parts[2].([]any)
	p.Messages = make([]store.StoredMessage, len(raw))
	for i, r := range raw {
		str, _ := r.(string)
		if err := json.Unmarshal([]byte(str), &p.Messages[i]); err != nil {
			return nil, fmt.Errorf("distill: session %s: a stored message is not valid JSON", sid)
		}
	}
	return p, nil
}

// UndistilledCount is the number of stored messages no row covers yet.
func UndistilledCount(ctx context.Context, st *store.Store, sid string) (int, error) {
	keys := []string{st.SessionKey(sid, store.MessagesKey), st.SessionKey(sid, store.DistMarkKey), st.SessionKey(sid, store.DistAheadIdxKey)}
	out, err := evalScript(ctx, st, sid, countScript, keys)
	if err != nil {
		return 0, err
	}
	parts, _ := out.([]any)
	if len(parts) != 3 {
		return 0, fmt.Errorf("distill: session %s: unexpected undistilled-count reply", sid)
	}
	spans, err := parseSpans(parts[2])
	if err != nil {
		return 0, fmt.Errorf("distill: session %s: %w", sid, err)
	}
	mark, err1 := replyInt(parts[0])
	total, err2 := replyInt(parts[1])
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	n := total - mark
	for _, sp := range spans {
		n -= sp.Last - sp.First + 1
	}
	return max(n, 0), nil
}

// parseSpans reads the "<first>:<last>:<id>" members of dist:ahead:idx.
func parseSpans(v any) ([]Span, error) {
	members, _ := v.([]any)
	out := make([]Span, 0, len(members))
	for _, m := range members {
		str, _ := m.(string)
		f, rest, ok1 := strings.Cut(str, ":")
		l, _, ok2 := strings.Cut(rest, ":")
		first, err1 := strconv.Atoi(f)
		last, err2 := strconv.Atoi(l)
		if !ok1 || !ok2 || err1 != nil || err2 != nil {
			return nil, fmt.Errorf("malformed out-of-order distillation entry %q", str)
		}
		out = append(out, Span{first, last})
	}
	return out, nil
}

// StoreRow stores a gen-0 row covering list entries [row.First, row.Last]
// and returns what happened and the watermark after. See storeRowScript
// for the rules; RowRejected is not an error.
func StoreRow(ctx context.Context, st *store.Store, sid string, row Row) (StoreOutcome, int, error) {
	b, err := json.Marshal(&row)
	if err != nil {
		return RowRejected, 0, err
	}
	keys := []string{st.SessionKey(sid, store.MessagesKey), st.SessionKey(sid, store.DistMarkKey), st.SessionKey(sid, store.DistRowsKey),
		st.SessionKey(sid, store.DistAheadKey), st.SessionKey(sid, store.DistAheadIdxKey)}
	out, err := evalScript(ctx, st, sid, storeRowScript, keys, row.ID, row.First, row.Last, b)
	if err != nil {
		return RowRejected, 0, err
	}
	parts, _ := out.([]any)
	if len(parts) != 2 {
		return RowRejected, 0, fmt.Errorf("distill: session %s: unexpected store-distillation reply", sid)
	}
	outcome, err1 := replyInt(parts[0])
	mark, err2 := replyInt(parts[1])
	if err := errors.Join(err1, err2); err != nil {
		return RowRejected, 0, err
	}
	return StoreOutcome(outcome), mark, nil
}

// ReplaceWithMeta stores a meta row and archives the rows it merges, in one
// script: either all of it happens or, if any merged row is no longer live
// (another meta got there first), nothing does and it returns false.
func ReplaceWithMeta(ctx context.Context, st *store.Store, sid string, meta Row, merged []string) (bool, error) {
	b, err := json.Marshal(&meta)
	if err != nil {
		return false, err
	}
	args := make([]any, 0, len(merged)+2)
	args = append(args, meta.ID, b)
	for _, id := range merged {
		args = append(args, id)
	}
	keys := []string{st.SessionKey(sid, store.MessagesKey), st.SessionKey(sid, store.DistRowsKey), st.SessionKey(sid, store.DistArchiveKey)}
	out, err := evalScript(ctx, st, sid, metaScript, keys, args...)
	if err != nil {
		return false, err
	}
	n, err := replyInt(out)
	return n == 1, err
}

// LiveRows returns the session's live rows (not archived, not waiting out
// of order), oldest first: by first covered entry, a meta row before the
// gen-0 rows it starts with. One HGETALL: live rows stay few, since
// meta-distillation folds them.
func LiveRows(ctx context.Context, st *store.Store, sid string) ([]Row, error) {
	return loadRows(ctx, st, sid, store.DistRowsKey, false)
}

// ArchivedRows returns the rows merged into meta rows, oldest first.
func ArchivedRows(ctx context.Context, st *store.Store, sid string) ([]Row, error) {
	return loadRows(ctx, st, sid, store.DistArchiveKey, true)
}

func loadRows(ctx context.Context, st *store.Store, sid, name string, archived bool) ([]Row, error) {
	if err := store.CheckID(sid); err != nil {
		return nil, err
	}
	var raw map[string]string
	err := st.Do(ctx, func(ctx context.Context, c redis.UniversalClient) error {
		var err error
		raw, err = c.HGetAll(ctx, st.SessionKey(sid, name)).Result()
		return err
	})
	if err != nil {
		return nil, err
	}
	return DecodeRows(sid, raw, archived)
}

// DecodeRows decodes a distillation hash (row id → JSON row) of session
// sid, as HGETALL returns it (store.TurnLoad.HintedRows is one), ordered by
// position, newest generation first among rows that start at the same one.
// archived marks rows read from the archive.
func DecodeRows(sid string, raw map[string]string, archived bool) ([]Row, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	rows := make([]Row, 0, len(raw))
	for _, v := range raw {
		var r Row
		if err := json.Unmarshal([]byte(v), &r); err != nil {
			return nil, fmt.Errorf("distill: session %s: a distillation row is not valid JSON", sid)
		}
		r.Archived = archived
		rows = append(rows, r)
	}
	slices.SortFunc(rows, func(a, b Row) int {
		return cmp.Or(cmp.Compare(a.First, b.First), cmp.Compare(b.Generation, a.Generation),
			cmp.Compare(a.CreatedAt, b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	return rows, nil
}

// DistilledUpTo returns the watermark: the number of stored messages (list
// entries) the live rows cover.
func DistilledUpTo(ctx context.Context, st *store.Store, sid string) (int, error) {
	if err := store.CheckID(sid); err != nil {
		return 0, err
	}
	return st.Count(ctx, st.SessionKey(sid, store.DistMarkKey))
}
