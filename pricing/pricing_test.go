package pricing

import (
	"encoding/json"
	"testing"
)

func TestLookup(t *testing.T) {
	for _, tc := range []struct {
		model string
		want  Price
		known bool
	}{
		{"claude-sonnet-4-5-20250929", Price{3000, 15000}, true},
		{"claude-sonnet-4-5", Price{3000, 15000}, true},
		{"claude-opus-4-20250514", Price{15000, 75000}, true},
		{"claude-opus-4-1-20250805", Price{15000, 75000}, true},
		{"claude-opus-4-7", Price{5000, 25000}, true},
		{"claude-haiku-4-5-20251001", Price{1000, 5000}, true},
		{"claude-sonnet-4-6[1m]", Price{3000, 15000}, true},
		{"claude-sonnet-5", Price{2000, 10000}, true},
		{"claude-opus-5-5", Price{4000, 20000}, true},
		{"claude-haiku-5-5", Price{100, 500}, true},
		{"claude-fable-5", Price{10000, 50000}, true},
		{"gpt-5-mini", Price{250, 2000}, true},
		{"gpt-4o", Default, false},
		{"", Default, false},
		{"claude-opus-4-2025", Default, false},
	} {
		got, known := Lookup(tc.model)
		if got != tc.want || known != tc.known {
			t.Errorf("Lookup(%q) = %v, %v; want %v, %v", tc.model, got, known, tc.want, tc.known)
		}
	}
}

func TestMultipliers(t *testing.T) {
	for _, tc := range []struct {
		p              Price
		w5, w1h, read  int64
		bIn, bOut, bW1 int64 // batched cost of one input, output, 1-hour cache-write token
	}{
		{Price{3000, 15000}, 3750, 6000, 300, 1500, 7500, 3000},
		{Price{15000, 75000}, 18750, 30000, 1500, 7500, 37500, 15000},
		{Price{5000, 25000}, 6250, 10000, 500, 2500, 12500, 5000},
		{Price{1000, 5000}, 1250, 2000, 100, 500, 2500, 1000},
		{Price{100, 500}, 125, 200, 10, 50, 250, 100},
	} {
		batched := func(u Usage) int64 { return tc.p.WorkerCost(u, true) }
		got := [6]int64{tc.p.CacheWrite5m(), tc.p.CacheWrite1h(), tc.p.CacheRead(),
			batched(Usage{InputTokens: 1}), batched(Usage{OutputTokens: 1}), batched(Usage{CacheWriteTokens: 1, CacheWrite1hTokens: 1})}
		if got != [6]int64{tc.w5, tc.w1h, tc.read, tc.bIn, tc.bOut, tc.bW1} {
			t.Errorf("%v: got %v", tc.p, got)
		}
	}
}

func TestCost(t *testing.T) {
	sonnet := For("claude-sonnet-4-5")
	for _, tc := range []struct {
		p     Price
		u     Usage
		nano  int64
		micro int64
	}{
		// 1M input tokens of Sonnet: $3.
		{sonnet, Usage{InputTokens: 1_000_000}, 3_000_000_000, 3_000_000},
		// 100 in, 50 out, 1000 read, 200 write: 300000+750000+300000+750000.
		{sonnet, Usage{InputTokens: 100, OutputTokens: 50, CacheReadTokens: 1000, CacheWriteTokens: 200}, 2_100_000, 2100},
		{For("claude-opus-4-7"), Usage{InputTokens: 7, OutputTokens: 3, CacheReadTokens: 11, CacheWriteTokens: 13}, 35000 + 75000 + 5500 + 81250, 197},
		{For("claude-haiku-5-5"), Usage{InputTokens: 3, OutputTokens: 1}, 800, 1},
		{For("claude-haiku-5-5"), Usage{InputTokens: 4}, 400, 0},
	} {
		if got := tc.p.Cost(tc.u); got != tc.nano {
			t.Errorf("%v.Cost(%v) = %d, want %d", tc.p, tc.u, got, tc.nano)
		}
		if got := Micro(tc.p.Cost(tc.u)); got != tc.micro {
			t.Errorf("Micro = %d, want %d", got, tc.micro)
		}
	}
	// A worker call whose answer reports its 200 cache-write tokens as
	// 1-hour writes (2× input): 300000+750000+300000+1200000; batched, half.
	worker := Usage{InputTokens: 100, OutputTokens: 50, CacheReadTokens: 1000, CacheWriteTokens: 200, CacheWrite1hTokens: 200}
	if got := sonnet.WorkerCost(worker, false); got != 2_550_000 {
		t.Errorf("WorkerCost = %d", got)
	}
	if got := sonnet.WorkerCost(worker, true); got != 1_275_000 {
		t.Errorf("WorkerCost (batch) = %d", got)
	}
	if Micro(-1500) != -2 || Dollars(1_500_000) != 1.5 {
		t.Error("Micro/Dollars")
	}
}

