package store

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"
)

// A session's curation state (keys in keys_knowledge.go): the curation
// watermark, the in-flight curation guard and the turns since the last
// curation. It is part of the session (CopyHistory copies it, DeleteSession
// removes it); the knowledge entries themselves are package knowledge's.

// CurationMark returns how many of the session's stored messages the
// curator has seen (0 when never curated).
func (s *Store) CurationMark(ctx context.Context, sid string) (int, error) {
	if err := CheckID(sid); err != nil {
		return 0, err
	}
	return s.mark(ctx, s.keys.knMark(sid))
}

// mark reads a count kept as a string key (a watermark); a missing key is 0.
func (s *Store) mark(ctx context.Context, key string) (int, error) {
	var n int
	err := s.do(ctx, func(ctx context.Context, c redis.UniversalClient) error {
		var err error
		n, err = c.Get(ctx, key).Int()
		if errors.Is(err, redis.Nil) {
			n, err = 0, nil
		}
		return err
	})
	return n, err
}

// curationDoneScript records a successful curation atomically: the mark
// only moves forward (KEYS[1] = mark, ARGV[1]) and turns_since_curation
// loses the turns the curation covered (ARGV[2]) without going below 0.
// Nothing is created for a session whose messages are gone (KEYS[3]).
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
func (s *Store) CurationDone(ctx context.Context, sid string, mark, turns int) error {
	if err := CheckID(sid); err != nil {
		return err
	}
	return s.do(ctx, func(ctx context.Context, c redis.UniversalClient) error {
		return curationDoneScript.Run(ctx, c,
			[]string{s.keys.knMark(sid), s.keys.state(sid), s.keys.msgs(sid)},
			mark, turns, fCuration).Err()
	})
}

// AcquireCurationGuard takes the session's in-flight curation guard for
// token; false when another curation of the session holds it.
func (s *Store) AcquireCurationGuard(ctx context.Context, sid, token string, ttl time.Duration) (bool, error) {
	if err := CheckID(sid); err != nil {
		return false, err
	}
	return s.AcquireGuard(ctx, s.keys.knGuard(sid), token, ttl)
}

// ReleaseCurationGuard releases the session's curation guard if token
// still holds it.
func (s *Store) ReleaseCurationGuard(ctx context.Context, sid, token string) error {
	if err := CheckID(sid); err != nil {
		return err
	}
	return s.ReleaseGuard(ctx, s.keys.knGuard(sid), token)
}

// AcquireGuard takes the guard key for token (SET NX with ttl): false when
// another holder has it. key is a full key (Key, SessionKey); features use it
// for their in-flight guards.
func (s *Store) AcquireGuard(ctx context.Context, key, token string, ttl time.Duration) (bool, error) {
	var ok bool
	err := s.do(ctx, func(ctx context.Context, c redis.UniversalClient) error {
		var err error
		ok, err = c.SetNX(ctx, key, token, ttl).Result()
		return err
	})
	return ok, err
}

var releaseGuardScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)

// ReleaseGuard releases the guard key if token still holds it.
func (s *Store) ReleaseGuard(ctx context.Context, key, token string) error {
	return s.do(ctx, func(ctx context.Context, c redis.UniversalClient) error {
		return releaseGuardScript.Run(ctx, c, []string{key}, token).Err()
	})
}

// MessageLen returns how many messages the session has stored (list
// entries, the index space of marks and watermarks).
func (s *Store) MessageLen(ctx context.Context, sid string) (int, error) {
	if err := CheckID(sid); err != nil {
		return 0, err
	}
	var n int64
	err := s.do(ctx, func(ctx context.Context, c redis.UniversalClient) error {
		var err error
		n, err = c.LLen(ctx, s.keys.msgs(sid)).Result()
		return err
	})
	return int(n), err
}
