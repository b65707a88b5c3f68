package usage

import (
	"reflect"
	"testing"

	"github.com/caddy-lore/caddy-lore/pricing"
)

func TestWorkerPricedAsItRan(t *testing.T) {
	// As an Anthropic worker's answer reports its system prompt's writes:
	// under ttl "1h".
	u := pricing.Usage{InputTokens: 1_000_000, OutputTokens: 100_000, CacheReadTokens: 10_000, CacheWriteTokens: 20_000, CacheWrite1hTokens: 20_000}
	sync, batch := Worker("claude-haiku-4-5", u, false), Worker("claude-haiku-4-5", u, true)
	// Haiku 4.5: $1/$5 per MTok; cache read 0.1×, 1-hour write 2×.
	const want = 1_000_000 + 500_000 + 1_000 + 40_000
	if sync.WorkerCostMicroUSD != want || batch.WorkerCostMicroUSD != want/2 {
		t.Fatalf("sync %d, batch %d micro-dollars, want %d and half", sync.WorkerCostMicroUSD, batch.WorkerCostMicroUSD, want)
	}
	if sync.WorkerCalls != 1 || sync.WorkerBatchCalls != 0 || batch.WorkerBatchCalls != 1 || batch.WorkerInput != u.InputTokens ||
		batch.WorkerCacheWrite != u.CacheWriteTokens || batch.Turns != 0 || batch.CounterfactualMicroUSD != 0 {
		t.Fatalf("figures %+v / %+v", sync, batch)
	}
}

func TestBuild(t *testing.T) {
	turn := Turn(pricing.Usage{InputTokens: 10, OutputTokens: 5, CacheReadTokens: 100, CacheWriteTokens: 20}, 3_000, 5_000)
	worker := Worker("claude-haiku-4-5", pricing.Usage{InputTokens: 1000, OutputTokens: 100}, true)
	entries := []Entry{
		{Day: "2026-12-01", Person: "alice", Model: "claude-sonnet-4-5", Figures: turn},
		{Day: "2026-12-01", Person: "alice", Model: "claude-haiku-4-5", Figures: worker},
		{Day: "2026-12-03", Person: "bob", Model: "claude-sonnet-4-5", Figures: turn},
		{Day: "2026-12-03", Person: "alice", Model: "claude-sonnet-4-5", Figures: turn},
	}
	days := []string{"2026-12-01", "2026-12-02", "2026-12-03"}
	rep, err := Build(entries, ByPerson, days)
	if err != nil {
		t.Fatal(err)
	}
	alice := Row{
		Key: "alice", Turns: 2, Tokens: Tokens{20, 10, 200, 40},
		Worker:    WorkerView{Calls: 1, BatchCalls: 1, Tokens: Tokens{Input: 1000, Output: 100}, Cost: pricing.Dollars(worker.WorkerCostMicroUSD)},
		TurnsCost: 0.006, Cost: pricing.Dollars(6_000 + worker.WorkerCostMicroUSD), Counterfactual: 0.01,
		Saved: pricing.Dollars(10_000 - 6_000 - worker.WorkerCostMicroUSD),
	}
	if rep.Since != "2026-12-01" || rep.Until != "2026-12-03" || len(rep.Rows) != 2 || !reflect.DeepEqual(rep.Rows[0], alice) || rep.Rows[1].Key != "bob" {
		t.Fatalf("by person: %+v", rep)
	}
	if rep.Total.Turns != 3 || rep.Total.Worker.Calls != 1 {
		t.Fatalf("total %+v", rep.Total)
	}
	rep, _ = Build(entries, ByDay, days)
	if len(rep.Rows) != 3 || rep.Rows[1].Key != "2026-12-02" || rep.Rows[1].Turns != 0 || rep.Rows[2].Turns != 2 {
		t.Fatalf("by day keeps empty days in order: %+v", rep.Rows)
	}
	rep, _ = Build(entries, ByModel, days)
	if len(rep.Rows) != 2 || rep.Rows[0].Key != "claude-sonnet-4-5" || rep.Rows[0].Turns != 3 {
		t.Fatalf("by model: %+v", rep.Rows)
	}
	if _, err := Build(entries, "session", days); err == nil {
		t.Fatal("unknown grouping accepted")
	}
}
