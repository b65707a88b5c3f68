package batching

import (
	"context"
	"encoding/json"
	"time"

	"github.com/caddy-lore/caddy-lore/pricing"
	"github.com/caddy-lore/caddy-lore/store"
)

// Stats is the queue's state and counters, shared by all instances on one
// Redis (for the admin view and metrics). Counters are totals since the
// Redis data was created; urgent calls are counted by the worker, not here.
type Stats struct {
	Queued    int64         `json:"queued"`     // items waiting for a flush
	OldestAge time.Duration `json:"oldest_age"` // age of the oldest queued item (0 when none)

	Submitting      int64 `json:"submitting"`        // records being submitted (or awaiting reconciliation)
	InFlightBatches int64 `json:"in_flight_batches"` // upstream batches not yet resolved
	InFlightItems   int64 `json:"in_flight_items"`   // their unresolved items
	SyncPending     int64 `json:"sync_pending"`      // items waiting for or in a synchronous run

	Enqueued  int64 `json:"enqueued"`  // items ever accepted
	Submitted int64 `json:"submitted"` // items in created batches
	Batches   int64 `json:"batches"`   // batches created
	Resolved  int64 `json:"resolved"`  // succeeded batch rows
	Failed    int64 `json:"failed"`    // errored, canceled, expired or missing rows
	Fallback  int64 `json:"fallback"`  // items sent to synchronous runs (create failed, refused, abandoned)
	Refused   int64 `json:"refused"`   // of which: their credential was remembered as refused
	Abandoned int64 `json:"abandoned"` // batches older than max_age
	Requeued  int64 `json:"requeued"`  // items put back by reconciliation
	SyncOK    int64 `json:"sync_ok"`   // synchronous runs that answered
	SyncErr   int64 `json:"sync_err"`  // synchronous runs that failed
	Dropped   int64 `json:"dropped"`   // items that could not run at all

	// Tokens of succeeded batch rows (billed at half price).
	Tokens pricing.Usage `json:"tokens"`
}

// Stats reads the queue's stats.
func (q *Queue) Stats(ctx context.Context) (Stats, error) {
	return ReadStats(ctx, q.cfg.Store, q.now())
}

// ReadStats reads the stats of the queue in st (for readers without a
// Queue, such as the admin API).
func ReadStats(ctx context.Context, st *store.Store, now time.Time) (Stats, error) {
	s, err := NewRedisQueue(st).State(ctx)
	if err != nil {
		return Stats{}, err
	}
	c := s.Counters
	out := Stats{
		Queued:   s.Queued,
		Enqueued: c[CountEnqueued], Submitted: c[CountSubmitted], Batches: c[CountBatches],
		Resolved: c[CountResolved], Failed: c[CountFailed], Fallback: c[CountFallback],
		Refused: c[CountRefused], Abandoned: c[CountAbandoned], Requeued: c[CountRequeued],
		SyncOK: c[CountSyncOK], SyncErr: c[CountSyncErr], Dropped: c[CountDropped],
		Tokens: pricing.Usage{
			InputTokens: c["tokens_input"], OutputTokens: c["tokens_output"],
			CacheReadTokens: c["tokens_cache_read"], CacheWriteTokens: c["tokens_cache_write"],
		},
	}
	if len(s.Oldest) > 0 {
		var it item
		if json.Unmarshal(s.Oldest, &it) == nil && it.At > 0 {
			out.OldestAge = max(0, now.Sub(time.UnixMilli(it.At)))
		}
	}
	for _, r := range s.Records {
		switch r.State {
		case RecordSubmitting:
			out.Submitting++
		case RecordInFlight:
			out.InFlightBatches++
			out.InFlightItems += int64(r.Left)
		case RecordSync:
			out.SyncPending += int64(r.Left)
		}
	}
	return out, nil
}

// SessionUsage returns the token sums of a session's batched calls by model:
// the basis of its estimated saving (the batch price is half the standard
// one, so the saving equals what these tokens cost at the batch price).
func (q *Queue) SessionUsage(ctx context.Context, sessionID string) (map[string]BatchedUsage, error) {
	return NewRedisQueue(q.cfg.Store).SessionUsage(ctx, sessionID)
}
