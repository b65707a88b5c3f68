package lore

import (
	"context"
	"runtime/debug"
	"sync"

	"go.uber.org/zap"

	"github.com/caddy-lore/caddy-lore/distill"
	"github.com/caddy-lore/caddy-lore/gradient"
	"github.com/caddy-lore/caddy-lore/handler"
)

// background runs the work a turn schedules after its answer (distillation)
// on goroutines that belong to this module instance: they stop with its
// context (config unload) and Cleanup waits for them.
type background struct {
	d      *distill.Distiller
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	log    *zap.Logger
}

func newBackground(parent context.Context, d *distill.Distiller, log *zap.Logger) *background {
	ctx, cancel := context.WithCancel(parent)
	return &background{d: d, ctx: ctx, cancel: cancel, log: log}
}

// Rows returns the session's live distillations for the gradient.
func (b *background) Rows(ctx context.Context, sessionID string) ([]gradient.Distillation, error) {
	return b.d.Rows(ctx, sessionID)
}

// AfterTurn starts the post-response distillation without holding up the
// request: urgent (layer ≥ 2 semantics) or the threshold-gated background one.
func (b *background) AfterTurn(_ context.Context, sessionID string, urgent bool) {
	layer := 0
	if urgent {
		layer = 2
	}
	b.go_("distillation after turn", func(ctx context.Context) {
		if _, err := b.d.AfterTurn(ctx, sessionID, layer); err != nil {
			b.log.Info("distillation after turn failed", zap.String("session", sessionID), zap.Error(err))
		}
	})
}

// DistillNow runs a forced urgent distillation inline (overflow recovery).
// It goes ahead beside a batched (non-urgent) run whose calls are out; when
// another urgent run of the session is in progress it does nothing and
// returns distill.ErrBusy, so the caller's log shows the retry went without
// fresh rows.
func (b *background) DistillNow(ctx context.Context, sessionID string) error {
	res, err := b.d.AfterTurn(ctx, sessionID, 2)
	if err == nil && res.Busy {
		err = distill.ErrBusy
	}
	return err
}

// Compact answers a compaction request with the worker model.
func (b *background) Compact(ctx context.Context, sessionID, previous string) (string, error) {
	return b.d.Compact(ctx, sessionID, previous, "")
}

// go_ runs fn on a tracked goroutine with the module's context, recovering
// and logging a panic so one bad session cannot take Caddy down.
func (b *background) go_(what string, fn func(context.Context)) {
	if b.ctx.Err() != nil {
		return
	}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		defer func() {
			if p := recover(); p != nil {
				b.log.Error("background work panicked", zap.String("work", what), zap.Any("panic", p), zap.ByteString("stack", debug.Stack()))
			}
		}()
		fn(b.ctx)
	}()
}

// stop cancels running work and waits for it.
func (b *background) stop() {
	b.cancel()
	b.wg.Wait()
}

var _ handler.Distiller = (*background)(nil)
