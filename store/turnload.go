package store

import (
	"context"
	"errors"

	"github.com/redis/go-redis/v9"
)

// TurnLoad is what a turn reads before it is forwarded, in one round trip:
// its lineage's sessions, its origin's (for continuity by proof of history)
// and, for the session the instance expects the turn to continue (the hint),
// that session's state and live distillations.
type TurnLoad struct {
	Candidates map[string]int // session id → message count, as Candidates
	Origins    map[string]int // as Origins; nil without an origin
	// Hinted is the hinted session's state, nil when there was no hint or
	// its state has expired. HintedRows is then its live distillations as
	// stored (the HGETALL of dist:rows: row id → row JSON), which package
	// distill owns and decodes (distill.DecodeRows); nil when Hinted is.
	Hinted     *Session
	HintedRows map[string]string
}

// LoadTurn reads the lineage's sessions, the origin's when origin is not
// "", and, when hint names a session, that session's state and distillation
// rows, in one pipelined round trip, shared with the turns that read at the
// same time on a single node or sentinel (group.go); on a cluster, go-redis
// sends the pipeline's commands to their nodes at once.
// The caller still chooses among Candidates: the hint only saves the second
// and third round trips when it chose right, which is every turn of a
// conversation that stays on one instance.
func (s *Store) LoadTurn(ctx context.Context, lineage, origin, hint string) (TurnLoad, error) {
	var out TurnLoad
	for _, id := range []string{lineage, origin, hint} {
		if err := CheckID(id); id != "" && err != nil {
			return out, err
		}
	}
	if lineage == "" {
		return out, errors.New("store: LoadTurn without a lineage")
	}
	var lin, orig, state, rows *redis.MapStringStringCmd
	err := s.readGrouped(ctx, func(ctx context.Context, p redis.Pipeliner) {
		lin = p.HGetAll(ctx, s.keys.lineage(lineage))
		if origin != "" {
			orig = p.HGetAll(ctx, s.keys.origin(origin))
		}
		if hint != "" {
			state = p.HGetAll(ctx, s.keys.state(hint))
			rows = p.HGetAll(ctx, s.keys.distRows(hint))
		}
	})
	if err != nil {
		return out, err
	}
	if out.Candidates, err = parseCounts(lineage, lin.Val()); err != nil {
		return TurnLoad{}, err
	}
	if origin != "" {
		if out.Origins, err = parseCounts(origin, orig.Val()); err != nil {
			return TurnLoad{}, err
		}
	}
	if hint == "" || len(state.Val()) == 0 {
		return out, nil
	}
	if out.Hinted, err = decodeSession(hint, state.Val()); err != nil {
		return TurnLoad{}, err
	}
	out.HintedRows = rows.Val()
	return out, nil
}

// readGrouped sends read's commands in the next group of turn reads (one
// pipeline) on a single node or sentinel, alone in a pipeline on a
// cluster, and returns the first error of its own commands (a missing key's
// redis.Nil is not one) or of the round trip. A grouped read is not
// cancelled by its caller (the group is shared); its deadline, or the
// operation timeout, bounds it, and a caller that gives up gets ctx's error
// at once.
func (s *Store) readGrouped(ctx context.Context, read func(context.Context, redis.Pipeliner)) error {
	if s == nil || s.isClosed() {
		return ErrClosed
	}
	send := s.e.sender(false)
	if s.e.cluster {
		cmds, err := send(ctx, func(p redis.Pipeliner) { read(ctx, p) })
		if ferr := firstErr(cmds); ferr != nil && !errors.Is(err, ErrUnavailable) {
			return ferr
		}
		return err
	}
	return s.e.reads.run(ctx, read, nil, send)
}
