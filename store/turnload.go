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
	// its state has expired; HintedRows its live distillations, as
	// Distillations returns them.
	Hinted     *Session
	HintedRows []DistillRow
}

// LoadTurn reads the lineage's sessions, the origin's when origin is not
// "", and, when hint names a session, that session's state and distillation
// rows, in one pipelined round trip (on a
// cluster, go-redis sends the pipeline's commands to their nodes at once).
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
	err := s.do(ctx, func(ctx context.Context, c redis.UniversalClient) error {
		cmds, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
			lin = p.HGetAll(ctx, s.keys.lineage(lineage))
			if origin != "" {
				orig = p.HGetAll(ctx, s.keys.origin(origin))
			}
			if hint != "" {
				state = p.HGetAll(ctx, s.keys.state(hint))
				rows = p.HGetAll(ctx, s.keys.distRows(hint))
			}
			return nil
		})
		for _, cmd := range cmds {
			if cmd.Err() != nil && !errors.Is(cmd.Err(), redis.Nil) {
				return cmd.Err()
			}
		}
		return err
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
	if out.HintedRows, err = decodeRows(hint, rows.Val(), false); err != nil {
		return TurnLoad{}, err
	}
	return out, nil
}
