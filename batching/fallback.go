package batching

import (
	"context"
	"sync"

	"go.uber.org/zap"
)

// runSync runs the items of a sync record through Runner.Do, at most
// syncLimit calls at a time across the queue, and applies or fails each.
// The caller has marked the record as owned (q.own) and hands that over.
// Unless draining (Stop with the embedded store), a Stop interrupts the run
// between items and leaves the rest to the next lease holder.
func (q *Queue) runSync(ctx context.Context, id string, draining bool) {
	defer q.disown(id)
	ctx, release := q.hold(ctx, id)
	defer release()
	items, err := q.bq.RecordItems(ctx, id, 0)
	if err != nil {
		if ctx.Err() == nil {
			q.log.Warn("batching: cannot read a sync record", zap.String("record", id), zap.Error(err))
		}
		return
	}
	var wg sync.WaitGroup
	interrupted := false
	for _, it := range items {
		if !draining && q.isStopping() {
			interrupted = true
			break
		}
		acquired := false
		select {
		case q.sem <- struct{}{}:
			acquired = true
		case <-ctx.Done():
		}
		if !acquired {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-q.sem }()
			defer q.recover("sync call " + it.ID)
			q.syncOne(ctx, id, it)
		}()
	}
	wg.Wait()
	switch {
	case ctx.Err() != nil:
		// Crash, hard stop or lost lease: the unclaimed items wait for the
		// next lease holder.
	case interrupted:
		q.leaveFor(id, 0, release)
	default:
		if _, err := q.bq.Finish(ctx, id, ""); err != nil {
			q.log.Warn("batching: cannot delete a finished sync record", zap.String("record", id), zap.Error(err))
		}
	}
}

// syncOne runs one item. Do comes before the claim, so a crash during Do
// leaves the item to be run again; the claim makes sure only one run applies.
func (q *Queue) syncOne(ctx context.Context, rec string, it QueuedItem) {
	o := q.decode(it)
	if o.err == nil {
		o.err = q.gone(o)
	}
	if o.err != nil {
		q.drop(ctx, rec, o)
		return
	}
	text, err := q.do(ctx, o)
	if ctx.Err() != nil {
		return
	}
	counter := CountSyncOK
	if err != nil {
		counter = CountSyncErr
	}
	got, cerr := q.bq.Claim(ctx, rec, counter, o.id)
	if cerr != nil || len(got) == 0 {
		return
	}
	if err != nil {
		q.log.Info("batching: synchronous call failed", zap.String("custom_id", o.id), zap.Error(err))
		q.fail(ctx, o, err)
		return
	}
	q.apply(ctx, o, text)
}

// drain runs everything queued synchronously, and every sync record this
// instance may take (Stop with the embedded store: its data dies with the
// process).
func (q *Queue) drain(ctx context.Context) error {
	for {
		ids, err := q.bq.Take(ctx, q.owner, q.now(), q.tun.leaseTTL, q.tun.takeChunk, q.tun.maxBatchBytes, RecordSync)
		if err != nil {
			return err
		}
		if len(ids) == 0 {
			break
		}
	}
	recs, err := q.bq.Records(ctx)
	if err != nil {
		return err
	}
	for _, r := range recs {
		if r.State != RecordSync || ctx.Err() != nil {
			continue
		}
		if ok, err := q.bq.Lease(ctx, r.ID, q.owner, q.now(), q.tun.leaseTTL); err != nil || !ok || !q.own(r.ID) {
			continue
		}
		q.runSync(ctx, r.ID, true)
	}
	return ctx.Err()
}
