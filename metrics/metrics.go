// Package metrics is the gateway's Prometheus instrumentation
// (docs/operations.md, Metrics):
// process-wide collectors registered on the Caddy metrics registry of every
// Provision. The collectors outlive a config reload (which brings a new
// registry), so the counters keep counting across reloads. Labels are bounded:
// routes, classes, layers, status codes, token kinds and call kinds, never a
// session id or a credential.
package metrics

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// QueueSource reads the batch queue's depth and oldest item age.
type QueueSource func(ctx context.Context) (depth int64, oldest time.Duration, err error)

// Metrics records the gateway's events. A nil *Metrics records nothing.
type Metrics struct {
	requests *prometheus.CounterVec
	upstream *prometheus.CounterVec
	tokens   *prometheus.CounterVec
	removed  prometheus.Counter
	cost     prometheus.Counter
	without  prometheus.Counter
	saved    prometheus.Counter
	worker   *prometheus.CounterVec
	overflow prometheus.Counter
	queue    *queueCollector

	// Children resolved once: the hot path does no label hashing for these.
	in, out, cacheRead, cacheWrite prometheus.Counter
}

// The process-wide collectors.
var (
	global = &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "lore", Name: "requests_total",
			Help: "Requests handled by lore, by route (messages, chat, passthrough), class (turn, utility, compaction, passthrough) and gradient layer (0-4, none).",
		}, []string{"route", "class", "layer"}),
		upstream: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "lore", Name: "upstream_responses_total",
			Help: "Upstream responses to client requests, by HTTP status code.",
		}, []string{"status"}),
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "lore", Name: "tokens_total",
			Help: "Tokens of answered conversation turns as reported by the upstream, by kind (input, output, cache_read, cache_write).",
		}, []string{"kind"}),
		removed: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "lore", Name: "tokens_removed_total",
			Help: "Estimated input tokens the gradient removed from turns before forwarding them.",
		}),
		cost: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "lore", Name: "cost_dollars_total",
			Help: "Estimated cost of answered conversation turns at list prices (docs/cost.md).",
		}),
		without: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "lore", Name: "counterfactual_dollars_total",
			Help: "Estimated cost of the same turns without the gateway (full history sent, client-side caching).",
		}),
		saved: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "lore", Name: "saved_dollars_total",
			Help: "Sum over answered turns of max(0, counterfactual - cost); the net saving is counterfactual_dollars_total - cost_dollars_total.",
		}),
		worker: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "lore", Name: "worker_calls_total",
			Help: "The gateway's own LLM calls, by kind (distill, meta, compact, ...) and route (batch, sync, urgent, fallback).",
		}, []string{"kind", "route"}),
		overflow: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "lore", Name: "overflow_retries_total",
			Help: "Turns the upstream refused as too long although the gradient's estimate fit, retried once at a higher layer.",
		}),
		queue: newQueueCollector(),
	}
	registerMu sync.Mutex
)

// Register registers the process-wide collectors on reg (Caddy's per-config
// registry), reusing a collector already registered there, and returns them.
func Register(reg prometheus.Registerer) (*Metrics, error) {
	registerMu.Lock()
	defer registerMu.Unlock()
	m := *global
	var err error
	if m.requests, err = register(reg, m.requests); err != nil {
		return nil, err
	}
	if m.upstream, err = register(reg, m.upstream); err != nil {
		return nil, err
	}
	if m.tokens, err = register(reg, m.tokens); err != nil {
		return nil, err
	}
	if m.removed, err = register(reg, m.removed); err != nil {
		return nil, err
	}
	if m.cost, err = register(reg, m.cost); err != nil {
		return nil, err
	}
	if m.without, err = register(reg, m.without); err != nil {
		return nil, err
	}
	if m.saved, err = register(reg, m.saved); err != nil {
		return nil, err
	}
	if m.worker, err = register(reg, m.worker); err != nil {
		return nil, err
	}
	if m.overflow, err = register(reg, m.overflow); err != nil {
		return nil, err
	}
	if m.queue, err = register(reg, m.queue); err != nil {
		return nil, err
	}
	m.in = m.tokens.WithLabelValues("input")
	m.out = m.tokens.WithLabelValues("output")
	m.cacheRead = m.tokens.WithLabelValues("cache_read")
	m.cacheWrite = m.tokens.WithLabelValues("cache_write")
	return &m, nil
}

// register registers c, or returns the equal collector already registered.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	err := reg.Register(c)
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing, nil
		}
		return c, err
	}
	return c, err
}

// OverflowRetry counts one overflow retry.
func (m *Metrics) OverflowRetry() {
	if m == nil {
		return
	}
	m.overflow.Inc()
}

// Request counts one request; layer < 0 means none.
func (m *Metrics) Request(route, class string, layer int) {
	if m == nil {
		return
	}
	l := "none"
	if layer >= 0 && layer <= 9 {
		l = strconv.Itoa(layer)
	}
	m.requests.WithLabelValues(route, class, l).Inc()
}

// UpstreamStatus counts one upstream response.
func (m *Metrics) UpstreamStatus(code int) {
	if m == nil {
		return
	}
	s := "other"
	if code >= 100 && code <= 599 {
		s = strconv.Itoa(code)
	}
	m.upstream.WithLabelValues(s).Inc()
}

// Tokens adds one answered turn's usage.
func (m *Metrics) Tokens(input, output, cacheRead, cacheWrite int64) {
	if m == nil {
		return
	}
	add(m.in, input)
	add(m.out, output)
	add(m.cacheRead, cacheRead)
	add(m.cacheWrite, cacheWrite)
}

// TokensRemoved adds the tokens the gradient removed from one turn.
func (m *Metrics) TokensRemoved(n int) {
	if m != nil {
		add(m.removed, int64(n))
	}
}

// Cost adds one answered turn's actual and counterfactual cost, given in
// micro-dollars. A counter cannot go down, so a turn that cost more than it
// would have without the gateway adds nothing to saved (it still shows in
// counterfactual − cost).
func (m *Metrics) Cost(actual, counterfactual int64) {
	if m == nil {
		return
	}
	if actual > 0 {
		m.cost.Add(float64(actual) / 1e6)
	}
	if counterfactual > 0 {
		m.without.Add(float64(counterfactual) / 1e6)
	}
	if d := counterfactual - actual; d > 0 {
		m.saved.Add(float64(d) / 1e6)
	}
}

// WorkerCall counts one of the gateway's own LLM calls.
func (m *Metrics) WorkerCall(kind, route string) {
	if m == nil {
		return
	}
	if kind == "" {
		kind = "unknown"
	}
	m.worker.WithLabelValues(kind, route).Inc()
}

// SetQueueSource makes src the source of the batch queue gauges, on behalf
// of owner (the newest provisioned instance wins).
func (m *Metrics) SetQueueSource(owner any, src QueueSource) {
	if m != nil {
		m.queue.set(owner, src)
	}
}

// ClearQueueSource removes owner's source, unless a newer owner replaced it.
func (m *Metrics) ClearQueueSource(owner any) {
	if m != nil {
		m.queue.clear(owner)
	}
}

func add(c prometheus.Counter, n int64) {
	if n > 0 {
		c.Add(float64(n))
	}
}
