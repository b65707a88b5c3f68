// Package idle runs each session's idle work (docs/context-window.md, Idle
// work and post-idle compaction) once per idle period:
// a session is idle after IdleTimeout without a request; the scheduler of
// whichever instance claims it first (an atomic claim in Redis, see
// ActiveSet.ClaimIdle) runs the work, and the session is only armed again by
// its next turn. The work itself — force-distil everything pending,
// meta-distillation allowed — is the caller's Work function
// (distill.Distiller.Idle in the module).
//
// Idle resume, the other half of that section (a compact window on the first
// turn after a long pause), is in handler/plan.go and gradient.
package idle

import (
	"context"
	"errors"
	"runtime/debug"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-lore/caddy-lore/store"
)

// Defaults and bounds.
const (
	DefaultIdleTimeout = 60 * time.Second
	DefaultConcurrency = 4
	// The check interval is about half the idle timeout, within these
	// bounds: an idle session is noticed between IdleTimeout and
	// IdleTimeout + interval after its last request.
	MinInterval = 100 * time.Millisecond
	MaxInterval = 30 * time.Second
	// rearmTimeout bounds a re-arm made after the scheduler's context ended.
	rearmTimeout = 5 * time.Second
)

// ErrRetry is what Work returns (or wraps) when the work could not run yet —
// the session's distillation guard is held by another run whose results are
// not in — so the session is claimed again about one interval later instead
// of losing its idle work for this period.
var ErrRetry = errors.New("idle: work not done yet, retry later")

// Store is what the scheduler needs of the active set (ActiveSet).
type Store interface {
	ClaimIdle(ctx context.Context, cutoff time.Time, limit int) ([]string, error)
	RearmIdle(ctx context.Context, sessionID string, at time.Time) error
}

// Config configures a Scheduler.
type Config struct {
	Store Store
	// Work is the idle work of one session. It runs at most Concurrency at
	// a time, never twice at once for one session on one instance, with the
	// scheduler's context (canceled by Stop). Returning ErrRetry asks for
	// another try; other errors are logged and the idle period is over.
	Work func(ctx context.Context, sessionID string) error
	// IdleTimeout is how long after its last request a session is idle;
	// 0 or less: DefaultIdleTimeout.
	IdleTimeout time.Duration
	// Concurrency bounds the Work calls running at once; default 4.
	Concurrency int
	// Interval overrides the check interval (default IdleTimeout / 2 within
	// [MinInterval, MaxInterval]).
	Interval time.Duration
	Logger   *zap.Logger
	Now      func() time.Time // nil is time.Now
}

// Scheduler checks for idle sessions every interval and runs their work.
// Safe for concurrent use. It holds no package-level state: every module
// instance has its own, and any number of them may share one Redis.
type Scheduler struct {
	cfg      Config
	interval time.Duration
	log      *zap.Logger

	mu      sync.Mutex
	started bool
	stopped bool
	cancel  context.CancelFunc
	done    chan struct{} // closed when the loop has returned
}

// New builds a scheduler; Start starts it.
func New(cfg Config) *Scheduler {
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	interval := cfg.Interval
	if interval <= 0 {
		interval = min(max(cfg.IdleTimeout/2, MinInterval), MaxInterval)
	}
	return &Scheduler{cfg: cfg, interval: interval, log: cfg.Logger}
}

// Interval is the check interval.
func (s *Scheduler) Interval() time.Duration { return s.interval }

// Start starts the check loop. It stops when ctx is done or on Stop. A
// second Start, or a Start after Stop, does nothing.
func (s *Scheduler) Start(ctx context.Context) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started || s.stopped {
		return
	}
	s.started = true
	ctx, s.cancel = context.WithCancel(ctx)
	s.done = make(chan struct{})
	go s.loop(ctx, s.done)
}

// Stop stops the loop, cancels running work and waits for every goroutine
// of the scheduler to return. Sessions whose work was interrupted are armed
// again, so another instance (or the next configuration) does it. Safe to
// call more than once, before Start, and on nil.
func (s *Scheduler) Stop() {
	if s == nil {
		return
	}
	s.mu.Lock()
	s.stopped = true
	cancel, done := s.cancel, s.done
	s.mu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	<-done
}

func (s *Scheduler) loop(ctx context.Context, done chan struct{}) {
	defer close(done)
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, err := s.Poll(ctx); err != nil && ctx.Err() == nil {
			if errors.Is(err, store.ErrUnavailable) {
				s.log.Debug("idle check skipped: redis unavailable", zap.Error(err))
			} else {
				s.log.Warn("idle check failed", zap.Error(err))
			}
		}
	}
}

// Poll is one check, as each tick does: it claims the sessions idle now,
// Concurrency at a time, and runs their work, until none is left. It
// returns the number of sessions whose work ran. Exported for tests and
// tools; the loop calls it.
func (s *Scheduler) Poll(ctx context.Context) (int, error) {
	ran := 0
	for ctx.Err() == nil {
		now := s.cfg.Now()
		ids, err := s.cfg.Store.ClaimIdle(ctx, now.Add(-s.cfg.IdleTimeout), s.cfg.Concurrency)
		// A claim whose existence check failed still returns its sessions:
		// they are out of the active set, so they are worked on now or never.
		if len(ids) > 0 {
			ran += s.runAll(ctx, ids)
		}
		if err != nil {
			return ran, err
		}
		if len(ids) < s.cfg.Concurrency {
			break
		}
	}
	return ran, ctx.Err()
}

// runAll runs the work of the claimed sessions concurrently (at most
// Concurrency of them, as ClaimIdle is asked for no more) and waits.
func (s *Scheduler) runAll(ctx context.Context, ids []string) int {
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.run(ctx, id)
		}()
	}
	wg.Wait()
	return len(ids)
}

// run does one session's work, recovering a panic (logged with its stack:
// one bad session must not take Caddy down) and re-arming the session when
// the work asked for a retry or was interrupted.
func (s *Scheduler) run(ctx context.Context, sid string) {
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("idle work panicked", zap.String("session", sid), zap.Any("panic", p),
				zap.ByteString("stack", debug.Stack()))
		}
	}()
	err := s.cfg.Work(ctx, sid)
	switch {
	case err == nil:
		s.log.Debug("idle work done", zap.String("session", sid))
	case errors.Is(err, ErrRetry):
		// Claimed again about one interval from now.
		s.rearm(ctx, sid, s.cfg.Now().Add(s.interval-s.cfg.IdleTimeout))
		s.log.Debug("idle work deferred", zap.String("session", sid), zap.Error(err))
	case ctx.Err() != nil:
		// Stopped half way: idle already, so claimable at once elsewhere.
		s.rearm(ctx, sid, s.cfg.Now().Add(-s.cfg.IdleTimeout))
		s.log.Debug("idle work interrupted; session armed again", zap.String("session", sid), zap.Error(err))
	default:
		s.log.Info("idle work failed", zap.String("session", sid), zap.Error(err))
	}
}

func (s *Scheduler) rearm(ctx context.Context, sid string, at time.Time) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rearmTimeout)
	defer cancel()
	if err := s.cfg.Store.RearmIdle(ctx, sid, at); err != nil {
		s.log.Info("idle work of a session dropped: it could not be re-armed",
			zap.String("session", sid), zap.Error(err))
	}
}
