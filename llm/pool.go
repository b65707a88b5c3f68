package llm

import (
	"context"
	"fmt"
	"runtime/debug"
	"sync"

	"go.uber.org/zap"

	"github.com/caddy-lore/caddy-lore/auth"
)

// job is one non-urgent call waiting for, or running in, the pool, with the
// credential resolved when it was submitted.
type job struct {
	call Call
	cred auth.Credential
}

// pool runs non-urgent calls synchronously, at most max at a time, when no
// batch queue is plugged in. Goroutines exist only while there is work: each
// one drains the wait list and exits, so an idle gateway runs none and
// nothing outlives Shutdown.
type pool struct {
	w   *Worker
	max int

	// ctx is cancelled by Shutdown once the grace period is over; the
	// upstream calls run under it.
	ctx    context.Context
	cancel context.CancelFunc

	mu      sync.Mutex
	closed  bool
	running int
	pending []job
	wg      sync.WaitGroup
}

func (p *pool) init(w *Worker, max int) {
	p.w, p.max = w, max
	p.ctx, p.cancel = context.WithCancel(context.Background())
}

func (p *pool) submit(j job) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.closed:
		return ErrClosed
	case p.running < p.max:
		p.running++
		p.wg.Add(1)
		go p.loop(j)
	case len(p.pending) < maxPending:
		p.pending = append(p.pending, j)
	default:
		return ErrBusy
	}
	return nil
}

// loop runs j, then whatever waits, until the wait list is empty.
func (p *pool) loop(j job) {
	defer p.wg.Done()
	for {
		p.run(j)
		p.mu.Lock()
		if p.closed || len(p.pending) == 0 {
			p.running--
			p.mu.Unlock()
			return
		}
		j = p.pending[0]
		p.pending[0] = job{} // drop the credential reference
		p.pending = p.pending[1:]
		p.mu.Unlock()
	}
}

// run makes one call and applies its outcome. Apply and Fail run on a
// context detached from the pool's cancellation: a call cut short by
// Shutdown must still release its guards. A panic anywhere is logged with
// its stack and turned into a Fail, so the pool goroutine survives and the
// caller's guards are released.
func (p *pool) run(j job) {
	var text string
	var err error
	if p.protect(j.call, func() { text, err = p.w.Do(p.ctx, j.call, j.cred) }) {
		p.failSafely(j.call, fmt.Errorf("llm: %s call panicked", j.call.Kind))
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(p.ctx), applyTimeout)
	defer cancel()
	if err != nil {
		p.protect(j.call, func() { p.w.Fail(ctx, j.call, err) })
		return
	}
	if p.protect(j.call, func() { _ = p.w.Apply(ctx, j.call, text) }) {
		p.failSafely(j.call, fmt.Errorf("llm: applying a %s result panicked", j.call.Kind))
	}
}

// protect runs fn and reports whether it panicked (logged with its stack).
func (p *pool) protect(c Call, fn func()) (panicked bool) {
	defer func() {
		if r := recover(); r != nil {
			panicked = true
			p.w.log.Error("worker call panicked",
				zap.String("kind", c.Kind), zap.String("session", c.SessionID),
				zap.Any("panic", r), zap.ByteString("stack", debug.Stack()))
		}
	}()
	fn()
	return false
}

// failSafely tells Fail, guarding against Fail panicking too.
func (p *pool) failSafely(c Call, err error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(p.ctx), applyTimeout)
	defer cancel()
	p.protect(c, func() { p.w.Fail(ctx, c, err) })
}

// shutdown refuses new work, fails what waits, and waits for running calls
// until ctx ends; then it cancels them and waits for their Fail to run.
func (p *pool) shutdown(ctx context.Context) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		p.wg.Wait()
		return
	}
	p.closed = true
	waiting := p.pending
	p.pending = nil
	p.mu.Unlock()

	for _, j := range waiting {
		p.failSafely(j.call, ErrClosed)
	}
	done := make(chan struct{})
	go func() {
		p.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		p.cancel()
		<-done
	}
	p.cancel()
}
