package store

import (
	"context"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"
)

// The indexes a turn's session is found through: its lineage (inside a
// namespace) and its origin (across namespaces, for continuity by proof of
// history). Both map session id → message count of its last request.

// Candidates returns the sessions of a lineage with their message counts.
// An empty lineage has none. Entries may name expired sessions (see keys.go).
func (s *Store) Candidates(ctx context.Context, lineage string) (map[string]int, error) {
	return s.counts(ctx, lineage, s.keys.lineage)
}

// counts reads the session id → message count hash named lineage (a
// lineage or an origin; none for "").
func (s *Store) counts(ctx context.Context, lineage string, keyOf func(string) string) (map[string]int, error) {
	if lineage == "" {
		return nil, nil
	}
	if err := CheckID(lineage); err != nil {
		return nil, err
	}
	key := keyOf(lineage)
	var raw map[string]string
	err := s.do(ctx, func(ctx context.Context, c redis.UniversalClient) error {
		var err error
		raw, err = c.HGetAll(ctx, key).Result()
		return err
	})
	if err != nil {
		return nil, err
	}
	return parseCounts(lineage, raw)
}

// parseCounts decodes a lineage (or origin) hash's message counts.
func parseCounts(lineage string, raw map[string]string) (map[string]int, error) {
	out := make(map[string]int, len(raw))
	for sid, v := range raw {
		n, err := strconv.Atoi(v)
		if err != nil {
			return nil, fmt.Errorf("store: lineage %s: count of %s is not a number", lineage, sid)
		}
		out[sid] = n
	}
	return out, nil
}
