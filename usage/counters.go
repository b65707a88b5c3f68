package usage

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

	"github.com/caddy-lore/caddy-lore/store"
)

// Per-person usage in Redis: one hash of counters per UTC day, fields
// "<figure>|<model>|<person>". What a turn adds is written with the turn's
// commit (Queue, store.Turn.Counters; a group commit adds up its turns') and
// what a worker call adds right after it (AddWorker); a day is read with one HGETALL, so a month
// of usage is 31 reads whatever the traffic, on any instance, after any
// restart.
//
//	key                  type  content                                          TTL
//	<p>usage:{<day>}     hash  "<figure>|<model>|<person>" → counter, for the    retention after the day
//	                           UTC day <day> (YYYY-MM-DD); figures: t (turns),  began (expiry)
//	                           in, out, cr, cw (tokens), c, cf (cost and
//	                           counterfactual, micro-dollars), wc, wb, win,
//	                           wout, wcr, wcw, wcost (worker calls)
//
// <person> is the configured identity or a 12-hex keyed credential
// fingerprint, never a credential. A day's key is one slot; a turn writes it
// in the pipeline of its commit that already reaches other slots.
// docs/redis-keys.md has the whole key schema.

// dayKey names a day's counters under the store's key prefix.
func dayKey(st *store.Store, day string) string { return st.Key("usage:{" + day + "}") }

// Figures are the counters of one (day, person, model).
type Figures struct {
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

// counters names each figure in Redis. Short, explicit names: renaming a Go
// field never orphans stored counters.
func counters(f *Figures) [14]struct {
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
func (f *Figures) Add(o Figures) {
	dst, src := counters(f), counters(&o)
	for i := range dst {
		*dst[i].v += *src[i].v
	}
}

// Record is what one turn or one worker call adds.
type Record struct {
	At      time.Time // its UTC day is the counters' day
	Person  string    // identity or credential fingerprint; AddWorker fills it in
	Model   string
	Figures Figures
}

// Entry is the counters of one (day, person, model).
type Entry struct {
	Day     string // YYYY-MM-DD, UTC
	Person  string
	Model   string
	Figures Figures
}

// DayFormat is the layout of a usage day.
const DayFormat = "2006-01-02"

// MaxDays bounds one Read range.
const MaxDays = 400

// UnknownPerson is the person of worker calls whose session no longer
// exists (deleted or expired before its batch came back).
const UnknownPerson = "unknown"

// ErrRange is returned for an empty or too long Read range.
var ErrRange = errors.New("usage: range must be 1 to 400 days")

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

// expiry is when a day's counters expire: retention after the day began, so
// no counter outlives retention by more than the day it counts; at least ttl
// after now when retention is shorter than a day.
func expiry(day, now time.Time, ttl time.Duration) time.Time {
	at := day.Add(ttl)
	if !at.After(now) {
		at = now.Add(ttl)
	}
	return at
}

// Queue returns the counters rec adds, for store.Turn.Counters: one
// HINCRBY per non-zero figure and the day's EXPIREAT, added up with the
// other turns of a group commit. ttl is the retention.
func Queue(st *store.Store, rec Record, ttl time.Duration) store.Increments {
	if ttl <= 0 {
		ttl = store.DefaultRetention
	}
	at := rec.At.UTC()
	day := time.Date(at.Year(), at.Month(), at.Day(), 0, 0, 0, 0, time.UTC)
	model, person := cleanLabel(rec.Model, true), cleanLabel(rec.Person, false)
	if model == "" {
		model = "unknown"
	}
	if person == "" {
		person = UnknownPerson
	}
	in := store.Increments{Key: dayKey(st, day.Format(DayFormat)), ExpireAt: expiry(day, rec.At, ttl)}
	for _, c := range counters(&rec.Figures) {
		if *c.v != 0 {
			in.Fields = append(in.Fields, store.Increment{Field: c.name + "|" + model + "|" + person, By: *c.v})
		}
	}
	return in
}

// AddWorker adds a worker call's counters to the person of session sid (the
// session's Person, else its fingerprint, else UnknownPerson): one read and
// one write, off any request's path.
func AddWorker(ctx context.Context, st *store.Store, sid string, rec Record, ttl time.Duration) error {
	person, err := st.SessionPerson(ctx, sid)
	if err != nil {
		return err
	}
	rec.Person = person
	return st.Do(ctx, func(ctx context.Context, c redis.UniversalClient) error {
		_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
			store.QueueIncrements(ctx, p, Queue(st, rec, ttl))
			return nil
		})
		return err
	})
}

// Read returns the counters of the UTC days from since to until, both
// included, in one pipelined round trip.
func Read(ctx context.Context, st *store.Store, since, until time.Time) ([]Entry, error) {
	since, until = since.UTC(), until.UTC()
	first := time.Date(since.Year(), since.Month(), since.Day(), 0, 0, 0, 0, time.UTC)
	last := time.Date(until.Year(), until.Month(), until.Day(), 0, 0, 0, 0, time.UTC)
	n := int(last.Sub(first)/(24*time.Hour)) + 1
	if n < 1 || n > MaxDays {
		return nil, ErrRange
	}
	days := make([]string, n)
	for i := range days {
		days[i] = first.AddDate(0, 0, i).Format(DayFormat)
	}
	cmds := make([]*redis.MapStringStringCmd, n)
	err := st.Do(ctx, func(ctx context.Context, c redis.UniversalClient) error {
		_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, d := range days {
				cmds[i] = p.HGetAll(ctx, dayKey(st, d))
			}
			return nil
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	var out []Entry
	for i, d := range days {
		entries, err := decodeDay(d, cmds[i].Val())
		if err != nil {
			return nil, err
		}
		out = append(out, entries...)
	}
	return out, nil
}

// decodeDay turns one day's hash into entries, sorted by person then model.
// Fields of unknown figures (a newer version's) are skipped.
func decodeDay(day string, h map[string]string) ([]Entry, error) {
	type pm struct{ person, model string }
	byKey := map[pm]*Figures{}
	var order []pm
	for field, v := range h {
		parts := strings.SplitN(field, "|", 3)
		if len(parts) != 3 {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("usage: %s: counter is not a number", day)
		}
		k := pm{parts[2], parts[1]}
		f, ok := byKey[k]
		if !ok {
			f = &Figures{}
			byKey[k] = f
			order = append(order, k)
		}
		for _, c := range counters(f) {
			if c.name == parts[0] {
				*c.v += n
				break
			}
		}
	}
	out := make([]Entry, 0, len(order))
	for _, k := range order {
		out = append(out, Entry{Day: day, Person: k.person, Model: k.model, Figures: *byKey[k]})
	}
	slices.SortFunc(out, func(a, b Entry) int {
		return cmp.Or(strings.Compare(a.Person, b.Person), strings.Compare(a.Model, b.Model))
	})
	return out, nil
}
