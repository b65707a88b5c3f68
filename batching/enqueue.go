package batching

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"runtime/debug"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-lore/caddy-lore/auth"
	"github.com/caddy-lore/caddy-lore/llm"
	"github.com/caddy-lore/caddy-lore/store"
)

// item is a queued call as stored in Redis. Call is kept as the exact bytes
// that were sealed against, so decode hashes what it will run.
type item struct {
	Call json.RawMessage `json:"call"` // llm.Call
	Cred []byte          `json:"cred"` // auth.Keyring.Seal, additional data = sealedAD(custom_id, Call)
	At   int64           `json:"at"`   // enqueued, unix ms
}

// sealedAD is the additional data an item's credential is sealed with: its
// custom_id and a SHA-256 of its request. Somebody who can write to Redis
// but has no credential_key cannot move a sealed credential to another item,
// nor edit an item's prompt, model or session and have it run on that
// person's key: the credential no longer opens, and the item fails closed.
func sealedAD(id string, call []byte) string {
	sum := sha256.Sum256(call)
	return id + "|" + hex.EncodeToString(sum[:])
}

// An item decoded and its credential opened.
type openItem struct {
	id   string
	call llm.Call
	cred auth.Credential
	at   time.Time
	err  error // the item cannot run (undecodable, credential does not open)

	decoded bool // call is known (so the runner can be told of a failure)
}

const idAlphabet = "0123456789abcdefghijklmnopqrstuvwxyz"

// newCustomID is "<kind>-<enqueue ms, base 36>-<20 random base-36 chars>":
// at most 16+1+9+1+20 = 47 characters of [a-zA-Z0-9_-], unique (103 random
// bits), and readable in logs.
func newCustomID(kind string, now time.Time) (string, error) {
	k := sanitize(kind, 16)
	if k == "" {
		k = "call"
	}
	r := make([]byte, 20)
	if _, err := rand.Read(r); err != nil {
		return "", err
	}
	for i, b := range r {
		r[i] = idAlphabet[int(b)%len(idAlphabet)] // 256 % 36 bias is irrelevant for uniqueness
	}
	return k + "-" + strconv.FormatInt(now.UnixMilli(), 36) + "-" + string(r), nil
}

// Enqueue queues a non-urgent call billed to cred (llm.Enqueuer). It returns
// once the item is durable in Redis; its result is applied later through the
// Runner. A credential group the batch API refused is run synchronously
// right away (still through a durable record). An urgent call (which the
// worker should not enqueue) and, after Stop with the embedded store, any
// call runs synchronously before Enqueue returns.
func (q *Queue) Enqueue(ctx context.Context, c llm.Call, cred auth.Credential) error {
	if cred.IsZero() {
		return llm.ErrNoCredential
	}
	now := q.now()
	id, err := newCustomID(c.Kind, now)
	if err != nil {
		return fmt.Errorf("batching: custom_id: %w", err)
	}
	if c.Urgent || q.isStopping() && q.cfg.Store.Embedded() {
		q.runNow(ctx, openItem{id: id, call: c, cred: cred, at: now, decoded: true})
		return nil
	}
	call, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("batching: encode call: %w", err)
	}
	sealed, err := q.cfg.Keys.Seal(cred, sealedAD(id, call))
	if err != nil {
		return fmt.Errorf("batching: seal credential: %w", err)
	}
	data, err := json.Marshal(item{Call: call, Cred: sealed, At: now.UnixMilli()})
	if err != nil {
		return fmt.Errorf("batching: encode item: %w", err)
	}
	group := q.group(cred)
	n, rec, err := q.bq.Enqueue(ctx, id, group, data, q.owner, now, q.tun.leaseTTL)
	if err != nil {
		return fmt.Errorf("batching: enqueue: %w", err)
	}
	switch {
	case rec != "":
		q.log.Debug("credential refused by the batch API: running synchronously",
			zap.String("custom_id", id), zap.String("credential", q.cfg.Keys.Fingerprint(cred)))
		if q.own(rec) && !q.work.Go("sync "+rec, func(context.Context) { q.runSync(q.ctx, rec, false) }) {
			q.disown(rec) // stopping: the record waits for the next lease holder
		}
	case n >= int64(q.cfg.MaxItems):
		q.trigger()
	}
	return nil
}

// group is the credential group: a keyed hash, never the credential.
func (q *Queue) group(cred auth.Credential) string { return q.cfg.Keys.Namespace(cred) }

