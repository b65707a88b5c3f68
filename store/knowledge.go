package store

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/redis/go-redis/v9"
)

// Long-term knowledge storage (keys in keys_knowledge.go): entries per
// credential namespace and project, and per session the curation watermark,
// the in-flight curation guard and the cached knowledge block.

// KnowledgeEntry is one piece of durable project knowledge written by the
// curator (docs/knowledge-and-recall.md, Long-term knowledge).
type KnowledgeEntry struct {
	ID         string  `json:"id"`
	Project    string  `json:"project"` // GlobalProject for cross-project entries
	Category   string  `json:"category"`
	Title      string  `json:"title"`
	Content    string  `json:"content"`
	Confidence float64 `json:"confidence"`
	CreatedAt  int64   `json:"created"` // unix ms
	UpdatedAt  int64   `json:"updated"` // unix ms
}

// KnowledgeEntries returns a project's entries, by confidence then most
// recently updated first.
func (s *Store) KnowledgeEntries(ctx context.Context, ns, project string) ([]KnowledgeEntry, error) {
	if err := checkKnowledgeScope(ns, project); err != nil {
		return nil, err
	}
	raw, err := s.hashAll(ctx, func(k keys) string { return k.knowledge(ns, project) })
	if err != nil {
		return nil, err
	}
	return decodeEntries(raw), nil
}

