package store

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"
)

// Helpers for features' per-session keys: in-flight guards (a token held
// in a string key, SET NX PX, released only by its holder: knowledge's
// curation and consolidation guards) and watermarks (a count kept in a
// string key: distillation's and curation's).

// Count reads a count kept as a string key (a watermark); a missing key is
// 0. key is a full key (Key, SessionKey).
func (s *Store) Count(ctx context.Context, key string) (int, error) {
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
