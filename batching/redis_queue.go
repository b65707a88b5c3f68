package batching

import (
	"context"
	"errors"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/caddy-lore/caddy-lore/store"
)

// RedisQueue is the Redis state of the durable Message Batches queue:
// queued items, records (a group of items being
// submitted, in flight as one upstream batch, or run synchronously), leases
// on records, counters. Every step that moves items is one Lua script
// (redis_scripts.go), so a process killed at any point leaves each item in
// exactly one place: the queue or one record.
type RedisQueue struct {
	st   *store.Store
	keys queueKeys
}

// NewRedisQueue returns the batch queue kept in st.
func NewRedisQueue(st *store.Store) *RedisQueue { return &RedisQueue{st: st, keys: queueKeys{st: st}} }

// Record states.
const (
	RecordSubmitting = "submitting" // taken off the queue; the create may or may not have reached upstream
	RecordInFlight   = "inflight"   // created upstream as Batch
	RecordSync       = "sync"       // its items run synchronously
)

// Counters of the stats hash. The claim counters are chosen by the caller.
const (
	CountEnqueued  = "enqueued"  // items accepted by Enqueue
	CountRefused   = "refused"   // items sent straight to sync: their group is refused
	CountFallback  = "fallback"  // items that went to a sync record
	CountBatches   = "batches"   // upstream batches recorded
	CountSubmitted = "submitted" // items in recorded upstream batches
	CountAbandoned = "abandoned" // in-flight batches given up (max age)
	CountRequeued  = "requeued"  // items put back on the queue by reconciliation
	CountResolved  = "resolved"  // succeeded batch rows
	CountFailed    = "failed"    // errored, canceled, expired or missing batch rows
	CountSyncOK    = "sync_ok"   // sync runs that produced a text
	CountSyncErr   = "sync_err"  // sync runs that failed
	CountDropped   = "dropped"   // items that could not be run at all (credential does not open, ...)
)

var claimCounters = map[string]bool{
	"": true, CountResolved: true, CountFailed: true, CountSyncOK: true, CountSyncErr: true, CountDropped: true,
}

// ErrInvalidQueueArg is returned for a custom_id, group, owner or counter
// that would break the schema.
var ErrInvalidQueueArg = errors.New("batching: invalid queue argument")

