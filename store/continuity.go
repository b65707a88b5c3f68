package store

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"
)

// CopyHistory copies what a session continued by proof of history carries over
// (docs/sessions-and-identity.md, Continuity by proof of history) from session
// from to session to: the stored messages, the distillations (live,
// out-of-order and archived rows) and the watermarks (distilled-up-to and
// curated-up-to). It copies nothing else: not the credential, not the state
// hash (the caller's CommitTurn writes the new session's, without knowledge
// block, pending recall or costs), not the batch usage, not the in-flight
// guards. Every written key expires after ttl.
//
// The two sessions live in different hash slots, so this reads from's keys
// and writes to's in one MULTI on to's slot; to must be a new session (its
// keys are replaced). A concurrent distillation of from may land after the
// read: the copy is then one round behind, which the next distillation of
// to makes good.
func (s *Store) CopyHistory(ctx context.Context, from, to string, ttl time.Duration) error {
	if err := CheckID(from); err != nil {
		return err
	}
	if err := CheckID(to); err != nil {
		return err
	}
	if from == to {
		return errors.New("store: CopyHistory onto itself")
	}
	if ttl <= 0 {
		ttl = DefaultRetention
	}
	return s.do(ctx, func(ctx context.Context, c redis.UniversalClient) error {
		var (
			msgs                 *redis.StringSliceCmd
			distMark, knMark     *redis.StringCmd
			rows, ahead, archive *redis.MapStringStringCmd
			aheadIdx             *redis.ZSliceCmd
		)
		if _, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
			msgs = p.LRange(ctx, s.keys.msgs(from), 0, -1)
			distMark = p.Get(ctx, s.keys.distMark(from))
			knMark = p.Get(ctx, s.keys.knMark(from))
			rows = p.HGetAll(ctx, s.keys.distRows(from))
			ahead = p.HGetAll(ctx, s.keys.distAhead(from))
			archive = p.HGetAll(ctx, s.keys.distArchive(from))
			aheadIdx = p.ZRangeWithScores(ctx, s.keys.distAheadIdx(from), 0, -1)
			return nil
		}); err != nil && !errors.Is(err, redis.Nil) {
			return err
		}
		// Pipelined reports only the first failure; a missing mark (redis.Nil)
		// is no failure, anything else on any read is.
		for _, cmd := range []redis.Cmder{msgs, distMark, knMark, rows, ahead, archive, aheadIdx} {
			if err := cmd.Err(); err != nil && !errors.Is(err, redis.Nil) {
				return err
			}
		}
		_, err := c.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.Del(ctx, s.keys.msgs(to), s.keys.distMark(to), s.keys.knMark(to), s.keys.distRows(to),
				s.keys.distAhead(to), s.keys.distArchive(to), s.keys.distAheadIdx(to))
			if v := msgs.Val(); len(v) > 0 {
				args := make([]any, len(v))
				for i := range v {
					args[i] = v[i]
				}
				p.RPush(ctx, s.keys.msgs(to), args...)
				p.Expire(ctx, s.keys.msgs(to), ttl)
			}
			for key, v := range map[string]*redis.StringCmd{s.keys.distMark(to): distMark, s.keys.knMark(to): knMark} {
				if v.Err() == nil {
					p.Set(ctx, key, v.Val(), ttl)
				}
			}
			for key, v := range map[string]map[string]string{s.keys.distRows(to): rows.Val(),
				s.keys.distAhead(to): ahead.Val(), s.keys.distArchive(to): archive.Val()} {
				if len(v) > 0 {
					p.HSet(ctx, key, v)
					p.Expire(ctx, key, ttl)
				}
			}
			if z := aheadIdx.Val(); len(z) > 0 {
				p.ZAdd(ctx, s.keys.distAheadIdx(to), z...)
				p.Expire(ctx, s.keys.distAheadIdx(to), ttl)
			}
			return nil
		})
		return err
	})
}
