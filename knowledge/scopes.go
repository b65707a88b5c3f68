package knowledge

import (
	"context"
	"sync"
	"time"

	"github.com/caddy-lore/caddy-lore/store"
)

// Choosing a block reads a project's and the global entries. Every new
// session does, and a team's sessions start all day on the same few
// projects whose entries change only when a curation lands, so the reads
// are cached in process for a short while: a block chosen from entries up
// to scopeTTL old is as good as a fresh one (it is chosen once per session
// anyway). Curations applied by this instance drop their project's entry.
const (
	scopeTTL     = 30 * time.Second
	scopeEntries = 1024
)

type scopeKey struct{ ns, project string }

type scopeEntry struct {
	own, global []Entry
	at          time.Time
}

// scopeCache is a bounded, short-lived cache of readScopes reads.
type scopeCache struct {
	mu      sync.Mutex
	entries map[scopeKey]scopeEntry
}

// get returns the project's and the global entries, from the cache when
// fresh enough. The slices are shared: callers must not modify them.
func (c *scopeCache) get(ctx context.Context, st *store.Store, ns, project string, now time.Time) (own, global []Entry, err error) {
	k := scopeKey{ns, project}
	c.mu.Lock()
	e, ok := c.entries[k]
	c.mu.Unlock()
	if ok && now.Sub(e.at) < scopeTTL {
		return e.own, e.global, nil
	}
	own, global, err = readScopes(ctx, st, ns, project)
	if err != nil {
		return nil, nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = map[scopeKey]scopeEntry{}
	}
	if len(c.entries) >= scopeEntries {
		for old, v := range c.entries { // drop what has expired, else anything
			if now.Sub(v.at) >= scopeTTL || len(c.entries) >= scopeEntries {
				delete(c.entries, old)
			}
			if len(c.entries) < scopeEntries/2 {
				break
			}
		}
	}
	c.entries[k] = scopeEntry{own, global, now}
	return own, global, nil
}

// drop forgets a namespace's cached reads of project and of the global
// entries (a curation or consolidation just changed them).
func (c *scopeCache) drop(ns, project string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range c.entries {
		if k.ns == ns && (k.project == project || project == GlobalProject) {
			delete(c.entries, k)
		}
	}
}
