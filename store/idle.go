package store

import (
	"context"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// idleWrites arms the session in the active set at its last request and
// drops members older than the retention (sessions that expired without
// being claimed, e.g. with idle work off), so the set stays bounded by the
// sessions alive. A session without a last-request time is not armed.
func (s *Store) idleWrites(ctx context.Context, p redis.Pipeliner, sess *Session, ttl time.Duration) {
	if sess.LastRequest.IsZero() {
		return
	}
	last := sess.LastRequest.UnixMilli()
	p.ZAdd(ctx, s.keys.idleActive(), redis.Z{Score: float64(last), Member: sess.ID})
	p.ZRemRangeByScore(ctx, s.keys.idleActive(), "-inf", "("+strconv.FormatInt(last-ttl.Milliseconds(), 10))
}
