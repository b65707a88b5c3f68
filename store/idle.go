package store

import (
	"context"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// idleWrites arms the session in the active set at its last request and,
// once per second of last-request time (per Store), drops members older than
// the retention (sessions that expired without being claimed, e.g. with idle
// work off), so the set stays bounded by the sessions alive. A session
// without a last-request time is not armed.
func (s *Store) idleWrites(ctx context.Context, p redis.Pipeliner, sess *Session, ttl time.Duration) {
	if sess.LastRequest.IsZero() {
		return
	}
	last := sess.LastRequest.UnixMilli()
	p.ZAdd(ctx, s.keys.idleActive(), redis.Z{Score: float64(last), Member: sess.ID})
	if s.idleTrim.due(last) {
		p.ZRemRangeByScore(ctx, s.keys.idleActive(), "-inf", "("+strconv.FormatInt(last-ttl.Milliseconds(), 10))
	}
}

// trimClock lets one commit per second trim the active set: the trim is
// the same for every commit of that second, and sending it with each one
// was a command per turn that a busy gateway paid thousands of times a
// second (docs/benchmarks.md).
type trimClock struct{ second atomic.Int64 }

// due reports whether a commit at unix ms last is the first of its second
// and claims that second. Any other second than the last claimed one is
// due, not only a later one: after a clock stepped back (or one commit
// from a clock far ahead) the trim resumes at once; commits of neighbouring
// seconds arriving out of order only trim a little more often.
func (c *trimClock) due(last int64) bool {
	sec := last / 1000
	prev := c.second.Load()
	return sec != prev && c.second.CompareAndSwap(prev, sec)
}
