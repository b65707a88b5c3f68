package lore

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-lore/caddy-lore/llm"
	"github.com/caddy-lore/caddy-lore/pricing"
	"github.com/caddy-lore/caddy-lore/store"
	"github.com/caddy-lore/caddy-lore/usage"
)

// workerUsageTimeout bounds the two Redis calls that count a worker call.
const workerUsageTimeout = 3 * time.Second

// workerUsage counts the gateway's own LLM calls for the person of the
// session whose work they were (GET /lore/usage): synchronous calls at the
// standard price, batch rows at the batch price, each as it ran.
type workerUsage struct {
	st        *store.Store
	retention time.Duration
	log       *zap.Logger
}

// sync is llm.Config.OnUsage.
func (w workerUsage) sync(ctx context.Context, c llm.Call, model string, u pricing.Usage) {
	w.add(ctx, c.SessionID, model, u, false)
}

// batch is batching.Config.OnUsage.
func (w workerUsage) batch(ctx context.Context, sid, model string, u pricing.Usage) {
	w.add(ctx, sid, model, u, true)
}

func (w workerUsage) add(ctx context.Context, sid, model string, u pricing.Usage, batch bool) {
	// The call is over: counting it must not depend on its context.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), workerUsageTimeout)
	defer cancel()
	rec := store.UsageRecord{At: time.Now(), Model: model, Figures: usage.Worker(model, u, batch)}
	if err := w.st.AddWorkerUsage(ctx, sid, rec, w.retention); err != nil {
		w.log.Debug("worker call not counted in usage", zap.String("session", sid), zap.Error(err))
	}
}
