package handler

import (
	"net/http"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-lore/caddy-lore/auth"
	"github.com/caddy-lore/caddy-lore/pricing"
)

// Request placeholders: what lore did with a request, published on the
// request's replacer so an access log (`log_append`) or a deferred `header`
// can use them. A placeholder that does not apply to a request (the layer
// of a passthrough, the tokens of an unanswered turn) is left unset: empty
// in text, null in a JSON log field. Values are typed (numbers, bools), so
// JSON logs get numbers. Never a credential: {http.lore.credential} is the
// 12-hex keyed fingerprint.
const (
	phRoute      = "http.lore.route"      // messages | chat | passthrough
	phClass      = "http.lore.class"      // turn | utility | compaction | passthrough
	phLayer      = "http.lore.layer"      // 0-4, turns only (the layer sent, after a retry the retried one)
	phSession    = "http.lore.session"    // session id, turns with state only
	phCredential = "http.lore.credential" // 12-hex keyed fingerprint, requests with a credential
	phRetried    = "http.lore.retried"    // turns: whether the overflow retry ran
	phInput      = "http.lore.tokens.input"
	phOutput     = "http.lore.tokens.output"
	phCacheRead  = "http.lore.tokens.cache_read"
	phCacheWrite = "http.lore.tokens.cache_write"
	phCost       = "http.lore.cost_usd"  // answered turns: estimated cost in dollars
	phSaved      = "http.lore.saved_usd" // answered turns: counterfactual − cost in dollars
)

// replacer is the request's Caddy replacer, nil outside Caddy (tests).
func replacer(r *http.Request) *caddy.Replacer {
	repl, _ := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	return repl
}

// seen counts a request (metrics) and publishes its route, class, layer
// (layer < 0: none) and credential fingerprint.
func (h *Handler) seen(r *http.Request, route, class string, layer int) {
	h.obs.Request(route, class, layer)
	repl := replacer(r)
	if repl == nil {
		return
	}
	repl.Set(phRoute, route)
	repl.Set(phClass, class)
	if layer >= 0 {
		repl.Set(phLayer, layer)
	}
	if cred := auth.Extract(r.Header); !cred.IsZero() && h.cfg.Keys != nil {
		repl.Set(phCredential, h.cfg.Keys.Fingerprint(cred))
	}
}

// publish sets one placeholder when the request runs inside Caddy.
func publish(r *http.Request, name string, v any) {
	if repl := replacer(r); repl != nil {
		repl.Set(name, v)
	}
}

// publishTurn sets an answered turn's usage and cost placeholders (cost
// and counterfactual in micro-dollars, see turnCost).
func publishTurn(r *http.Request, u pricing.Usage, cost, without int64) {
	repl := replacer(r)
	if repl == nil {
		return
	}
	repl.Set(phInput, u.InputTokens)
	repl.Set(phOutput, u.OutputTokens)
	repl.Set(phCacheRead, u.CacheReadTokens)
	repl.Set(phCacheWrite, u.CacheWriteTokens)
	repl.Set(phCost, pricing.Dollars(cost))
	repl.Set(phSaved, pricing.Dollars(without-cost))
}