// decodeEntries reads entries, by confidence then most recently updated
// first; an unreadable one is skipped, not fatal to the others.
func decodeEntries(raw map[string]string) []KnowledgeEntry {
	out := make([]KnowledgeEntry, 0, len(raw))
	for _, v := range raw {
		var e KnowledgeEntry
		if json.Unmarshal([]byte(v), &e) != nil || e.ID == "" {
			continue
		}
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b KnowledgeEntry) int {
		if c := cmp.Compare(b.Confidence, a.Confidence); c != 0 {
			return c
		}
		if c := cmp.Compare(b.UpdatedAt, a.UpdatedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return out
}

// KnowledgeScopes returns a project's entries and the namespace's global
// ones in one round trip (a new session's first turn reads both).
func (s *Store) KnowledgeScopes(ctx context.Context, ns, project string) (own, global []KnowledgeEntry, err error) {
	if err := checkKnowledgeScope(ns, project); err != nil {
		return nil, nil, err
	}
	var a, b *redis.MapStringStringCmd
	err = s.do(ctx, func(ctx context.Context, c redis.UniversalClient) error {
		_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
			a = p.HGetAll(ctx, s.keys.knowledge(ns, project))
			b = p.HGetAll(ctx, s.keys.knowledge(ns, GlobalProject))
			return nil
		})
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	return decodeEntries(a.Val()), decodeEntries(b.Val()), nil
}

// KnowledgeChange is a set of writes to one project's entries.
type KnowledgeChange struct {
	Put    []KnowledgeEntry
	Delete []string
}

// ApplyKnowledge writes a change to a project's entries in one transaction
// and refreshes their TTL (even for an empty change: the project is in use).
func (s *Store) ApplyKnowledge(ctx context.Context, ns, project string, ch KnowledgeChange, ttl time.Duration) error {
	if err := checkKnowledgeScope(ns, project); err != nil {
		return err
	}
	if ttl <= 0 {
		ttl = DefaultRetention
	}
	key := s.keys.knowledge(ns, project)
	fields := make([]any, 0, 2*len(ch.Put))
	for i := range ch.Put {
		b, err := json.Marshal(&ch.Put[i])
		if err != nil {
			return fmt.Errorf("store: knowledge entry: %w", err)
		}
		fields = append(fields, ch.Put[i].ID, b)
	}
	return s.do(ctx, func(ctx context.Context, c redis.UniversalClient) error {
		_, err := c.TxPipelined(ctx, func(p redis.Pipeliner) error {
			if len(ch.Delete) > 0 {
				p.HDel(ctx, key, ch.Delete...)
			}
			if len(fields) > 0 {
				p.HSet(ctx, key, fields...)
			}
			p.Expire(ctx, key, ttl)
			return nil
		})
		return err
	})
}

// checkKnowledgeScope validates the parts of a knowledge key.
func checkKnowledgeScope(ns, project string) error {
	if err := CheckID(ns); err != nil {
		return err
	}
	return CheckID(project)
}

// CurationMark returns how many of the session's stored messages the
// curator has seen (0 when never curated).
func (s *Store) CurationMark(ctx context.Context, sid string) (int, error) {
	if err := CheckID(sid); err != nil {
		return 0, err
	}
	return s.mark(ctx, s.keys.knMark(sid))
}

// curationDoneScript records a successful curation atomically: the mark
// only moves forward (KEYS[1] = mark, ARGV[1]) and turns_since_curation
// loses the turns the curation covered (ARGV[2]) without going below 0.
// Nothing is created for a session whose messages are gone (KEYS[3]).
var curationDoneScript = redis.NewScript(`
local ttl = redis.call('PTTL', KEYS[3])
if ttl == -2 then return 0 end
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) > cur then
  if ttl > 0 then redis.call('SET', KEYS[1], ARGV[1], 'PX', ttl) else redis.call('SET', KEYS[1], ARGV[1]) end
end
if redis.call('EXISTS', KEYS[2]) == 1 then
  local v = redis.call('HINCRBY', KEYS[2], ARGV[3], -tonumber(ARGV[2]))
  if v < 0 then redis.call('HSET', KEYS[2], ARGV[3], 0) end
end
return 1
`)

// CurationDone records a successful curation of the session: the curator
// has seen the first mark stored messages and covered turns turns.
func (s *Store) CurationDone(ctx context.Context, sid string, mark, turns int) error {
	if err := CheckID(sid); err != nil {
		return err
	}
	return s.do(ctx, func(ctx context.Context, c redis.UniversalClient) error {
		return curationDoneScript.Run(ctx, c,
			[]string{s.keys.knMark(sid), s.keys.state(sid), s.keys.msgs(sid)},
			mark, turns, fCuration).Err()
	})
}

// AcquireCurationGuard takes the session's in-flight curation guard for
// token; false when another curation of the session holds it.
func (s *Store) AcquireCurationGuard(ctx context.Context, sid, token string, ttl time.Duration) (bool, error) {
	if err := CheckID(sid); err != nil {
		return false, err
	}
	return s.acquireGuard(ctx, s.keys.knGuard(sid), token, ttl)
}

// ReleaseCurationGuard releases the session's curation guard if token
// still holds it.
func (s *Store) ReleaseCurationGuard(ctx context.Context, sid, token string) error {
	if err := CheckID(sid); err != nil {
		return err
	}
	return s.releaseGuard(ctx, s.keys.knGuard(sid), token)
}

// AcquireConsolidationGuard takes a project's consolidation guard for
// token; false when a consolidation of the project is in flight.
func (s *Store) AcquireConsolidationGuard(ctx context.Context, ns, project, token string, ttl time.Duration) (bool, error) {
	if err := checkKnowledgeScope(ns, project); err != nil {
		return false, err
	}
	return s.acquireGuard(ctx, s.keys.knConsolidation(ns, project), token, ttl)
}

// ReleaseConsolidationGuard releases a project's consolidation guard if
// token still holds it.
func (s *Store) ReleaseConsolidationGuard(ctx context.Context, ns, project, token string) error {
	if err := checkKnowledgeScope(ns, project); err != nil {
		return err
	}
	return s.releaseGuard(ctx, s.keys.knConsolidation(ns, project), token)
}

func (s *Store) acquireGuard(ctx context.Context, key, token string, ttl time.Duration) (bool, error) {
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

func (s *Store) releaseGuard(ctx context.Context, key, token string) error {
	return s.do(ctx, func(ctx context.Context, c redis.UniversalClient) error {
		return releaseGuardScript.Run(ctx, c, []string{key}, token).Err()
	})
}

// MessageLen returns how many messages the session has stored (list
// entries, the index space of marks and watermarks).
func (s *Store) MessageLen(ctx context.Context, sid string) (int, error) {
	if err := CheckID(sid); err != nil {
		return 0, err
	}
	var n int64
	err := s.do(ctx, func(ctx context.Context, c redis.UniversalClient) error {
		var err error
		n, err = c.LLen(ctx, s.keys.msgs(sid)).Result()
		return err
	})
	return int(n), err
}
