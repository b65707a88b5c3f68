package batching

import (
	"context"
	"errors"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-lore/caddy-lore/auth"
)

// pollAll visits every record whose lease is free: in-flight batches are
// polled, "submitting" records left by a dead (or unsure) submitter are
// reconciled, and sync records left by a dead runner are run again.
func (q *Queue) pollAll() {
	defer q.polls.Add(1)
	q.heartbeat(q.ctx)
	recs, err := q.bq.Records(q.ctx)
	if err != nil {
		if q.ctx.Err() == nil {
			q.log.Warn("batching: poll: cannot list records", zap.Error(err))
		}
		return
	}
	for _, r := range recs {
		if q.isStopping() || q.ctx.Err() != nil {
			return
		}
		if !q.own(r.ID) {
			continue
		}
		if q.visit(r.ID) {
			id := r.ID
			q.work.GoWithin("sync "+id, func(context.Context) { q.runSync(q.ctx, id, false) })
			continue
		}
		q.disown(r.ID)
	}
}

// visit handles one record this process owns locally; true means its items
// must now run synchronously (the caller starts that and hands it the
// ownership).
func (q *Queue) visit(id string) bool {
	ok, err := q.bq.TakeFreeLease(q.ctx, id, q.owner, q.now(), q.tun.leaseTTL)
	if err != nil || !ok {
		return false
	}
	r, ok, err := q.bq.Record(q.ctx, id) // fresh, now that it is ours
	if err != nil || !ok {
		return false
	}
	switch r.State {
	case RecordSubmitting:
		return q.reconcile(r)
	case RecordInFlight:
		return q.pollBatch(r)
	case RecordSync:
		return true
	}
	q.log.Error("batching: record in an unknown state", zap.String("record", r.ID), zap.String("state", r.State))
	return false
}

// pollBatch polls one in-flight batch and processes its results once ended;
// a batch older than MaxAge is abandoned (true: run its items synchronously).
func (q *Queue) pollBatch(r Record) bool {
	ctx, release := q.hold(q.ctx, r.ID)
	defer release()
	start := r.Created
	if start.IsZero() {
		start = r.T0
	}
	cred, ok := q.recordCred(ctx, r)
	if !ok {
		return false
	}
	if age := q.now().Sub(start); age > q.cfg.MaxAge {
		return q.abandon(ctx, r, cred, age)
	}
	obj, err := q.getBatch(ctx, cred, r.Batch)
	switch {
	case ctx.Err() != nil:
		return false
	case err != nil:
		q.log.Warn("batching: poll failed; retrying at the next tick", zap.String("batch", r.Batch), zap.Error(err))
		q.leaveFor(r.ID, q.cfg.PollInterval/2, release)
		return false
	case obj.ProcessingStatus != "ended":
		q.leaveFor(r.ID, q.cfg.PollInterval/2, release)
		return false
	}
	if obj.ID == "" {
		obj.ID = r.Batch
	}
	q.results(ctx, r, cred, obj, release)
	return false
}

// abandon gives up a batch older than MaxAge: it is canceled upstream (best
// effort, so the results are not paid twice) and its items go to a
// synchronous run.
func (q *Queue) abandon(ctx context.Context, r Record, cred auth.Credential, age time.Duration) bool {
	q.log.Warn("batching: batch too old; running its items synchronously", zap.String("batch", r.Batch),
		zap.Duration("age", age), zap.Int("items", r.Left))
	if err := q.cancelBatch(ctx, cred, r.Batch); err != nil && ctx.Err() == nil {
		q.log.Info("batching: could not cancel an abandoned batch", zap.String("batch", r.Batch), zap.Error(err))
	}
	return q.transition(ctx, r.ID, RecordSync, "")
}

// recordCred opens the credential of a record from any of its items. A
// record none of whose items opens (credential_key changed) cannot be
// polled or run: its items are failed and it is deleted.
func (q *Queue) recordCred(ctx context.Context, r Record) (auth.Credential, bool) {
	seen := 0
	for _, limit := range []int{5, 0} {
		items, err := q.bq.RecordItems(ctx, r.ID, limit)
		if err != nil {
			if ctx.Err() == nil {
				q.log.Warn("batching: cannot read a record's items", zap.String("record", r.ID), zap.Error(err))
			}
			return auth.Credential{}, false
		}
		seen = max(seen, len(items))
		for _, it := range items {
			if o := q.decode(it); o.err == nil && q.group(o.cred) == r.Group {
				return o.cred, true
			}
		}
		if len(items) < limit {
			break
		}
	}
	if seen > 0 {
		q.log.Error("batching: no item of a record has a usable credential; failing them", zap.String("record", r.ID))
	}
	got, err := q.bq.Finish(ctx, r.ID, CountDropped)
	if err == nil {
		for _, it := range got {
			q.fail(ctx, q.decode(it), errors.New("batching: the item's credential does not open"))
		}
	}
	return auth.Credential{}, false
}
