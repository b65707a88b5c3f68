package usage

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-lore/caddy-lore/llm"
	"github.com/caddy-lore/caddy-lore/pricing"
	"github.com/caddy-lore/caddy-lore/store"
)

// workerTimeout bounds the two Redis calls that count a worker call.
const workerTimeout = 3 * time.Second

// WorkerCounter counts the gateway's own LLM calls for the person of the
// session whose work they were: synchronous calls at the standard price,
// batch rows at the batch price, each as it ran.
type WorkerCounter struct {
	Store     *store.Store
	Retention time.Duration
	Log       *zap.Logger
}

// Sync is llm.Config.OnUsage.
func (w WorkerCounter) Sync(ctx context.Context, c llm.Call, model string, u pricing.Usage) {
	w.add(ctx, c.SessionID, model, u, false)
}

// Batch is batching.Config.OnUsage.
func (w WorkerCounter) Batch(ctx context.Context, sid, model string, u pricing.Usage) {
	w.add(ctx, sid, model, u, true)
}

func (w WorkerCounter) add(ctx context.Context, sid, model string, u pricing.Usage, batch bool) {
	// The call is over: counting it must not depend on its context.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), workerTimeout)
	defer cancel()
	rec := Record{At: time.Now(), Model: model, Figures: Worker(model, u, batch)}
	if err := AddWorker(ctx, w.Store, sid, rec, w.Retention); err != nil && w.Log != nil {
		w.Log.Debug("worker call not counted in usage", zap.String("session", sid), zap.Error(err))
	}
}
