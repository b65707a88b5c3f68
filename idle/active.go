package idle

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/caddy-lore/caddy-lore/store"
)

// ActiveSet is the Redis side of the scheduler: the set of sessions whose
// idle work is still to come, claimed atomically across instances. It
// implements Store.
type ActiveSet struct{ st *store.Store }

// NewActiveSet returns the active set kept in st.
func NewActiveSet(st *store.Store) *ActiveSet { return &ActiveSet{st: st} }

func (a *ActiveSet) key() string { return a.st.Key(store.IdleSetKey) }

// Idle bookkeeping (docs/context-window.md, Idle work and post-idle
// compaction; the key is store.IdleSetKey).
//
// Every committed turn puts its session in the active set with the time of
// its last request (store.CommitTurn writes it with the session). ClaimIdle
// takes the sessions whose last request is older than a cutoff out of the
// set, atomically: with several
// instances on one Redis each idle period of a session is claimed exactly
// once, by one instance, and the session is only armed again by its next
// turn (or by RearmIdle, when the claimant could not do the work yet).
//
// A claimed session whose idle work is then lost (the instance crashed
// between the claim and the work) gets none for that idle period; its
// messages are distilled by the next turn's triggers instead.

// MaxIdleClaim bounds the sessions one ClaimIdle call takes.
const MaxIdleClaim = 1000

// claimIdleScript takes up to ARGV[2] members of the active set (KEYS[1])
// with a score at or below ARGV[1] (unix ms), lowest score first, removes
// them and returns them.
var claimIdleScript = redis.NewScript(`
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
if #ids > 0 then redis.call('ZREM', KEYS[1], unpack(ids)) end
return ids`)

// ClaimIdle claims up to limit sessions (at most MaxIdleClaim) whose last
// request was at or before cutoff, oldest first, and returns the ids of
// those that still exist. Claimed ids are out of the active set whether
// they exist or not: expired sessions are dropped, not returned.
//
// The claim is one Lua script over the active set; the existence check is
// a second, pipelined round trip over the claimed sessions' state keys
// (they live in other cluster slots than the set, so a script could not
// read them on a cluster), made only when something was claimed.
func (a *ActiveSet) ClaimIdle(ctx context.Context, cutoff time.Time, limit int) ([]string, error) {
	if limit <= 0 {
		return nil, nil
	}
	limit = min(limit, MaxIdleClaim)
	var raw any
	err := a.st.Do(ctx, func(ctx context.Context, c redis.UniversalClient) error {
		var err error
		raw, err = claimIdleScript.Run(ctx, c, []string{a.key()}, cutoff.UnixMilli(), limit).Result()
		return err
	})
	if err != nil {
		return nil, err
	}
	members, _ := raw.([]any)
	if len(members) == 0 {
		return nil, nil
	}
	ids := make([]string, 0, len(members))
	for _, m := range members {
		id, ok := m.(string)
		if !ok || store.CheckID(id) != nil {
			continue // not a session id of ours; dropped from the set above
		}
		ids = append(ids, id)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	exists := make([]*redis.IntCmd, len(ids))
	err = a.st.Do(ctx, func(ctx context.Context, c redis.UniversalClient) error {
		_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, id := range ids {
				exists[i] = p.Exists(ctx, a.st.SessionKey(id, store.StateKey))
			}
			return nil
		})
		return err
	})
	if err != nil {
		// The claim is made and cannot be undone safely (a turn may have
		// re-armed a session meanwhile); hand them all over rather than
		// lose live ones. Idle work on an expired session finds nothing.
		return ids, fmt.Errorf("idle: sessions claimed, existence unknown: %w", err)
	}
	live := ids[:0]
	for i, id := range ids {
		if exists[i].Val() > 0 {
			live = append(live, id)
		}
	}
	if len(live) == 0 {
		return nil, nil
	}
	return live, nil
}

// RearmIdle puts a claimed session back in the active set with score at
// (its idle period then counts from at), unless a newer turn has armed it
// with a later time already (ZADD GT). The idle scheduler uses it when the
// work could not run yet (another distillation of the session in flight)
// or was interrupted by a shutdown.
func (a *ActiveSet) RearmIdle(ctx context.Context, sessionID string, at time.Time) error {
	if err := store.CheckID(sessionID); err != nil {
		return err
	}
	return a.st.Do(ctx, func(ctx context.Context, c redis.UniversalClient) error {
		return c.ZAddGT(ctx, a.key(), redis.Z{Score: float64(at.UnixMilli()), Member: sessionID}).Err()
	})
}

// IdleArmed reports whether the session's idle work for its current idle
// period is still to come, and the time its idle period counts from (the
// last request, or a re-arm time). For the admin view: a session that is
// not armed either had its idle work claimed since its last turn or does
// not exist.
func (a *ActiveSet) IdleArmed(ctx context.Context, sessionID string) (time.Time, bool, error) {
	if err := store.CheckID(sessionID); err != nil {
		return time.Time{}, false, err
	}
	var score float64
	err := a.st.Do(ctx, func(ctx context.Context, c redis.UniversalClient) error {
		var err error
		score, err = c.ZScore(ctx, a.key(), sessionID).Result()
		return err
	})
	if errors.Is(err, redis.Nil) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, err
	}
	return time.UnixMilli(int64(score)).UTC(), true, nil
}
