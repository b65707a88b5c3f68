package store

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Per-person usage (GET /lore/usage): one hash of counters per UTC day,
// fields "<figure>|<model>|<person>". A day's counters are a handful of
// HINCRBYs written with the turn's commit (CommitTurn, Turn.Usage) or after
// a worker call (AddWorkerUsage), and read with one HGETALL per day, so a
// month of usage is 31 reads whatever the traffic, on any instance, after
// any restart.

// UsageFigures are the counters of one (day, person, model).
type UsageFigures struct {
	Turns      int64 `json:"turns"`
	Input      int64 `json:"input"`
	Output     int64 `json:"output"`
	CacheRead  int64 `json:"cache_read"`
	CacheWrite int64 `json:"cache_write"`
	// CostMicroUSD and CounterfactualMicroUSD are the turns' (see
	// handler.turnCost).
	CostMicroUSD           int64 `json:"cost_micro_usd"`
	CounterfactualMicroUSD int64 `json:"counterfactual_micro_usd"`
	// Worker calls made for the person's sessions: how many, how many of
	// them were billed as batch rows, their tokens and their cost at the
	// rate they ran at (batch or standard).
	WorkerCalls        int64 `json:"worker_calls"`
	WorkerBatchCalls   int64 `json:"worker_batch_calls"`
	WorkerInput        int64 `json:"worker_input"`
	WorkerOutput       int64 `json:"worker_output"`
	WorkerCacheRead    int64 `json:"worker_cache_read"`
	WorkerCacheWrite   int64 `json:"worker_cache_write"`
	WorkerCostMicroUSD int64 `json:"worker_cost_micro_usd"`
}

// usageCounters names each figure in Redis. Short, explicit names: renaming
// a Go field never orphans stored counters.
func usageCounters(f *UsageFigures) [14]struct {
	name string
	v    *int64
} {
	return [14]struct {
		name string
		v    *int64
	}{
		{"t", &f.Turns}, {"in", &f.Input}, {"out", &f.Output}, {"cr", &f.CacheRead}, {"cw", &f.CacheWrite},
		{"c", &f.CostMicroUSD}, {"cf", &f.CounterfactualMicroUSD},
		{"wc", &f.WorkerCalls}, {"wb", &f.WorkerBatchCalls}, {"win", &f.WorkerInput}, {"wout", &f.WorkerOutput},
		{"wcr", &f.WorkerCacheRead}, {"wcw", &f.WorkerCacheWrite}, {"wcost", &f.WorkerCostMicroUSD},
	}
}

// Add adds o to f.
func (f *UsageFigures) Add(o UsageFigures) {
	dst, src := usageCounters(f), usageCounters(&o)
	for i := range dst {
		*dst[i].v += *src[i].v
	}
}

// UsageRecord is what one turn or one worker call adds.
type UsageRecord struct {
	At      time.Time // its UTC day is the counters' day
	Person  string    // identity or credential fingerprint; AddWorkerUsage fills it in
	Model   string
	Figures UsageFigures
}

// UsageEntry is the counters of one (day, person, model).
type UsageEntry struct {
	Day     string // YYYY-MM-DD, UTC
	Person  string
	Model   string
	Figures UsageFigures
}

// UsageDayFormat is the layout of a usage day.
const UsageDayFormat = "2006-01-02"

// MaxUsageDays bounds one ReadUsage range.
const MaxUsageDays = 400

// UnknownPerson is the person of worker calls whose session no longer
// exists (deleted or expired before its batch came back).
const UnknownPerson = "unknown"

// ErrUsageRange is returned for an empty or too long ReadUsage range.
var ErrUsageRange = errors.New("store: usage range must be 1 to 400 days")

// cleanLabel keeps a person or model usable inside a counter field: at most
// 256 bytes, no control characters, and no '|' in the model (the person,
// last in the field, may hold any).
func cleanLabel(s string, model bool) string {
	if len(s) > 256 {
		s = s[:256]
	}
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f || model && r == '|' {
			return '_'
		}
		return r
	}, s)
}

// usageExpiry is when a day's counters expire: retention after the day
// began, so no counter outlives retention by more than the day it counts;
// at least ttl after now when retention is shorter than a day.
func usageExpiry(day, now time.Time, ttl time.Duration) time.Time {
	at := day.Add(ttl)
	if !at.After(now) {
		at = now.Add(ttl)
	}
	return at
}

