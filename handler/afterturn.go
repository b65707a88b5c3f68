package handler

import (
	"context"

	"go.uber.org/zap"

	"github.com/caddy-lore/caddy-lore/distill"
	"github.com/caddy-lore/caddy-lore/knowledge"
)

// The work a turn leaves for later runs on the handler's own goroutines
// (h.work), so that neither the client nor the session's next turn waits
// for it, and it stops with the module.

// urgentLayer is the layer whose distillation is urgent and forced: the
// turn needed layer ≥ 2, or overflowed.
const urgentLayer = 2

// distillAfterTurn starts the post-response distillation: urgent when the
// turn needed it, else the threshold-gated background one.
func (h *Handler) distillAfterTurn(sessionID string, urgent bool) {
	layer := 0
	if urgent {
		layer = urgentLayer
	}
	h.work.Go("distillation after turn", func(ctx context.Context) {
		if _, err := h.cfg.Distiller.AfterTurn(ctx, sessionID, layer); err != nil {
			h.log.Info("distillation after turn failed", zap.String("session", sessionID), zap.Error(err))
		}
	})
}

// distillNow runs a forced urgent distillation inline (overflow recovery).
// It goes ahead beside a batched (non-urgent) run whose calls are out; when
// another urgent run of the session is in progress it does nothing and
// returns distill.ErrBusy, so the caller's log shows the retry went without
// fresh rows.
func (h *Handler) distillNow(ctx context.Context, sessionID string) error {
	res, err := h.cfg.Distiller.AfterTurn(ctx, sessionID, urgentLayer)
	if err == nil && res.Busy {
		err = distill.ErrBusy
	}
	return err
}

// curateAfterTurn starts a curation of the session's knowledge when one is
// due.
func (h *Handler) curateAfterTurn(sessionID string, turnsSinceCuration int) {
	if turnsSinceCuration < knowledge.AfterTurns {
		return // the common case costs no goroutine
	}
	h.work.Go("curation after turn", func(ctx context.Context) {
		if err := h.cfg.Knowledge.AfterTurn(ctx, sessionID, turnsSinceCuration); err != nil {
			h.log.Info("curation after turn failed", zap.String("session", sessionID), zap.Error(err))
		}
	})
}
