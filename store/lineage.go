package store

import (
	"context"
	"fmt"
	"strconv"
)

// The indexes a turn's session is found through: its lineage (inside a
// namespace) and its origin (across namespaces, for continuity by proof of
// history). Both map session id → message count of its last request.

// Candidates returns the sessions of a lineage with their message counts.
// An empty lineage has none. Entries may name expired sessions (see keys.go).
func (s *Store) Candidates(ctx context.Context, lineage string) (map[string]int, error) {
	if lineage == "" {
		return nil, nil
	}
	if err := CheckID(lineage); err != nil {
		return nil, err
	}
	raw, err := s.hashAll(ctx, func(k keys) string { return k.lineage(lineage) })
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
