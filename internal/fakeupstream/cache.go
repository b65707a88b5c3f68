package fakeupstream

import (
	"crypto/sha256"
	"sync"
	"time"
)

// cacheLookback is how many positions before a breakpoint are checked for
// an earlier write (the real API's 20-block lookback).
const cacheLookback = 20

// cacheUsage is the input side of a Usage.
type cacheUsage struct {
	Input      int // after the last breakpoint (or after the read, if beyond)
	Read       int // cache_read_input_tokens
	Creation   int // cache_creation_input_tokens = Creation5m + Creation1h
	Creation5m int
	Creation1h int
}

type cacheKey struct {
	cred string
	hash [32]byte
}

type cacheEntry struct {
	expires time.Time
	ttl     time.Duration
}

// promptCache simulates Anthropic's prompt cache.
//
// The prompt is a list of units in prefix order tools → system → messages
// (see flatten). Position i has hash h_i = sha256(h_{i-1} | section | role |
// message-start | canonical JSON of unit i), seeded with the model, so a hash
// names the whole prefix 0..i; cache_control itself is not part of it, and a
// string content equals a single text block. Units carrying cache_control are
// breakpoints. For a request:
//
//   - read: the highest position p, within the 20 positions up to some
//     breakpoint, whose prefix was written earlier by the same credential and
//     has not expired; its TTL is refreshed. Read = tokens(0..p).
//   - write: every breakpoint after p is written with its TTL (5m default,
//     or 1h). Creation = tokens(0..last breakpoint) − Read, split as 1h =
//     tokens(0..highest 1h breakpoint after p) − Read, 5m = the rest.
//   - Input = tokens(all) − tokens(0..max(p, last breakpoint)).
//
// tokens(0..i) = ceil(chars(0..i)/4), so Input+Read+Creation equals
// EstimateTokens. There is no minimum cacheable length.
type promptCache struct {
	mu      sync.Mutex
	entries map[cacheKey]cacheEntry
	writes  int
}

func newPromptCache() *promptCache {
	return &promptCache{entries: make(map[cacheKey]cacheEntry)}
}

// prefixHashes returns h_i for every unit.
func prefixHashes(model string, units []unit) [][32]byte {
	out := make([][32]byte, len(units))
	prev := sha256.Sum256([]byte("fakeupstream-cache|" + model))
	h := sha256.New()
	for i, u := range units {
		h.Reset()
		h.Write(prev[:])
		h.Write([]byte(u.section))
		h.Write([]byte{0})
		h.Write([]byte(u.role))
		if u.msgStart {
			h.Write([]byte{0, 'S'})
		} else {
			h.Write([]byte{0, '-'})
		}
		h.Write(u.canon)
		h.Sum(out[i][:0])
		prev = out[i]
	}
	return out
}

// account computes usage for a request by cred and updates the cache;
// hashes are prefixHashes(model, units).
func (c *promptCache) account(cred string, units []unit, hashes [][32]byte, now time.Time) cacheUsage {
	cum := make([]int, len(units))
	sum := 0
	var bps []int
	for i, u := range units {
		sum += u.weight
		cum[i] = sum
		if u.ttl > 0 {
			bps = append(bps, i)
		}
	}
	total := tokensOf(sum)
	if len(bps) == 0 {
		return cacheUsage{Input: total}
	}
	tok := func(i int) int {
		if i < 0 {
			return 0
		}
		return tokensOf(cum[i])
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	p := -1
search:
	for k := len(bps) - 1; k >= 0; k-- {
		b := bps[k]
		for i := b; i >= 0 && i > b-cacheLookback; i-- {
			key := cacheKey{cred, hashes[i]}
			if e, ok := c.entries[key]; ok && now.Before(e.expires) {
				p = i
				e.expires = now.Add(e.ttl)
				c.entries[key] = e
				break search
			}
		}
	}
	u := cacheUsage{Read: tok(p)}
	last := bps[len(bps)-1]
	if last > p {
		u.Creation = tok(last) - u.Read
		for k := len(bps) - 1; k >= 0 && bps[k] > p; k-- {
			if units[bps[k]].ttl >= time.Hour {
				u.Creation1h = tok(bps[k]) - u.Read
				break
			}
		}
		u.Creation5m = u.Creation - u.Creation1h
		for _, b := range bps {
			if b <= p {
				continue
			}
			key := cacheKey{cred, hashes[b]}
			exp := now.Add(units[b].ttl)
			if e, ok := c.entries[key]; !ok || e.expires.Before(exp) {
				c.entries[key] = cacheEntry{expires: exp, ttl: units[b].ttl}
			}
			c.writes++
		}
		c.sweep(now)
	}
	u.Input = total - tok(max(p, last))
	return u
}

// sweep drops expired entries every 4096 writes, bounding memory.
func (c *promptCache) sweep(now time.Time) {
	if c.writes < 4096 {
		return
	}
	c.writes = 0
	for k, e := range c.entries {
		if !now.Before(e.expires) {
			delete(c.entries, k)
		}
	}
}