// decode opens a stored item.
func (q *Queue) decode(it QueuedItem) openItem {
	o := openItem{id: it.ID}
	var raw item
	if err := json.Unmarshal(it.Data, &raw); err != nil {
		o.err = errors.New("batching: stored item is not valid JSON")
		return o
	}
	if err := json.Unmarshal(raw.Call, &o.call); err != nil {
		o.err = errors.New("batching: stored item's call is not valid JSON")
		return o
	}
	o.at, o.decoded = time.UnixMilli(raw.At), true
	cred, err := q.cfg.Keys.Open(raw.Cred, sealedAD(it.ID, raw.Call))
	if err != nil {
		// Never run: the item was edited in Redis, its credential was moved
		// from another item, or it was sealed under another credential_key
		// (or by a version that did not bind the request).
		q.log.Error("batching: a queued item's credential does not open for its request; not running it",
			zap.String("custom_id", it.ID), zap.String("kind", o.call.Kind), zap.String("session", o.call.SessionID))
		o.err = fmt.Errorf("batching: item credential: %w", err)
		return o
	}
	o.cred = cred
	return o
}

// errGone is the failure of an item enqueued longer than retention ago.
var errGone = errors.New("batching: the item is older than retention")

// gone reports, as errGone, an item that must not run or be applied any
// more: enqueued longer than retention ago (its session's keys, credential
// included, have expired by then, and so must its snapshot).
func (q *Queue) gone(o openItem) error {
	if !o.at.IsZero() && q.now().Sub(o.at) > q.cfg.Retention {
		return errGone
	}
	return nil
}

// DropSession removes the session's items that are still queued (not yet
// taken into a batch or a synchronous run), so that a deleted session's
// credential snapshots do not run. It returns how many it removed.
func (q *Queue) DropSession(ctx context.Context, sid string) (int, error) {
	return DropSession(ctx, q.cfg.Store, sid)
}

// DropSession is Queue.DropSession for a caller without a running queue
// (the admin API reads the store of the newest handler).
func DropSession(ctx context.Context, st *store.Store, sid string) (int, error) {
	return NewRedisQueue(st).DropQueued(ctx, func(data []byte) bool {
		var it struct {
			Call struct {
				SessionID string `json:"session"`
			} `json:"call"`
		}
		return json.Unmarshal(data, &it) == nil && it.Call.SessionID == sid
	})
}

// fail reports an item's failure to the runner (when its call is known).
// A panic in the runner is logged, not propagated.
func (q *Queue) fail(ctx context.Context, o openItem, err error) {
	if !o.decoded {
		q.log.Error("batching: dropping an item that cannot be decoded", zap.String("custom_id", o.id), zap.Error(err))
		return
	}
	defer q.recover("Fail of " + o.id)
	q.runner.Fail(ctx, o.call, err)
}

// apply hands a result to the runner, logging its error or panic.
func (q *Queue) apply(ctx context.Context, o openItem, text string) {
	defer q.recover("Apply of " + o.id)
	if err := q.runner.Apply(ctx, o.call, text); err != nil {
		q.log.Warn("batching: applying a result failed", zap.String("custom_id", o.id),
			zap.String("kind", o.call.Kind), zap.Error(err))
	}
}

// params asks the runner for a call's request body (nil if it panics).
func (q *Queue) params(o openItem) (p json.RawMessage) {
	defer q.recover("Params of " + o.id)
	if o.cred.Provider == auth.ProviderOpenAI {
		return q.runner.ChatParams(o.call)
	}
	return q.runner.Params(o.call)
}

// do runs one synchronous call; a panic becomes an error.
func (q *Queue) do(ctx context.Context, o openItem) (text string, err error) {
	defer func() {
		if r := recover(); r != nil {
			q.log.Error("batching: panic", zap.String("in", "Do of "+o.id), zap.Any("panic", r), zap.ByteString("stack", debug.Stack()))
			err = fmt.Errorf("batching: the worker call panicked: %v", r)
		}
	}()
	if q.cfg.OnFallback != nil {
		q.cfg.OnFallback(o.call.Kind)
	}
	return q.runner.Do(ctx, o.call, o.cred)
}

// runNow runs one call synchronously, outside any record.
func (q *Queue) runNow(ctx context.Context, o openItem) {
	text, err := q.do(ctx, o)
	if err != nil {
		q.fail(ctx, o, err)
		return
	}
	q.apply(ctx, o, text)
}
