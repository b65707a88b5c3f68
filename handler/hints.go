package handler

import "sync"

// maxHints bounds the hint table: ~100 bytes an entry, so at most ~1 MB.
const maxHints = 10_000

// sessionHints remembers, per lineage, the session this instance last served,
// so the next turn can read that session's state and distillations in the
// same pipelined round trip as its lineage (store.LoadTurn). A hint is only a
// guess: the turn still chooses among the lineage's sessions, and a wrong or
// missing hint costs the round trips it would have saved. Bounded: when full
// it is emptied, and the next turn of each conversation refills it.
type sessionHints struct {
	mu sync.Mutex
	m  map[string]string // lineage → session id
}

func (s *sessionHints) get(lineage string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[lineage]
}

func (s *sessionHints) put(lineage, sessionID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil || len(s.m) >= maxHints {
		s.m = make(map[string]string)
	}
	s.m[lineage] = sessionID
}