// usageWrites queues rec's counters on p.
func (s *Store) usageWrites(ctx context.Context, p redis.Pipeliner, rec UsageRecord, ttl time.Duration) {
	at := rec.At.UTC()
	day := time.Date(at.Year(), at.Month(), at.Day(), 0, 0, 0, 0, time.UTC)
	key := s.keys.usageDay(day.Format(UsageDayFormat))
	model, person := cleanLabel(rec.Model, true), cleanLabel(rec.Person, false)
	if model == "" {
		model = "unknown"
	}
	if person == "" {
		person = UnknownPerson
	}
	for _, c := range usageCounters(&rec.Figures) {
		if *c.v != 0 {
			p.HIncrBy(ctx, key, c.name+"|"+model+"|"+person, *c.v)
		}
	}
	p.ExpireAt(ctx, key, usageExpiry(day, rec.At, ttl))
}

// AddWorkerUsage adds a worker call's counters to the person of session sid
// (the session's Person, else its fingerprint, else UnknownPerson): one read
// and one pipelined write, off any request's path.
func (s *Store) AddWorkerUsage(ctx context.Context, sid string, rec UsageRecord, ttl time.Duration) error {
	if err := CheckID(sid); err != nil {
		return err
	}
	if ttl <= 0 {
		ttl = DefaultRetention
	}
	return s.do(ctx, func(ctx context.Context, c redis.UniversalClient) error {
		who, err := c.HMGet(ctx, s.keys.state(sid), fPerson, fFingerprint).Result()
		if err != nil {
			return err
		}
		rec.Person = ""
		for _, v := range who {
			if str, ok := v.(string); ok && str != "" {
				rec.Person = str
				break
			}
		}
		_, err = c.Pipelined(ctx, func(p redis.Pipeliner) error {
			s.usageWrites(ctx, p, rec, ttl)
			return nil
		})
		return err
	})
}

// ReadUsage returns the counters of the UTC days from since to until,
// both included, in one pipelined round trip.
func (s *Store) ReadUsage(ctx context.Context, since, until time.Time) ([]UsageEntry, error) {
	since, until = since.UTC(), until.UTC()
	first := time.Date(since.Year(), since.Month(), since.Day(), 0, 0, 0, 0, time.UTC)
	last := time.Date(until.Year(), until.Month(), until.Day(), 0, 0, 0, 0, time.UTC)
	n := int(last.Sub(first)/(24*time.Hour)) + 1
	if n < 1 || n > MaxUsageDays {
		return nil, ErrUsageRange
	}
	days := make([]string, n)
	for i := range days {
		days[i] = first.AddDate(0, 0, i).Format(UsageDayFormat)
	}
	cmds := make([]*redis.MapStringStringCmd, n)
	err := s.do(ctx, func(ctx context.Context, c redis.UniversalClient) error {
		_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, d := range days {
				cmds[i] = p.HGetAll(ctx, s.keys.usageDay(d))
			}
			return nil
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	var out []UsageEntry
	for i, d := range days {
		entries, err := decodeUsageDay(d, cmds[i].Val())
		if err != nil {
			return nil, err
		}
		out = append(out, entries...)
	}
	return out, nil
}

// decodeUsageDay turns one day's hash into entries, sorted by person then
// model. Fields of unknown figures (a newer version's) are skipped.
func decodeUsageDay(day string, h map[string]string) ([]UsageEntry, error) {
	type pm struct{ person, model string }
	byKey := map[pm]*UsageFigures{}
	var order []pm
	for field, v := range h {
		parts := strings.SplitN(field, "|", 3)
		if len(parts) != 3 {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("store: usage %s: counter is not a number", day)
		}
		k := pm{parts[2], parts[1]}
		f, ok := byKey[k]
		if !ok {
			f = &UsageFigures{}
			byKey[k] = f
			order = append(order, k)
		}
		for _, c := range usageCounters(f) {
			if c.name == parts[0] {
				*c.v += n
				break
			}
		}
	}
	out := make([]UsageEntry, 0, len(order))
	for _, k := range order {
		out = append(out, UsageEntry{Day: day, Person: k.person, Model: k.model, Figures: *byKey[k]})
	}
	sortUsage(out)
	return out, nil
}

func sortUsage(es []UsageEntry) {
	slices.SortFunc(es, func(a, b UsageEntry) int {
		return cmp.Or(strings.Compare(a.Day, b.Day), strings.Compare(a.Person, b.Person), strings.Compare(a.Model, b.Model))
	})
}
