package handler

import (
	"github.com/caddy-lore/caddy-lore/gradient"
	"github.com/caddy-lore/caddy-lore/msg"
	"github.com/caddy-lore/caddy-lore/pricing"
)

// turnCost is the cost accounting of one answered turn, in micro-dollars
// (each figure computed exactly in nano-dollars, then rounded once).
//
// With P the model's price (pricing.For; unknown models at the Sonnet price),
// u the upstream's usage of the turn and removed the gradient's estimate of
// the tokens it took out of the client's history (gradient.Result.TokensRemoved):
//
//	actual         = u.in·P.in + u.cache_read·0.1·P.in + u.cache_write_5m·1.25·P.in
//	                 + u.cache_write_1h·2·P.in + u.out·P.out
//	T              = u.in + u.cache_read + u.cache_write + removed    (the client's full request)
//	new            = T                                    on the session's first turn, else
//	                 min(T, estimate(messages the client added since its previous request))
//	counterfactual = new·W·P.in + (T − new)·0.1·P.in + u.out·P.out
//	W              = 2 when the answer reports 1-hour cache writes, else 1.25
//
// i.e. without the gateway the client sends its whole history, and its own
// prompt caching (a breakpoint on the last message) writes the new part and
// reads the part it sent last turn. Output is the same either way. The saving
// is counterfactual − actual; it is negative on turns where the gateway
// rewrote a cached prefix (a layer change) and the client would have hit it.
func turnCost(model string, u pricing.Usage, removed int, msgs []msg.Message, prevMessages, prevTurns int) (actual, counterfactual int64) {
	p := pricing.For(model)
	actualNano := p.Cost(u)
	total := u.InputTokens + u.CacheReadTokens + u.CacheWriteTokens + int64(max(removed, 0))
	fresh := total
	if prevTurns > 0 {
		prev := min(max(prevMessages, 0), len(msgs))
		fresh = min(total, int64(gradient.EstimateMessages(msgs[prev:])))
	}
	cf := pricing.Usage{CacheWriteTokens: fresh, CacheReadTokens: total - fresh, OutputTokens: u.OutputTokens}
	if u.CacheWrite1hTokens > 0 {
		// The answer has 1-hour writes, so the client marks its prompt with
		// ttl "1h" (the markers lore adds only get it after one of the
		// client's): going direct, it would write its new part at that rate.
		cf.CacheWrite1hTokens = fresh
	}
	cfNano := p.Cost(cf)
	return pricing.Micro(actualNano), pricing.Micro(cfNano)
}
