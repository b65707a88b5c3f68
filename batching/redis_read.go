package batching

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/caddy-lore/caddy-lore/pricing"
	"github.com/caddy-lore/caddy-lore/store"
)

// rawRecord is a record as the scripts write it: every value a string.
type rawRecord struct {
	ID       string `json:"id"`
	State    string `json:"state"`
	Group    string `json:"group"`
	T0       string `json:"t0"`
	N        string `json:"n"`
	Left     string `json:"left"`
	Batch    string `json:"batch"`
	Created  string `json:"created"`
	Adopted  string `json:"adopted"`
	Attempts string `json:"attempts"`
	NetErr   string `json:"neterr"`
}

func atoi(s string) int64 {
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}

func fromMs(s string) time.Time {
	if n := atoi(s); n != 0 {
		return time.UnixMilli(n).UTC()
	}
	return time.Time{}
}

func decodeRecord(v string) (Record, error) {
	var r rawRecord
	if err := json.Unmarshal([]byte(v), &r); err != nil || r.ID == "" {
		return Record{}, errors.New("batching: a queue record is not valid JSON")
	}
	return Record{
		ID: r.ID, State: r.State, Group: r.Group, T0: fromMs(r.T0),
		N: int(atoi(r.N)), Left: int(atoi(r.Left)), Batch: r.Batch, Created: fromMs(r.Created),
		Adopted: r.Adopted == "1", Attempts: int(atoi(r.Attempts)), NetErr: r.NetErr == "1",
	}, nil
}

// Records returns every record, oldest first.
func (b *RedisQueue) Records(ctx context.Context) ([]Record, error) {
	var raw map[string]string
	err := b.st.Do(ctx, func(ctx context.Context, c redis.UniversalClient) error {
		var err error
		raw, err = c.HGetAll(ctx, b.keys.batchRecs()).Result()
		return err
	})
	if err != nil {
		return nil, err
	}
	return sortedRecords(raw)
}

func sortedRecords(raw map[string]string) ([]Record, error) {
	out := make([]Record, 0, len(raw))
	for _, v := range raw {
		r, err := decodeRecord(v)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].T0.Equal(out[j].T0) {
			return out[i].T0.Before(out[j].T0)
		}
		return atoi(out[i].ID[1:]) < atoi(out[j].ID[1:])
	})
	return out, nil
}

// Record returns one record; ok is false when it does not exist.
func (b *RedisQueue) Record(ctx context.Context, id string) (Record, bool, error) {
	var v string
	err := b.st.Do(ctx, func(ctx context.Context, c redis.UniversalClient) error {
		var err error
		v, err = c.HGet(ctx, b.keys.batchRecs(), id).Result()
		return err
	})
	if errors.Is(err, redis.Nil) {
		return Record{}, false, nil
	}
	if err != nil {
		return Record{}, false, err
	}
	r, err := decodeRecord(v)
	return r, err == nil, err
}

// Refuse remembers for ttl that the batch API refused a credential group.
func (b *RedisQueue) Refuse(ctx context.Context, group string, ttl time.Duration) error {
	if !groupRe.MatchString(group) {
		return ErrInvalidQueueArg
	}
	return b.st.Do(ctx, func(ctx context.Context, c redis.UniversalClient) error {
		return c.Set(ctx, b.keys.batchRefused(group), "1", ttl).Err()
	})
}

// Refused reports whether a credential group is remembered as refused.
func (b *RedisQueue) Refused(ctx context.Context, group string) (bool, error) {
	if !groupRe.MatchString(group) {
		return false, ErrInvalidQueueArg
	}
	var n int64
	err := b.st.Do(ctx, func(ctx context.Context, c redis.UniversalClient) error {
		var err error
		n, err = c.Exists(ctx, b.keys.batchRefused(group)).Result()
		return err
	})
	return n == 1, err
}

// Known reports which of the upstream batch ids this queue has recorded
// (in the last 7 days).
func (b *RedisQueue) Known(ctx context.Context, ids ...string) (map[string]bool, error) {
	out := make(map[string]bool, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	var scores []float64
	err := b.st.Do(ctx, func(ctx context.Context, c redis.UniversalClient) error {
		var err error
		scores, err = c.ZMScore(ctx, b.keys.batchKnown(), ids...).Result()
		return err
	})
	if err != nil {
		return nil, err
	}
	for i, id := range ids {
		out[id] = i < len(scores) && scores[i] != 0
	}
	return out, nil
}

// Snapshot is a snapshot for stats: the queue length, the queue head's
// item (nil when empty), the counters and the records.
type Snapshot struct {
	Queued   int64
	Oldest   []byte
	Counters map[string]int64
	Records  []Record
}

// State reads the snapshot in one round trip (plus one for the head item).
func (b *RedisQueue) State(ctx context.Context) (Snapshot, error) {
	var (
		st      Snapshot
		head    *redis.StringSliceCmd
		llen    *redis.IntCmd
		stats   *redis.MapStringStringCmd
		records *redis.MapStringStringCmd
	)
	k := b.keys
	err := b.st.Do(ctx, func(ctx context.Context, c redis.UniversalClient) error {
		_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
			llen = p.LLen(ctx, k.batchQueue())
			head = p.LRange(ctx, k.batchQueue(), 0, 0)
			stats = p.HGetAll(ctx, k.batchStats())
			records = p.HGetAll(ctx, k.batchRecs())
			return nil
		})
		if err != nil {
			return err
		}
		if h := head.Val(); len(h) == 1 {
			if _, id, ok := cut(h[0]); ok {
				v, err := c.HGet(ctx, k.batchItems(), id).Bytes()
				if err != nil && !errors.Is(err, redis.Nil) {
					return err
				}
				st.Oldest = v
			}
		}
		return nil
	})
	if err != nil {
		return st, err
	}
	st.Queued = llen.Val()
	st.Counters = make(map[string]int64, len(stats.Val()))
	for name, v := range stats.Val() {
		if name != "seq" {
			st.Counters[name] = atoi(v)
		}
	}
	st.Records, err = sortedRecords(records.Val())
	return st, err
}

