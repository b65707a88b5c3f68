package handler

import (
	"container/list"
	"sync"

	"github.com/caddy-lore/caddy-lore/msg"
)

// Bounds of the decoded-conversation cache (Config.DecodeCacheBytes).
const (
	defaultDecodeCacheBytes = 64 << 20
	decodeCacheEntries      = 256
	// Conversations shorter than this are not kept: they decode in
	// microseconds, and utility calls would only churn the cache.
	decodeCacheMinMessages = 8
)

// decodedCache keeps the last decode of recent conversations (with the body
// it points into), so the next turn of a conversation decodes only what
// changed (msg.DecodeArray). It is a cache and nothing more: every message
// taken over from it is verified byte for byte against the new request, so a
// stale, evicted or foreign entry costs a decode, never a wrong answer, and
// instances sharing Redis need not agree on it. It is owned by one Handler and
// bounded by entries and bytes, least recently used out first.
type decodedCache struct {
	maxBytes, maxEntries int

	mu    sync.Mutex
	bytes int
	order *list.List // of *decodedEntry, most recently used first
	byKey map[string]*list.Element
}

type decodedEntry struct {
	key  string
	d    *msg.Decoded
	size int
}

func newDecodedCache(maxBytes, maxEntries int) *decodedCache {
	return &decodedCache{maxBytes: maxBytes, maxEntries: maxEntries, order: list.New(), byKey: map[string]*list.Element{}}
}

// get returns the entry under key, nil if none.
func (c *decodedCache) get(key string) *msg.Decoded {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.byKey[key]
	if !ok {
		return nil
	}
	c.order.MoveToFront(el)
	return el.Value.(*decodedEntry).d
}

// put stores d under key, replacing what was there; size is what it holds
// in memory. An entry larger than a quarter of the bound is not kept: it
// would evict most of the others for one conversation.
func (c *decodedCache) put(key string, d *msg.Decoded, size int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.byKey[key]; ok {
		c.remove(el)
	}
	if size > c.maxBytes/4 {
		return
	}
	c.byKey[key] = c.order.PushFront(&decodedEntry{key: key, d: d, size: size})
	c.bytes += size
	for c.bytes > c.maxBytes || c.order.Len() > c.maxEntries {
		c.remove(c.order.Back())
	}
}

func (c *decodedCache) remove(el *list.Element) {
	e := c.order.Remove(el).(*decodedEntry)
	delete(c.byKey, e.key)
	c.bytes -= e.size
}

// stats returns the number of entries and the bytes they hold.
func (c *decodedCache) stats() (entries, bytes int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len(), c.bytes
}