// The cache_creation split of an answer's usage is read, and its 1-hour part
// is priced at 2× input, never more tokens than the answer's cache writes.
func TestOneHourWrites(t *testing.T) {
	var u Usage
	if err := json.Unmarshal([]byte(`{"input_tokens":10,"output_tokens":2,"cache_read_input_tokens":7,"cache_creation_input_tokens":300,"cache_creation":{"ephemeral_5m_input_tokens":100,"ephemeral_1h_input_tokens":200}}`), &u); err != nil {
		t.Fatal(err)
	}
	if u != (Usage{InputTokens: 10, OutputTokens: 2, CacheReadTokens: 7, CacheWriteTokens: 300, CacheWrite1hTokens: 200}) {
		t.Fatalf("read %+v", u)
	}
	sonnet := For("claude-sonnet-4-5")
	// 10·3000 + 2·15000 + 7·300 + 100·3750 + 200·6000
	if got := sonnet.Cost(u); got != 30000+30000+2100+375000+1200000 {
		t.Fatalf("Cost = %d", got)
	}
	u.CacheWrite1hTokens = 900 // more than the writes: all of them
	if got := sonnet.Cost(u); got != 30000+30000+2100+300*6000 {
		t.Fatalf("Cost = %d, want every write at the 1-hour rate", got)
	}
	for _, split := range []string{`null`, `5`, `{"ephemeral_1h_input_tokens":"x"}`} {
		u = Usage{}
		if err := json.Unmarshal([]byte(`{"input_tokens":1,"cache_creation":`+split+`}`), &u); err != nil || u != (Usage{InputTokens: 1}) {
			t.Fatalf("split %s: %+v %v", split, u, err)
		}
	}
	u = Usage{InputTokens: 9}
	if err := json.Unmarshal([]byte(`null`), &u); err != nil || u != (Usage{InputTokens: 9}) {
		t.Fatalf("null usage changed the value: %+v %v", u, err)
	}
	// Stored and relayed usage keeps the Messages API's four counts only.
	b, _ := json.Marshal(Usage{InputTokens: 1, CacheWriteTokens: 3, CacheWrite1hTokens: 3})
	if string(b) != `{"input_tokens":1,"output_tokens":0,"cache_creation_input_tokens":3}` {
		t.Fatalf("marshalled %s", b)
	}
}

func TestAppendJSONIsMarshal(t *testing.T) {
	for _, u := range []Usage{{}, {InputTokens: 12, OutputTokens: 3}, {InputTokens: -1, OutputTokens: 1 << 40, CacheReadTokens: 7},
		{CacheWriteTokens: 99, CacheWrite1hTokens: 40}, {InputTokens: 1, OutputTokens: 2, CacheReadTokens: 3, CacheWriteTokens: 4, CacheWrite1hTokens: 4}} {
		want, err := json.Marshal(u)
		if err != nil {
			t.Fatal(err)
		}
		if got := u.AppendJSON([]byte("x")); string(got[1:]) != string(want) {
			t.Errorf("%+v: got %s, want %s", u, got[1:], want)
		}
	}
}
