package batching

import (
	"testing"

	"github.com/caddy-lore/caddy-lore/pricing"
)

func TestSessionCost(t *testing.T) {
	// Opus 4.7 batched, the worker's cache writes at the 1-hour rate:
	// 0.5× of (1000·5000 + 10·25000 + 100·500 + 10·10000) = 2,700,000 n$;
	// the same calls unbatched cost twice that.
	b := map[string]BatchedUsage{"claude-opus-4-7": {Calls: 2, Usage: pricing.Usage{InputTokens: 1000, OutputTokens: 10, CacheReadTokens: 100, CacheWriteTokens: 10, CacheWrite1hTokens: 10}}}
	if a, c := SessionCost(b); a != 2700 || c != 5400 {
		t.Fatalf("batch: %d / %d", a, c)
	}
	if a, c := SessionCost(nil); a != 0 || c != 0 {
		t.Fatalf("no calls: %d / %d", a, c)
	}
}
