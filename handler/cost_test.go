package handler

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/caddy-lore/caddy-lore/msg"
	"github.com/caddy-lore/caddy-lore/pricing"
)

// TestTurnCostStored runs two turns and checks the session's cost fields in
// Redis against turnCost's formula applied by hand to the fake upstream's
// usage (Sonnet 4.5: $3 / $15 per MTok, i.e. 3000 / 15000 n$ per token;
// cache read 300, cache write 3750).
func TestTurnCostStored(t *testing.T) {
	obs := &recObserver{requests: map[string]int{}, statuses: map[int]int{}}
	e := newEnv(t, func(c *Config) { c.Observer = obs })
	usage := func(body string) pricing.Usage {
		t.Helper()
		var r struct {
			Usage pricing.Usage `json:"usage"`
		}
		if err := json.Unmarshal([]byte(body), &r); err != nil {
			t.Fatalf("%v: %s", err, body)
		}
		return r.Usage
	}
	micro := func(nano int64) int64 { return (nano + 500) / 1000 }
	actual := func(u pricing.Usage) int64 {
		return micro(u.InputTokens*3000 + u.OutputTokens*15000 + u.CacheReadTokens*300 + u.CacheWriteTokens*3750)
	}

	var wantCost, wantWithout int64
	for turns := 1; turns <= 2; turns++ {
		code, _, body := e.post("/v1/messages", conversation("what does it cost", turns, ""), "X-Api-Key", keyA)
		if code != 200 {
			t.Fatalf("turn %d: %d %s", turns, code, body)
		}
		u := usage(body)
		if u.InputTokens+u.CacheReadTokens+u.CacheWriteTokens == 0 || u.OutputTokens == 0 {
			t.Fatalf("turn %d: no usage: %s", turns, body)
		}
		total := u.InputTokens + u.CacheReadTokens + u.CacheWriteTokens // layer 0: nothing removed
		fresh := total                                                  // first turn: all written
		if turns == 2 {
			// The client added {"ok (turn 1)"} and {"user message 1"} since
			// its first request: (20 + ceil(11/3)) + (20 + ceil(14/3)) = 49.
			fresh = min(total, 49)
		}
		wantCost += actual(u)
		wantWithout += micro(fresh*3750 + (total-fresh)*300 + u.OutputTokens*15000)
	}
	e.settle()
	if n := obs.requests["messages/turn/0"]; n != 2 {
		t.Fatalf("turns not at layer 0: %v", obs.requests)
	}
	s := e.onlySession(t)
	if s.CostMicroUSD != wantCost || s.CounterfactualMicroUSD != wantWithout {
		t.Fatalf("stored cost %d / %d µ$, want %d / %d", s.CostMicroUSD, s.CounterfactualMicroUSD, wantCost, wantWithout)
	}
	if wantWithout <= wantCost/10 || wantCost == 0 {
		t.Fatalf("implausible figures %d / %d", wantCost, wantWithout)
	}
	for _, k := range e.redis.Keys() {
		if strings.HasSuffix(k, "{"+s.ID+"}:state") {
			if got := e.redis.HGet(k, "cost_micro_usd"); got != strconv.FormatInt(wantCost, 10) {
				t.Fatalf("hash field cost_micro_usd = %q", got)
			}
			if got := e.redis.HGet(k, "counterfactual_micro_usd"); got != strconv.FormatInt(wantWithout, 10) {
				t.Fatalf("hash field counterfactual_micro_usd = %q", got)
			}
		}
	}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if obs.cost != [2]int64{wantCost, wantWithout} {
		t.Fatalf("observer cost %v, want %d / %d", obs.cost, wantCost, wantWithout)
	}
}

func TestTurnCostFormula(t *testing.T) {
	msgs := []msg.Message{
		{Role: "user", Blocks: []msg.Block{{Type: msg.TypeText, Text: "aaaaaa"}}},    // 20 + 2
		{Role: "assistant", Blocks: []msg.Block{{Type: msg.TypeText, Text: "bbb"}}},  // 20 + 1
		{Role: "user", Blocks: []msg.Block{{Type: msg.TypeText, Text: "ccccccccc"}}}, // 20 + 3
	}
	u := pricing.Usage{InputTokens: 10, OutputTokens: 100, CacheReadTokens: 1000, CacheWriteTokens: 200}
	// actual: 10·3000 + 100·15000 + 1000·300 + 200·3750 = 2,580,000 n$.
	// Second turn, 1 message seen before, 500 removed: T = 1710, new = 44,
	// counterfactual = 44·3750 + 1666·300 + 100·15000 = 2,164,800 n$.
	a, c := turnCost("claude-sonnet-4-5-20250929", u, 500, msgs, 1, 1)
	if a != 2580 || c != 2165 {
		t.Fatalf("second turn: %d / %d", a, c)
	}
	// First turn: everything written: 1710·3750 + 1,500,000 = 7,912,500 n$.
	if a, c = turnCost("claude-sonnet-4-5", u, 500, msgs, 0, 0); a != 2580 || c != 7913 {
		t.Fatalf("first turn: %d / %d", a, c)
	}
	// 150 of the 200 writes under ttl "1h" (2× input): actual 2,580,000 +
	// 150·(6000 − 3750) = 2,917,500 n$; the client marks with "1h", so the
	// counterfactual writes its new part at 2× too: 44·6000 + 1666·300 +
	// 1,500,000 = 2,263,800 n$.
	u.CacheWrite1hTokens = 150
	if a, c = turnCost("claude-sonnet-4-5", u, 500, msgs, 1, 1); a != 2918 || c != 2264 {
		t.Fatalf("1-hour writes: %d / %d", a, c)
	}
}
