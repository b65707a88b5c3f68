// Package usage is per-person usage: what a turn and a worker call add to
// the per-day counters (counters.go), and the report GET /lore/usage and
// the status page make of them, grouped by person, model or day.
//
// The saving is against the same turns sent without the gateway, where no
// worker call would have been made: cost = turns + worker calls (each at the
// rate it ran at), counterfactual = the turns' counterfactual (see
// handler.turnCost), saving = counterfactual − cost.
package usage

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/caddy-lore/caddy-lore/pricing"
)

// Turn is what one answered turn adds: its tokens (all upstream rounds),
// cost and counterfactual in micro-dollars.
func Turn(u pricing.Usage, cost, counterfactual int64) Figures {
	return Figures{
		Turns: 1, Input: u.InputTokens, Output: u.OutputTokens, CacheRead: u.CacheReadTokens, CacheWrite: u.CacheWriteTokens,
		CostMicroUSD: cost, CounterfactualMicroUSD: counterfactual,
	}
}

// Worker is what one worker call of model adds, priced at the Batch API's
// rate when it ran as a batch row, else at the standard rate.
func Worker(model string, u pricing.Usage, batch bool) Figures {
	p := pricing.For(model)
	f := Figures{
		WorkerCalls: 1, WorkerInput: u.InputTokens, WorkerOutput: u.OutputTokens,
		WorkerCacheRead: u.CacheReadTokens, WorkerCacheWrite: u.CacheWriteTokens,
	}
	if batch {
		f.WorkerBatchCalls = 1
	}
	f.WorkerCostMicroUSD = pricing.Micro(p.WorkerCost(u, batch))
	return f
}

// Groupings of a report.
const (
	ByPerson = "person"
	ByModel  = "model"
	ByDay    = "day"
)

// Tokens is a token count by kind.
type Tokens struct {
	Input      int64 `json:"input"`
	Output     int64 `json:"output"`
	CacheRead  int64 `json:"cache_read"`
	CacheWrite int64 `json:"cache_write"`
}

// TokensOf is u's counts as a Tokens.
func TokensOf(u pricing.Usage) Tokens {
	return Tokens{u.InputTokens, u.OutputTokens, u.CacheReadTokens, u.CacheWriteTokens}
}

// WorkerView is the worker calls made for a row's sessions.
type WorkerView struct {
	Calls      int64   `json:"calls"`
	BatchCalls int64   `json:"batch_calls"`
	Tokens     Tokens  `json:"tokens"`
	Cost       float64 `json:"cost_usd"`
}

// Row is one person's, model's or day's usage. Dollars are estimates at
// list prices (docs/cost.md).
type Row struct {
	Key            string     `json:"key"`
	Turns          int64      `json:"turns"`
	Tokens         Tokens     `json:"tokens"`
	Worker         WorkerView `json:"worker"`
	Cost           float64    `json:"cost_usd"`           // turns + worker calls
	Counterfactual float64    `json:"counterfactual_usd"` // the turns without the gateway
	Saved          float64    `json:"saved_usd"`          // counterfactual − cost
	// TurnsCost is the turns' share of Cost.
	TurnsCost float64 `json:"turns_cost_usd"`
}

// Report is GET /lore/usage.
type Report struct {
	Since string `json:"since"` // first UTC day, YYYY-MM-DD
	Until string `json:"until"` // last UTC day, included
	By    string `json:"by"`
	Rows  []Row  `json:"rows"`
	Total Row    `json:"total"`
}

// Build groups entries by by (ByPerson, ByModel or ByDay). Rows are sorted
// by key for ByDay (every day of the range, empty ones included, so a chart
// has no gaps), else by cost, highest first.
func Build(entries []Entry, by string, days []string) (Report, error) {
	key := map[string]func(Entry) string{
		ByPerson: func(e Entry) string { return e.Person },
		ByModel:  func(e Entry) string { return e.Model },
		ByDay:    func(e Entry) string { return e.Day },
	}[by]
	if key == nil {
		return Report{}, fmt.Errorf("by: one of person, model, day")
	}
	sums := map[string]*Figures{}
	var order []string
	if by == ByDay {
		for _, d := range days {
			sums[d] = &Figures{}
			order = append(order, d)
		}
	}
	var total Figures
	for _, e := range entries {
		k := key(e)
		f, ok := sums[k]
		if !ok {
			f = &Figures{}
			sums[k] = f
			order = append(order, k)
		}
		f.Add(e.Figures)
		total.Add(e.Figures)
	}
	r := Report{By: by, Rows: make([]Row, 0, len(order)), Total: row("total", total)}
	if len(days) > 0 {
		r.Since, r.Until = days[0], days[len(days)-1]
	}
	for _, k := range order {
		r.Rows = append(r.Rows, row(k, *sums[k]))
	}
	if by == ByDay {
		slices.SortFunc(r.Rows, func(a, b Row) int { return cmp.Compare(a.Key, b.Key) })
	} else {
		slices.SortFunc(r.Rows, func(a, b Row) int {
			return cmp.Or(cmp.Compare(b.Cost, a.Cost), cmp.Compare(a.Key, b.Key))
		})
	}
	return r, nil
}

func row(key string, f Figures) Row {
	cost := f.CostMicroUSD + f.WorkerCostMicroUSD
	return Row{
		Key: key, Turns: f.Turns,
		Tokens: Tokens{f.Input, f.Output, f.CacheRead, f.CacheWrite},
		Worker: WorkerView{
			Calls: f.WorkerCalls, BatchCalls: f.WorkerBatchCalls,
			Tokens: Tokens{f.WorkerInput, f.WorkerOutput, f.WorkerCacheRead, f.WorkerCacheWrite},
			Cost:   pricing.Dollars(f.WorkerCostMicroUSD),
		},
		Cost:           pricing.Dollars(cost),
		TurnsCost:      pricing.Dollars(f.CostMicroUSD),
		Counterfactual: pricing.Dollars(f.CounterfactualMicroUSD),
		Saved:          pricing.Dollars(f.CounterfactualMicroUSD - cost),
	}
}
