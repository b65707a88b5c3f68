// Package background runs the work a request schedules after its answer
// (storing the turn, distillation, curation) on goroutines that belong to
// one module instance, so that unloading it can stop and wait for them.
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
// the group's context has ended nothing new starts: Go reports whether fn
// will run.
func (g *Group) Go(what string, fn func(context.Context)) bool {
	if g.ctx.Err() != nil {
		return false
	}
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		defer func() {
			if p := recover(); p != nil {
				g.log.Error("background work panicked", zap.String("work", what), zap.Any("panic", p), zap.ByteString("stack", debug.Stack()))
			}
		}()
		fn(g.ctx)
	}()
	return true
}

// Wait returns once no goroutine of the group is running.
func (g *Group) Wait() { g.wg.Wait() }

// Stop ends the group's context and waits for its goroutines.
func (g *Group) Stop() {
	g.cancel()
	g.wg.Wait()
}
