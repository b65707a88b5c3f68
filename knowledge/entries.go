package knowledge

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/caddy-lore/caddy-lore/store"
)

// Long-term knowledge in Redis: entries per credential namespace (one person
// or one service key) and, inside it, per project; never shared across
// namespaces. The per-session curation state (watermark, guard, the session's
// knowledge block) is part of the session and lives in store/ with it
// (store/keys_knowledge.go). docs/redis-keys.md has the whole key schema.
//
//	key                              type    content                                    TTL
//	<p>kn:{<ns>.<project>}:entries   hash    entry id → Entry JSON                      the retention, refreshed on every
//	                                         (<project> "global" for cross-project)     curation or consolidation
//	<p>kn:{<ns>.<project>}:guard     string  in-flight consolidation token (SET NX PX)  the guard TTL

// GlobalProject is the project name of cross-project knowledge.
const GlobalProject = "global"

func entriesKey(st *store.Store, ns, project string) string {
	return st.Key("kn:{" + ns + "." + project + "}:entries")
}

func consolidationKey(st *store.Store, ns, project string) string {
	return st.Key("kn:{" + ns + "." + project + "}:guard")
}

// Entry is one piece of durable project knowledge written by the curator
// (docs/knowledge-and-recall.md, Long-term knowledge).
type Entry struct {
	ID         string  `json:"id"`
	Project    string  `json:"project"` // GlobalProject for cross-project entries
	Category   string  `json:"category"`
	Title      string  `json:"title"`
	Content    string  `json:"content"`
	Confidence float64 `json:"confidence"`
	CreatedAt  int64   `json:"created"` // unix ms
	UpdatedAt  int64   `json:"updated"` // unix ms
}

// Entries returns a project's entries, by confidence then most recently
// updated first.
func Entries(ctx context.Context, st *store.Store, ns, project string) ([]Entry, error) {
	if err := checkScope(ns, project); err != nil {
		return nil, err
	}
	var raw map[string]string
	err := st.Do(ctx, func(ctx context.Context, c redis.UniversalClient) error {
		var err error
		raw, err = c.HGetAll(ctx, entriesKey(st, ns, project)).Result()
		return err
	})
	if err != nil {
		return nil, err
	}
	return decodeEntries(raw), nil
}

// decodeEntries reads entries, by confidence then most recently updated
// first; an unreadable one is skipped, not fatal to the others.
func decodeEntries(raw map[string]string) []Entry {
	out := make([]Entry, 0, len(raw))
	for _, v := range raw {
		var e Entry
		if json.Unmarshal([]byte(v), &e) != nil || e.ID == "" {
			continue
		}
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b Entry) int {
		return cmp.Or(cmp.Compare(b.Confidence, a.Confidence), cmp.Compare(b.UpdatedAt, a.UpdatedAt), cmp.Compare(a.ID, b.ID))
	})
	return out
}

// readScopes returns a project's entries and the namespace's global ones
// in one round trip (a new session's first turn reads both).
func readScopes(ctx context.Context, st *store.Store, ns, project string) (own, global []Entry, err error) {
	if err := checkScope(ns, project); err != nil {
		return nil, nil, err
	}
	var a, b *redis.MapStringStringCmd
	err = st.Do(ctx, func(ctx context.Context, c redis.UniversalClient) error {
		_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
			a = p.HGetAll(ctx, entriesKey(st, ns, project))
			b = p.HGetAll(ctx, entriesKey(st, ns, GlobalProject))
			return nil
		})
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	return decodeEntries(a.Val()), decodeEntries(b.Val()), nil
}

// Change is a set of writes to one project's entries.
type Change struct {
	Put    []Entry
	Delete []string
}

// Apply writes a change to a project's entries in one transaction and
// refreshes their TTL (even for an empty change: the project is in use).
func Apply(ctx context.Context, st *store.Store, ns, project string, ch Change, ttl time.Duration) error {
	if err := checkScope(ns, project); err != nil {
		return err
	}
	if ttl <= 0 {
		ttl = store.DefaultRetention
	}
	key := entriesKey(st, ns, project)
	fields := make([]any, 0, 2*len(ch.Put))
	for i := range ch.Put {
		b, err := json.Marshal(&ch.Put[i])
		if err != nil {
			return fmt.Errorf("knowledge: entry: %w", err)
		}
		fields = append(fields, ch.Put[i].ID, b)
	}
	return st.Do(ctx, func(ctx context.Context, c redis.UniversalClient) error {
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

// checkScope validates the parts of a knowledge key.
func checkScope(ns, project string) error {
	if err := store.CheckID(ns); err != nil {
		return err
	}
	return store.CheckID(project)
}

// acquireConsolidation takes a project's consolidation guard for token;
// false when a consolidation of the project is in flight.
func acquireConsolidation(ctx context.Context, st *store.Store, ns, project, token string, ttl time.Duration) (bool, error) {
	if err := checkScope(ns, project); err != nil {
		return false, err
	}
	return st.AcquireGuard(ctx, consolidationKey(st, ns, project), token, ttl)
}

// releaseConsolidation releases a project's consolidation guard if token
// still holds it.
func releaseConsolidation(ctx context.Context, st *store.Store, ns, project, token string) error {
	if err := checkScope(ns, project); err != nil {
		return err
	}
	return st.ReleaseGuard(ctx, consolidationKey(st, ns, project), token)
}
