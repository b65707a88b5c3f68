package store

import (
	"context"
	"errors"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/caddy-lore/caddy-lore/internal/background"
)

// ErrUnavailable is returned while Redis is unreachable. Callers proxy the
// turn without state: a Redis outage must not take the gateway down
// (docs/architecture.md, State in Redis).
var ErrUnavailable = errors.New("store: redis unavailable")

// probeInterval is how often, at most, an unavailable store tries Redis again.
const probeInterval = time.Second

// health tracks whether the shared client's Redis is reachable. It belongs to
// the pool entry, not to a handle, so every handle on one client agrees, and
// an outage is logged once however many module instances share the client.
//
// While down, operations fail immediately with ErrUnavailable instead of
// each paying a dial timeout; at most one PING per probeInterval runs in the
// background, started lazily by whoever asks (an operation or Available), so
// an idle gateway sends nothing.
type health struct {
	down      atomic.Bool
	lastProbe atomic.Int64 // unix nanos of the last probe start (or outage start)
	log       atomic.Pointer[zap.Logger]
	// clientLogged is set once go-redis's own logger wrote a line during
	// this outage (see redislog.go); reset when Redis is reachable again.
	clientLogged atomic.Bool
	ping         func(context.Context) error
	timeout      time.Duration

	// Probe goroutines are tracked so the pool destructor can stop and wait
	// for them before closing the client: none outlives its entry.
	probes *background.Group
}

func newHealth(ping func(context.Context) error, timeout time.Duration, log *zap.Logger) *health {
	h := &health{ping: ping, timeout: timeout, probes: background.New(context.Background(), nil)}
	h.log.Store(log)
	return h
}

// ok reports availability, starting a probe first if one is due.
func (h *health) ok() bool {
	if !h.down.Load() {
		return true
	}
	h.maybeProbe()
	return !h.down.Load()
}

func (h *health) maybeProbe() {
	last := h.lastProbe.Load()
	now := time.Now().UnixNano()
	if now-last < int64(probeInterval) || !h.lastProbe.CompareAndSwap(last, now) {
		return // not due, or another caller just claimed this probe
	}
	h.probes.Go("redis probe", h.probe) // refused once stopped
}

func (h *health) probe(ctx context.Context) {
	// Recovered here, not by the group: the newest configuration's logger
	// (h.log) gets the line, not the first one's.
	defer func() {
		if r := recover(); r != nil {
			h.log.Load().Error("redis probe panicked", zap.Any("panic", r), zap.ByteString("stack", debug.Stack()))
		}
	}()
	ctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	if h.ping(ctx) == nil {
		h.markUp()
	}
}

func (h *health) markDown(err error) {
	h.lastProbe.Store(time.Now().UnixNano()) // first probe one interval from now
	if h.down.CompareAndSwap(false, true) {
		h.log.Load().Error("redis unreachable; turns are proxied without state", zap.Error(err))
	}
}

func (h *health) markUp() {
	if h.down.CompareAndSwap(true, false) {
		h.clientLogged.Store(false)
		h.log.Load().Info("redis reachable again")
	}
}

// stop cancels a running probe and waits for it; no probe starts afterwards.
func (h *health) stop() { h.probes.Stop() }

// isOutage tells a failed call's errors apart: Redis replies (redis.Nil, a
// WRONGTYPE, an ACL refusal) mean Redis is there; a caller that gave up
// (its own cancellation or deadline) says nothing about Redis; a closed
// client or an exhausted pool is local. Everything else — refused or reset
// connections, our own operation timeout, cluster state that cannot load —
// is an outage.
func isOutage(caller context.Context, err error) bool {
	var reply redis.Error
	switch {
	case err == nil, errors.As(err, &reply), caller.Err() != nil:
		return false
	case errors.Is(err, redis.ErrClosed), errors.Is(err, redis.ErrPoolTimeout), errors.Is(err, redis.ErrPoolExhausted):
		return false
	}
	return true
}