var (
	customIDRe = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)
	groupRe    = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,128}$`)
)

// knownFor is how long upstream batch ids stay in the known set.
const knownFor = 7 * 24 * time.Hour

// Record is one record (see the states).
type Record struct {
	ID       string
	State    string
	Group    string    // credential group of all its items
	T0       time.Time // when it was made (taken off the queue)
	N        int       // items when made
	Left     int       // items not yet claimed
	Batch    string    // upstream batch id (in flight)
	Created  time.Time // when the upstream batch was recorded as created
	Adopted  bool      // found upstream by reconciliation rather than recorded by its submitter
	Attempts int       // failed reconciliations
	NetErr   bool      // the create's outcome was unknown to its submitter
}

// QueuedItem is an item with its custom_id.
type QueuedItem struct {
	ID   string
	Data []byte
}

func ms(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }

func (b *RedisQueue) run(ctx context.Context, script *redis.Script, extra []string, args ...any) (any, error) {
	var out any
	keys := append(b.keys.batchKeys(), extra...)
	err := b.st.Do(ctx, func(ctx context.Context, c redis.UniversalClient) error {
		var err error
		out, err = script.Run(ctx, c, keys, args...).Result()
		return err
	})
	return out, err
}

func checkOwner(owner string) error {
	if owner == "" || strings.ContainsAny(owner, "|") || len(owner) > 200 {
		return ErrInvalidQueueArg
	}
	return nil
}

// Enqueue stores an item and appends it to the queue (one MULTI), and
// reports the queue length. When the group is refused (see Refuse), it then
// moves the item into a new sync record leased to owner until now+lease and
// returns that record's id ("" when queued).
func (b *RedisQueue) Enqueue(ctx context.Context, id, group string, item []byte, owner string, now time.Time, lease time.Duration) (int64, string, error) {
	if !customIDRe.MatchString(id) || !groupRe.MatchString(group) || len(item) == 0 || checkOwner(owner) != nil {
		return 0, "", ErrInvalidQueueArg
	}
	k := b.keys
	var refused, n *redis.IntCmd
	err := b.st.Do(ctx, func(ctx context.Context, c redis.UniversalClient) error {
		_, err := c.TxPipelined(ctx, func(p redis.Pipeliner) error {
			refused = p.Exists(ctx, k.batchRefused(group))
			p.HSet(ctx, k.batchItems(), id, item)
			p.HIncrBy(ctx, k.batchStats(), CountEnqueued, 1)
			n = p.RPush(ctx, k.batchQueue(), group+":"+id)
			return nil
		})
		return err
	})
	if err != nil {
		return 0, "", err
	}
	if refused.Val() == 0 {
		return n.Val(), "", nil
	}
	out, err := b.run(ctx, batchDivertScript, nil, id, group, ms(now), owner, ms(now.Add(lease)))
	rec, _ := out.(string)
	return n.Val() - 1, rec, err
}

// Take moves up to max items from the queue head into new records in state
// (RecordSubmitting or RecordSync), one per credential group, or several
// when a group's items exceed maxBytes, each leased to owner until now+lease.
// It returns the new record ids. One call is one script that blocks Redis
// while it runs and must finish within the read timeout: keep max to a few
// thousand (about 1 ms per 1,000 items on Redis, 15 ms on miniredis).
func (b *RedisQueue) Take(ctx context.Context, owner string, now time.Time, lease time.Duration, max int, maxBytes int64, state string) ([]string, error) {
	if checkOwner(owner) != nil || max < 1 || (state != RecordSubmitting && state != RecordSync) {
		return nil, ErrInvalidQueueArg
	}
	out, err := b.run(ctx, batchTakeScript, nil, owner, ms(now), ms(now.Add(lease)), max, maxBytes, state)
	if err != nil {
		return nil, err
	}
	return replyStrings(out), nil
}

func replyStrings(out any) []string {
	list, _ := out.([]any)
	ids := make([]string, 0, len(list))
	for _, v := range list {
		if s, ok := v.(string); ok {
			ids = append(ids, s)
		}
	}
	return ids
}

func pairs(out any) []QueuedItem {
	flat := replyStrings(out)
	items := make([]QueuedItem, 0, len(flat)/2)
	for i := 0; i+1 < len(flat); i += 2 {
		items = append(items, QueuedItem{ID: flat[i], Data: []byte(flat[i+1])})
	}
	return items
}

// Move is one record transition (see batchTransitionScript): Owner moves
// record Rec to state To at Now, renewing its lease to Now+Lease.
type Move struct {
	Rec, Owner string
	Now        time.Time
	Lease      time.Duration
	To         string
	// For To == RecordInFlight only: the upstream batch, when it was created,
	// and whether another submitter created it (reconciliation adopts it).
	Batch   string
	Created time.Time
	Adopted bool
}

// Transition makes move m; its owner must hold the record's lease or the
// lease must have expired. It reports whether the transition happened.
func (b *RedisQueue) Transition(ctx context.Context, m Move) (bool, error) {
	if checkOwner(m.Owner) != nil {
		return false, ErrInvalidQueueArg
	}
	adopt := ""
	if m.Adopted {
		adopt = "1"
	}
	out, err := b.run(ctx, batchTransitionScript, nil, m.Rec, m.Owner, ms(m.Now), ms(m.Now.Add(m.Lease)),
		m.To, m.Batch, ms(m.Created), adopt, ms(m.Now.Add(-knownFor)))
	if err != nil {
		return false, err
	}
	return out == int64(1), nil
}

// Claim removes the listed items from record rec if they still belong to it,
// counting them under counter, and returns them. An item is claimed once:
// whoever claims it runs its result.
func (b *RedisQueue) Claim(ctx context.Context, rec, counter string, ids ...string) ([]QueuedItem, error) {
	if !claimCounters[counter] {
		return nil, ErrInvalidQueueArg
	}
	if len(ids) == 0 {
		return nil, nil
	}
	args := make([]any, 0, len(ids)+2)
	args = append(args, rec, counter)
	for _, id := range ids {
		args = append(args, id)
	}
	out, err := b.run(ctx, batchClaimScript, nil, args...)
	return pairs(out), err
}

// Finish claims every item left in record rec (counted under counter),
// deletes the record and its lease, and returns the claimed items.
func (b *RedisQueue) Finish(ctx context.Context, rec, counter string) ([]QueuedItem, error) {
	if !claimCounters[counter] {
		return nil, ErrInvalidQueueArg
	}
	out, err := b.run(ctx, batchFinishScript, nil, rec, counter)
	return pairs(out), err
}

// Requeue puts record rec's remaining items back at the queue head and
// deletes the record; owner must hold its lease or the lease must have
// expired. It returns how many were requeued, or -1 when it did not happen.
func (b *RedisQueue) Requeue(ctx context.Context, rec, owner string, now time.Time, lease time.Duration) (int, error) {
	if checkOwner(owner) != nil {
		return -1, ErrInvalidQueueArg
	}
	out, err := b.run(ctx, batchRequeueScript, nil, rec, owner, ms(now), ms(now.Add(lease)))
	n, _ := out.(int64)
	if err != nil {
		return -1, err
	}
	return int(n), nil
}

// RecordItems returns the items still in record rec, in record order, at
// most limit of them (0: all).
func (b *RedisQueue) RecordItems(ctx context.Context, rec string, limit int) ([]QueuedItem, error) {
	out, err := b.run(ctx, batchRecordItemsScript, nil, rec, limit)
	return pairs(out), err
}

// Lease takes or renews the lease name for owner until now+ttl; false when
// another owner holds it unexpired.
func (b *RedisQueue) Lease(ctx context.Context, name, owner string, now time.Time, ttl time.Duration) (bool, error) {
	return b.leaseOp(ctx, name, owner, now, now.Add(ttl), "take")
}

// TakeFreeLease takes the lease name for owner until now+ttl only if nobody,
// owner included, holds it unexpired: for passes that look for abandoned
// work, which must not take over a record their own process still works on
// or deliberately left for later.
func (b *RedisQueue) TakeFreeLease(ctx context.Context, name, owner string, now time.Time, ttl time.Duration) (bool, error) {
	return b.leaseOp(ctx, name, owner, now, now.Add(ttl), "free")
}

// SetLeaseExpiry changes the expiry of owner's lease name to at (earlier or
// later); false when owner does not hold it.
func (b *RedisQueue) SetLeaseExpiry(ctx context.Context, name, owner string, at time.Time) (bool, error) {
	return b.leaseOp(ctx, name, owner, at, at, "set")
}

func (b *RedisQueue) leaseOp(ctx context.Context, name, owner string, now, expiry time.Time, mode string) (bool, error) {
	if checkOwner(owner) != nil || name == "" {
		return false, ErrInvalidQueueArg
	}
	out, err := b.run(ctx, batchLeaseScript, nil, name, owner, ms(now), ms(expiry), mode)
	if err != nil {
		return false, err
	}
	return out == int64(1), nil
}
