package batching

import "github.com/caddy-lore/caddy-lore/pricing"

// SessionCost is the cost of a session's batched worker calls (at the batch
// price, 0.5×) and of the same tokens at the standard price, in
// micro-dollars: the counterfactual makes the same calls without batching
// (docs/cost.md). usage is keyed by model (SessionUsage).
func SessionCost(usage map[string]BatchedUsage) (actual, counterfactual int64) {
	var a, c int64
	for model, b := range usage {
		p := pricing.For(model)
		a += p.WorkerCost(b.Usage, true)
		c += p.WorkerCost(b.Usage, false)
	}
	return pricing.Micro(a), pricing.Micro(c)
}
