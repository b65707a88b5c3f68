// Package background runs the work a request schedules after its answer
// (storing the turn, distillation, curation) and the batch queue's timers
// and steps on goroutines that belong to one module instance, and the
// shared Redis client's outage probes on goroutines that belong to the
// client, so that unloading either can stop and wait for them.
package background

import (
	"context"
	"runtime/debug"
	"sync"

	"go.uber.org/zap"
)

// Group tracks goroutines that share a context. The zero value is not
// usable; see New.
type Group struct {
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	log    *zap.Logger
	// mu orders Go's Add against Close, so that no goroutine is added once
	// Close has returned: a Wait after Close then waits for all of them
	// (a WaitGroup must not go up from zero while it is waited on).
	mu     sync.RWMutex
	closed bool
}

// New returns a group whose context ends with parent or Stop.
func New(parent context.Context, log *zap.Logger) *Group {
	if log == nil {
		log = zap.NewNop()
	}
	ctx, cancel := context.WithCancel(parent)
	return &Group{ctx: ctx, cancel: cancel, log: log}
}

// Go runs fn on a tracked goroutine with the group's context, recovering
// and logging a panic so that one bad session cannot take Caddy down. Once
// the group is closed or its context has ended nothing new starts: Go
// reports whether fn will run.
func (g *Group) Go(what string, fn func(context.Context)) bool {
	g.mu.RLock()
	if g.closed || g.ctx.Err() != nil {
		g.mu.RUnlock()
		return false
	}
	g.wg.Add(1)
	g.mu.RUnlock()
	go g.run(what, fn)
	return true
}

// GoWithin is Go for a goroutine of the group that starts another: it runs
// fn even once the group is closed (the caller keeps the group's count
// above zero, so a Wait has not returned), but not once the context has
// ended. Closing lets work in progress finish, its follow-ups included.
func (g *Group) GoWithin(what string, fn func(context.Context)) bool {
	if g.ctx.Err() != nil {
		return false
	}
	g.wg.Add(1)
	go g.run(what, fn)
	return true
}

func (g *Group) run(what string, fn func(context.Context)) {
	defer g.wg.Done()
	defer func() {
		if p := recover(); p != nil {
			g.log.Error("background work panicked", zap.String("work", what), zap.Any("panic", p), zap.ByteString("stack", debug.Stack()))
		}
	}()
	fn(g.ctx)
}

// Close makes Go refuse new work without ending the group's context: what
// runs carries on (see GoWithin). Wait then waits for it to finish.
func (g *Group) Close() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
}

// Wait returns once no goroutine of the group is running.
func (g *Group) Wait() { g.wg.Wait() }

// Stop closes the group, ends its context and waits for its goroutines.
func (g *Group) Stop() {
	g.Close()
	g.cancel()
	g.wg.Wait()
}
