package store

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"
)

// Increments are what a commit adds to the counters of one hash (a day's
// usage, usage.Queue): HINCRBY of each field, then EXPIREAT of the key.
//
// Counters are the one write that many turns make to the same key, so a
// group commit (group.go) adds up its members' increments first: it sends
// one HINCRBY per field and one EXPIREAT per key for the whole group, not
// per turn. A counter command that fails fails every commit that added to
// that key.
type Increments struct {
	Key      string
	ExpireAt time.Time // the key's expiry; a group keeps the latest
	Fields   []Increment
}

// Increment adds By to one field.
type Increment struct {
	Field string
	By    int64
}

// QueueIncrements queues incs, one HINCRBY per field and one EXPIREAT per
// key, on p: how a caller outside a commit (usage.AddWorker) writes them.
func QueueIncrements(ctx context.Context, p redis.Pipeliner, incs ...Increments) {
	for _, in := range incs {
		for _, f := range in.Fields {
			p.HIncrBy(ctx, in.Key, f.Field, f.By)
		}
		p.ExpireAt(ctx, in.Key, in.ExpireAt)
	}
}

// mergedKey is one key's increments, added up over a group's members.
type mergedKey struct {
	expireAt time.Time
	fields   []Increment // in the order the fields first appeared
	index    map[string]int
	members  []int // the members that added to it
	lo, hi   int   // its commands in the group's pipeline
}

// queueMerged queues the added-up increments of the group's members on p
// and returns, for each member, the keys it added to, so that their
// commands' errors are the member's too.
func queueMerged(ctx context.Context, p redis.Pipeliner, group []*groupMember) map[int][]*mergedKey {
	var order []string
	keys := map[string]*mergedKey{}
	for i, m := range group {
		for _, in := range m.counters {
			k, ok := keys[in.Key]
			if !ok {
				k = &mergedKey{index: map[string]int{}}
				keys[in.Key] = k
				order = append(order, in.Key)
			}
			if in.ExpireAt.After(k.expireAt) {
				k.expireAt = in.ExpireAt
			}
			if n := len(k.members); n == 0 || k.members[n-1] != i {
				k.members = append(k.members, i)
			}
			for _, f := range in.Fields {
				if j, ok := k.index[f.Field]; ok {
					k.fields[j].By += f.By
					continue
				}
				k.index[f.Field] = len(k.fields)
				k.fields = append(k.fields, f)
			}
		}
	}
	if len(order) == 0 {
		return nil
	}
	byMember := map[int][]*mergedKey{}
	for _, key := range order {
		k := keys[key]
		k.lo = p.Len()
		QueueIncrements(ctx, p, Increments{Key: key, ExpireAt: k.expireAt, Fields: k.fields})
		k.hi = p.Len()
		for _, i := range k.members {
			byMember[i] = append(byMember[i], k)
		}
	}
	return byMember
}