func cut(entry string) (group, id string, ok bool) {
	for i := 0; i < len(entry); i++ {
		if entry[i] == ':' {
			return entry[:i], entry[i+1:], true
		}
	}
	return "", "", false
}

// BatchedUsage is the token sums of a session's batched calls (succeeded
// rows) with one model.
type BatchedUsage struct {
	Calls int64
	Usage pricing.Usage // a field, not embedded: its UnmarshalJSON would take over the struct's
}

const (
	uCalls = "calls"
	uIn    = "input"
	uOut   = "output"
	uRead  = "cache_read"
	uWrite = "cache_write"
	// uWrite1h is the part of uWrite written to the 1-hour cache: a session's
	// only, for pricing its batched calls (the queue's totals do not have it).
	uWrite1h = "cache_write_1h"
)

// AddSessionUsage adds one succeeded batch row's usage (of model) to its
// session, refreshing the key's TTL to ttl (0: store.DefaultRetention), and to the
// queue's totals ("tokens_*" counters). Fields are "<figure>:<model>".
func (b *RedisQueue) AddSessionUsage(ctx context.Context, sid, model string, u pricing.Usage, ttl time.Duration) error {
	if err := store.CheckID(sid); err != nil {
		return err
	}
	if model == "" {
		model = "unknown"
	}
	if ttl <= 0 {
		ttl = store.DefaultRetention
	}
	key, stats := b.keys.sessionBatch(sid), b.keys.batchStats()
	figures := []struct {
		name string
		n    int64
	}{{uCalls, 1}, {uIn, u.InputTokens}, {uOut, u.OutputTokens}, {uRead, u.CacheReadTokens}, {uWrite, u.CacheWriteTokens}, {uWrite1h, u.CacheWrite1hTokens}}
	return b.st.Do(ctx, func(ctx context.Context, c redis.UniversalClient) error {
		_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, f := range figures {
				if f.n == 0 && f.name == uWrite1h {
					continue // no field for what a model's calls never had
				}
				p.HIncrBy(ctx, key, f.name+":"+model, f.n)
				if f.name != uCalls && f.name != uWrite1h {
					p.HIncrBy(ctx, stats, "tokens_"+f.name, f.n)
				}
			}
			p.Expire(ctx, key, ttl)
			return nil
		})
		return err
	})
}

// SessionUsage returns a session's batched token sums by model (empty when
// none).
func (b *RedisQueue) SessionUsage(ctx context.Context, sid string) (map[string]BatchedUsage, error) {
	if err := store.CheckID(sid); err != nil {
		return nil, err
	}
	var raw map[string]string
	err := b.st.Do(ctx, func(ctx context.Context, c redis.UniversalClient) error {
		var err error
		raw, err = c.HGetAll(ctx, b.keys.sessionBatch(sid)).Result()
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make(map[string]BatchedUsage)
	for field, v := range raw {
		name, model, ok := strings.Cut(field, ":")
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("batching: session %s: batch usage %s is not a number", sid, field)
		}
		u := out[model]
		switch name {
		case uCalls:
			u.Calls = n
		case uIn:
			u.Usage.InputTokens = n
		case uOut:
			u.Usage.OutputTokens = n
		case uRead:
			u.Usage.CacheReadTokens = n
		case uWrite:
			u.Usage.CacheWriteTokens = n
		case uWrite1h:
			u.Usage.CacheWrite1hTokens = n
		default:
			continue
		}
		out[model] = u
	}
	return out, nil
}

// Register records a live queue instance (lease owner) until until.
func (b *RedisQueue) Register(ctx context.Context, owner string, until time.Time) error {
	if checkOwner(owner) != nil {
		return ErrInvalidQueueArg
	}
	return b.st.Do(ctx, func(ctx context.Context, c redis.UniversalClient) error {
		return c.HSet(ctx, b.keys.batchInstances(), owner, ms(until)).Err()
	})
}

// Unregister removes a queue instance.
func (b *RedisQueue) Unregister(ctx context.Context, owner string) error {
	return b.st.Do(ctx, func(ctx context.Context, c redis.UniversalClient) error {
		return c.HDel(ctx, b.keys.batchInstances(), owner).Err()
	})
}

// Instances returns the queue instances registered past now (pruning the
// others).
func (b *RedisQueue) Instances(ctx context.Context, now time.Time) ([]string, error) {
	var raw map[string]string
	key := b.keys.batchInstances()
	err := b.st.Do(ctx, func(ctx context.Context, c redis.UniversalClient) error {
		var err error
		raw, err = c.HGetAll(ctx, key).Result()
		return err
	})
	if err != nil {
		return nil, err
	}
	var live, dead []string
	for owner, until := range raw {
		if atoi(until) > now.UnixMilli() {
			live = append(live, owner)
		} else {
			dead = append(dead, owner)
		}
	}
	sort.Strings(live)
	if len(dead) > 0 {
		_ = b.st.Do(ctx, func(ctx context.Context, c redis.UniversalClient) error {
			return c.HDel(ctx, key, dead...).Err()
		})
	}
	return live, nil
}
