package handler

import "github.com/caddy-lore/caddy-lore/metrics/label"

// Observer receives the handler's countable events (the metrics package
// implements it; handler does not import Prometheus). Methods must be cheap
// and safe for concurrent use. Label values are package label's constants,
// never session ids or credentials.
type Observer interface {
	// Request counts a request by route (messages, chat, passthrough), class
	// (turn, utility, compaction, passthrough) and layer (< 0: none).
	Request(route, class string, layer int)
	// UpstreamStatus counts an upstream response to a client request.
	UpstreamStatus(code int)
	// Tokens adds an answered turn's usage.
	Tokens(input, output, cacheRead, cacheWrite int64)
	// TokensRemoved adds what the gradient removed from a turn.
	TokensRemoved(n int)
	// Cost adds an answered turn's actual and counterfactual cost in
	// micro-dollars (see turnCost).
	Cost(actual, counterfactual int64)
	// OverflowRetry counts a turn the upstream refused as too long although
	// the gradient's estimate fit, and that was retried at a higher layer.
	OverflowRetry()
}

// layerNone is the layer of a request the gradient did not transform.
const layerNone = -1

type nopObserver struct{}

func (nopObserver) Request(string, string, int)       {}
func (nopObserver) UpstreamStatus(int)                {}
func (nopObserver) Tokens(int64, int64, int64, int64) {}
func (nopObserver) TokensRemoved(int)                 {}
func (nopObserver) Cost(int64, int64)                 {}
func (nopObserver) OverflowRetry()                    {}

// routeOf is the metrics route of a turn's egress.
func routeOf(eg egress) string {
	if eg.clientFlavor() == openAIFlavor {
		return label.RouteChat
	}
	return label.RouteMessages
}
