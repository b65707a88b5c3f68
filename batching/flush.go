package batching

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"

	"go.uber.org/zap"

	"github.com/caddy-lore/caddy-lore/auth"
)

// batchRequest is one request of a batch create.
type batchRequest struct {
	id     string
	params json.RawMessage
}

// flushAll takes what is queued, a chunk at a time (2,000 items: one take
// is one Lua script, which blocks Redis while it runs and must end within
// the read timeout), into one record per credential group and submits each. Take is atomic, so instances flushing
// at once never share an item.
func (q *Queue) flushAll() {
	defer q.flushes.Add(1)
	for range q.tun.takeRounds {
		ids, err := q.bq.Take(q.ctx, q.owner, q.now(), q.tun.leaseTTL, q.tun.takeChunk, q.tun.maxBatchBytes, RecordSubmitting)
		if err != nil {
			if q.ctx.Err() == nil {
				q.log.Warn("batching: flush: cannot take queued items", zap.Error(err))
			}
			return
		}
		if len(ids) == 0 || q.ctx.Err() != nil {
			return
		}
		for _, id := range ids {
			q.own(id)
			q.submit(id)
		}
	}
}

// submit creates the upstream batch of a "submitting" record this instance
// holds, and records its id (or sends the items to a synchronous run).
func (q *Queue) submit(id string) {
	toSync := false
	defer func() {
		if toSync {
			q.work.GoWithin("sync "+id, func(context.Context) { q.runSync(q.ctx, id, false) })
			return
		}
		q.disown(id)
	}()
	ctx, release := q.hold(q.ctx, id)
	defer release()

	rec, ok, err := q.bq.Record(ctx, id)
	if err != nil || !ok || rec.State != RecordSubmitting {
		if err != nil && ctx.Err() == nil {
			q.log.Warn("batching: flush: cannot read a record", zap.String("record", id), zap.Error(err))
		}
		return
	}
	items, err := q.bq.RecordItems(ctx, id, 0)
	if err != nil {
		q.log.Warn("batching: flush: cannot read a record's items", zap.String("record", id), zap.Error(err))
		return
	}
	reqs, cred := q.prepare(ctx, rec, items)
	if len(reqs) == 0 {
		if _, err := q.bq.Finish(ctx, id, ""); err != nil {
			q.log.Warn("batching: flush: cannot delete an empty record", zap.String("record", id), zap.Error(err))
		}
		return
	}
	if refused, err := q.bq.Refused(ctx, rec.Group); err == nil && refused {
		toSync = q.transition(ctx, id, "sync", "")
		return
	}
	if !q.batchable(cred) {
		// An OpenAI-provider credential with no OpenAI batch endpoint
		// configured: it never goes to Anthropic's Message Batches API;
		// its calls run synchronously on openai_upstream (llm.Worker.Do).
		toSync = q.transition(ctx, id, "sync", "")
		return
	}

	obj, err := q.create(ctx, id, cred, reqs)
	var se *statusError
	fp := q.cfg.Keys.Fingerprint(cred)
	switch {
	case err == nil && obj.ID != "":
		if q.transition(ctx, id, "inflight", obj.ID) {
			q.log.Info("batching: batch created", zap.String("record", id), zap.String("batch", obj.ID),
				zap.Int("items", len(reqs)), zap.String("credential", fp))
			q.leaveFor(id, 0, release)
		} else if ctx.Err() == nil {
			q.log.Error("batching: batch created but its record was taken over; reconciliation should adopt it",
				zap.String("record", id), zap.String("batch", obj.ID))
		}
	case ctx.Err() != nil:
		// Crash, hard stop or lost lease: whether the create arrived is
		// unknown; the next lease holder reconciles.
	case errors.As(err, &se):
		if se.refused() {
			q.log.Warn("batching: the batch API refused the credential; its items run synchronously",
				zap.String("credential", fp), zap.Int("status", se.status), zap.String("error", se.typ))
			if err := q.bq.Refuse(ctx, rec.Group, q.cfg.RefusedTTL); err != nil {
				q.log.Warn("batching: cannot remember a refused credential", zap.Error(err))
			}
		} else {
			q.log.Warn("batching: batch create failed; items run synchronously", zap.String("record", id),
				zap.Int("status", se.status), zap.String("error", se.Error()))
		}
		toSync = q.transition(ctx, id, "sync", "")
	default:
		// Transport error or an answer without an id: the batch may exist.
		// Reconcile one lease period from now (the upstream may still be
		// creating it); the items run synchronously if it is not found.
		q.log.Warn("batching: batch create outcome unknown; reconciling later", zap.String("record", id), zap.Error(err))
		if q.transition(ctx, id, "neterr", "") {
			q.leaveFor(id, q.tun.leaseTTL, release)
		}
	}
}

// transition moves a record this instance holds; false when it did not
// happen (logged).
func (q *Queue) transition(ctx context.Context, id, to, batch string) bool {
	now := q.now()
	ok, err := q.bq.Transition(ctx, Move{Rec: id, Owner: q.owner, Now: now, Lease: q.tun.leaseTTL, To: to, Batch: batch, Created: now})
	if err != nil && ctx.Err() == nil {
		q.log.Warn("batching: record transition failed", zap.String("record", id), zap.String("to", to), zap.Error(err))
	}
	return err == nil && ok
}

// prepare opens the record's items and builds their requests. Items that
// cannot be submitted (undecodable, credential does not open or is not the
// record's group's, no params) are claimed and failed.
func (q *Queue) prepare(ctx context.Context, rec Record, items []QueuedItem) ([]batchRequest, auth.Credential) {
	var cred auth.Credential
	reqs := make([]batchRequest, 0, len(items))
	for _, it := range items {
		o := q.decode(it)
		if o.err == nil {
			o.err = q.gone(o)
		}
		switch {
		case o.err != nil:
		case q.group(o.cred) != rec.Group:
			o.err = errors.New("batching: item credential is not its record's group")
		case cred.IsZero():
			cred = o.cred
		case o.cred != cred:
			o.err = errors.New("batching: item credential differs from its group's")
		}
		var params json.RawMessage
		if o.err == nil {
			// Not validated (json.Valid costs a fifth of a flush): a bad body
			// fails the create with a 400, and the items then run synchronously.
			if params = q.params(o); len(params) == 0 {
				o.err = errors.New("batching: no request params for the call")
			}
		}
		if o.err != nil {
			q.drop(ctx, rec.ID, o)
			continue
		}
		reqs = append(reqs, batchRequest{id: o.id, params: params})
	}
	return reqs, cred
}

// drop claims an item that cannot run and fails it.
func (q *Queue) drop(ctx context.Context, rec string, o openItem) {
	q.log.Warn("batching: dropping an item", zap.String("custom_id", o.id), zap.Error(o.err))
	if got, err := q.bq.Claim(ctx, rec, CountDropped, o.id); err == nil && len(got) == 1 {
		q.fail(ctx, o, o.err)
	}
}

// requestBody is {"requests":[{"custom_id":…,"params":…},…]}. custom_ids
// match ^[a-zA-Z0-9_-]{1,64}$, so they need no escaping.
func requestBody(reqs []batchRequest) []byte {
	n := 16
	for _, r := range reqs {
		n += len(r.id) + len(r.params) + 32
	}
	var b bytes.Buffer
	b.Grow(n)
	b.WriteString(`{"requests":[`)
	for i, r := range reqs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"custom_id":"`)
		b.WriteString(r.id)
		b.WriteString(`","params":`)
		b.Write(r.params)
		b.WriteByte('}')
	}
	b.WriteString(`]}`)
	return b.Bytes()
}
