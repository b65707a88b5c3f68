package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Turn is everything one answered turn writes.
type Turn struct {
	Session    *Session        // written whole
	Messages   []StoredMessage // appended
	Credential []byte          // sealed credential blob; nil (or empty) leaves the stored one
	Retention  time.Duration   // TTL of every key of the session; 0 or less: DefaultRetention
	// New says the session has nothing stored yet (its first turn, not a
	// continuation): its curation counter is set to 1 in its HSET instead
	// of incremented, one command fewer. A New commit onto an existing hash
	// would reset the counter: set it only for a session identify created.
	New bool
	// Counters are other features' counters the turn adds to, in the
	// same round trip (its per-person usage, usage.Queue); a group commit
	// adds up its turns' (counters.go). On a cluster they follow with the
	// lineage writes, outside the session's slot and its MULTI.
	Counters []Increments
}

// CommitTurn writes the session hash, appends the messages, stores the
// credential blob, indexes the session under its lineage and arms its idle
// work (the active set of keys_idle.go, at t.Session.LastRequest), in one
// pipelined round trip, refreshing every TTL to t.Retention.
//
// On a single node or sentinel the whole write is one MULTI/EXEC: a turn is
// stored completely or not at all, and the hash's Stored never disagrees with
// the message list. In cluster mode the session's keys (one slot, thanks to
// the hash tag) are still one MULTI/EXEC, and the lineage key and the active
// set, which live in other slots, follow in a second pipeline.
//
// On success t.Session.TurnsSinceCuration is the curation counter as this
// commit left it (HINCRBY's answer; 1 for a Turn.New session, whose HSET
// sets it), not as the turn read it. When ctx ends
// while the commit waits for its group, CommitTurn returns ctx's error but
// the group may still store the turn (and set the counter) afterwards: the
// caller must not reuse t.Session then.
func (s *Store) CommitTurn(ctx context.Context, t Turn) error {
	if t.Session == nil {
		return errors.New("store: CommitTurn without a session")
	}
	sid := t.Session.ID
	if err := CheckID(sid); err != nil {
		return err
	}
	for _, l := range []string{t.Session.Lineage, t.Session.Origin} {
		if l != "" {
			if err := CheckID(l); err != nil {
				return err
			}
		}
	}
	msgs, err := encodeMessages(t.Messages)
	if err != nil {
		return fmt.Errorf("store: session %s: %w", sid, err)
	}
	// The encoded copies are all the commit needs: the messages may point
	// into a request body of tens of MB, which need not live on while the
	// commit waits for its group and Redis.
	t.Messages = nil
	ttl := t.Retention
	if ttl <= 0 {
		ttl = DefaultRetention
	}

	var curation *redis.IntCmd
	sessionWrites := func(ctx context.Context, p redis.Pipeliner) {
		fields := sessionFields(t.Session)
		if t.Session.KnowledgeChanged { // else the stored block stays
			fields = append(fields, fKnowledge, t.Session.Knowledge)
		}
		if t.New { // no hash yet: the curation counter starts at 1 in the HSET
			fields = append(fields, fCuration, 1)
		}
		p.HSet(ctx, s.keys.state(sid), fields...)
		if !t.New {
			curation = p.HIncrBy(ctx, s.keys.state(sid), fCuration, 1) // a counter, see Session
		}
		p.Expire(ctx, s.keys.state(sid), ttl)
		if len(msgs) > 0 {
			p.RPush(ctx, s.keys.msgs(sid), msgs...)
		}
		p.Expire(ctx, s.keys.msgs(sid), ttl)
		if len(t.Credential) > 0 {
			p.Set(ctx, s.keys.cred(sid), t.Credential, ttl)
		} else {
			p.Expire(ctx, s.keys.cred(sid), ttl)
		}
	}
	// The lineage and the idle set live in other slots than the session.
	otherSlotWrites := func(ctx context.Context, p redis.Pipeliner) {
		if l := t.Session.Lineage; l != "" {
			p.HSet(ctx, s.keys.lineage(l), sid, t.Session.MessageCount)
			p.Expire(ctx, s.keys.lineage(l), ttl)
		}
		if o := t.Session.Origin; o != "" {
			p.HSet(ctx, s.keys.origin(o), sid, t.Session.MessageCount)
			p.Expire(ctx, s.keys.origin(o), ttl)
		}
		s.idleWrites(ctx, p, t.Session, ttl)
	}
	if !s.e.cluster {
		err = s.commitGrouped(ctx, func(ctx context.Context, p redis.Pipeliner) {
			sessionWrites(ctx, p)
			otherSlotWrites(ctx, p)
		}, t.Counters)
	} else {
		err = s.commitCluster(ctx, sessionWrites, func(ctx context.Context, p redis.Pipeliner) {
			otherSlotWrites(ctx, p)
			QueueIncrements(ctx, p, t.Counters...)
		})
	}
	if err == nil && t.New {
		t.Session.TurnsSinceCuration = 1
	} else if err == nil && curation != nil {
		// The counter as this very commit left it: a curation that reset
		// it after this turn's state was read is already counted.
		t.Session.TurnsSinceCuration = int(curation.Val())
	}
	return err
}

// commitGrouped sends a commit's writes and counters in the next group
// commit.
func (s *Store) commitGrouped(ctx context.Context, write func(context.Context, redis.Pipeliner), counters []Increments) error {
	if s == nil || s.isClosed() {
		return ErrClosed
	}
	return s.e.commits.run(ctx, write, counters, s.e.sender(true))
}

// commitCluster writes the session's keys (one slot) in one MULTI/EXEC and
// then, in a second pipeline, the keys of other slots.
func (s *Store) commitCluster(ctx context.Context, sessionWrites, otherSlotWrites func(context.Context, redis.Pipeliner)) error {
	return s.do(ctx, func(ctx context.Context, c redis.UniversalClient) error {
		if _, err := c.TxPipelined(ctx, func(p redis.Pipeliner) error {
			sessionWrites(ctx, p)
			return nil
		}); err != nil {
			return err
		}
		_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
			otherSlotWrites(ctx, p)
			return nil
		})
		return err
	})
}
