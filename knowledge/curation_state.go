package knowledge

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/caddy-lore/caddy-lore/store"
)

// A session's curation state: the curation watermark (how many of its
// stored messages the curator has seen), the in-flight curation guard, and
// the turns since the last curation (a field of the session's hash that
// every commit increments, or sets to 1 for a new session). The keys are
// the session's (store's CurationMarkKey and CurationGuardKey, under
// SessionKey), so the session's copy and deletion carry them; what is in
// them, and every operation on them, is this package's. docs/redis-keys.md
// has the whole key schema.

// CurationMark returns how many of the session's stored messages the
// curator has seen (0 when never curated).
func CurationMark(ctx context.Context, st *store.Store, sid string) (int, error) {
	if err := store.CheckID(sid); err != nil {
		return 0, err
	}
	return st.Count(ctx, st.SessionKey(sid, store.CurationMarkKey))
}

// curationDoneScript records a successful curation atomically: the mark
// only moves forward (KEYS[1] = mark, ARGV[1]) and the session's turns
// since curation (KEYS[2], field ARGV[3]) lose the turns the curation
// covered (ARGV[2]) without going below 0. Nothing is created for a session
// whose messages are gone (KEYS[3]).
var curationDoneScript = redis.NewScript(`
local ttl = redis.call('PTTL', KEYS[3])
if ttl == -2 then return 0 end
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) > cur then
  if ttl > 0 then redis.call('SET', KEYS[1], ARGV[1], 'PX', ttl) else redis.call('SET', KEYS[1], ARGV[1]) end
end
if redis.call('EXISTS', KEYS[2]) == 1 then
  local v = redis.call('HINCRBY', KEYS[2], ARGV[3], -tonumber(ARGV[2]))
  if v < 0 then redis.call('HSET', KEYS[2], ARGV[3], 0) end
end
return 1
`)

// CurationDone records a successful curation of the session: the curator
// has seen the first mark stored messages and covered turns turns.
func CurationDone(ctx context.Context, st *store.Store, sid string, mark, turns int) error {
	if err := store.CheckID(sid); err != nil {
		return err
	}
	keys := []string{st.SessionKey(sid, store.CurationMarkKey), st.SessionKey(sid, store.StateKey), st.SessionKey(sid, store.MessagesKey)}
	return st.Do(ctx, func(ctx context.Context, c redis.UniversalClient) error {
		return curationDoneScript.Run(ctx, c, keys, mark, turns, store.CurationField).Err()
	})
}

// AcquireCurationGuard takes the session's in-flight curation guard for
// token; false when another curation of the session holds it.
func AcquireCurationGuard(ctx context.Context, st *store.Store, sid, token string, ttl time.Duration) (bool, error) {
	if err := store.CheckID(sid); err != nil {
		return false, err
	}
	return st.AcquireGuard(ctx, st.SessionKey(sid, store.CurationGuardKey), token, ttl)
}

// ReleaseCurationGuard releases the session's curation guard if token
// still holds it.
func ReleaseCurationGuard(ctx context.Context, st *store.Store, sid, token string) error {
	if err := store.CheckID(sid); err != nil {
		return err
	}
	return st.ReleaseGuard(ctx, st.SessionKey(sid, store.CurationGuardKey), token)
}
