package batching

import (
	"context"
	"errors"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-lore/caddy-lore/auth"
)

// reconcile settles a "submitting" record whose submitter left it: dead, or
// unsure whether its create arrived. It looks for the batch upstream (see
// the package doc): found → adopted as the record's in-flight batch; not
// found → the items go back to the queue (or, when the submitter saw a
// transport error, run synchronously: true).
func (q *Queue) reconcile(r Record) bool {
	ctx, release := q.hold(q.ctx, r.ID)
	defer release()
	cred, ok := q.recordCred(ctx, r)
	if !ok {
		return false
	}
	found, err := q.findBatch(ctx, r, cred)
	var se *statusError
	switch {
	case ctx.Err() != nil:
		return false
	case errors.As(err, &se) && se.refused():
		// The credential cannot use the batch API: no create of it succeeded.
		found = nil
	case err != nil:
		if r.Attempts+1 >= q.tun.reconcileTries {
			q.log.Warn("batching: cannot reconcile a submission; its items run synchronously",
				zap.String("record", r.ID), zap.Error(err))
			return q.transition(ctx, r.ID, RecordSync, "")
		}
		q.log.Info("batching: cannot reconcile a submission yet", zap.String("record", r.ID), zap.Error(err))
		if q.transition(ctx, r.ID, "attempt", "") {
			q.leaveFor(r.ID, q.cfg.PollInterval/2, release)
		}
		return false
	}
	if found != nil {
		ok, err := q.bq.Transition(ctx, Move{Rec: r.ID, Owner: q.owner, Now: q.now(), Lease: q.tun.leaseTTL,
			To: RecordInFlight, Batch: found.ID, Created: parseTime(found.CreatedAt), Adopted: true})
		if err == nil && ok {
			q.log.Info("batching: adopted a batch created by a submitter that left", zap.String("record", r.ID),
				zap.String("batch", found.ID), zap.Int("items", r.Left))
			q.leaveFor(r.ID, 0, release)
		}
		return false
	}
	if r.NetErr {
		q.log.Warn("batching: batch create failed; items run synchronously", zap.String("record", r.ID))
		return q.transition(ctx, r.ID, RecordSync, "")
	}
	n, err := q.bq.Requeue(ctx, r.ID, q.owner, q.now(), q.tun.leaseTTL)
	if err == nil && n >= 0 {
		q.log.Info("batching: a submission never reached the upstream; requeued its items",
			zap.String("record", r.ID), zap.Int("items", n))
	}
	return false
}

// findBatch lists the credential's batches (newest first) back to the
// record's take time and returns the one that is the record's: created in
// [T0 − slack, now + slack], with exactly the record's number of requests,
// not recorded by this queue before; the one created closest to T0 when
// several match. nil when none does.
func (q *Queue) findBatch(ctx context.Context, r Record, cred auth.Credential) (*batchObject, error) {
	lo, hi := r.T0.Add(-q.tun.reconcileSkew), q.now().Add(q.tun.reconcileSkew)
	var cands []batchObject
	after := ""
	for page := 0; page < q.tun.reconcilePages; page++ {
		data, more, last, err := q.listBatches(ctx, cred, after)
		if err != nil {
			return nil, err
		}
		older := false
		for _, b := range data {
			t := parseTime(b.CreatedAt)
			switch {
			case t.IsZero() || b.ID == "":
			case t.Before(lo):
				older = true
			case b.record != "":
				// An OpenAI batch names its record in its metadata: no
				// guessing by time and size.
				if b.record == r.ID {
					cands = append(cands, b)
				}
			case !t.After(hi) && b.total() == r.Left:
				cands = append(cands, b)
			}
		}
		if older || !more || last == "" {
			break
		}
		after = last
	}
	if len(cands) == 0 {
		return nil, nil
	}
	ids := make([]string, len(cands))
	for i, c := range cands {
		ids[i] = c.ID
	}
	known, err := q.bq.Known(ctx, ids...)
	if err != nil {
		return nil, err
	}
	var best *batchObject
	var bestGap time.Duration
	for i := range cands {
		if known[cands[i].ID] {
			continue
		}
		gap := parseTime(cands[i].CreatedAt).Sub(r.T0).Abs()
		if best == nil || gap < bestGap {
			best, bestGap = &cands[i], gap
		}
	}
	return best, nil
}
