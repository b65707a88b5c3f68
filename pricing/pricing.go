// Package pricing is the model price table of lore's cost accounting.
//
// Prices are the Anthropic list prices (plus the default OpenAI worker model)
// in dollars per million tokens (source: Anthropic's models and pricing
// pages; the table is in docs/cost.md, Prices). They are kept as integer
// nano-dollars per token ($1/MTok = 1,000 n$/token) so that every multiplier
// below is exact:
//
//	cache write (5m TTL) = 1.25 × input
//	cache write (1h TTL) = 2 × input
//	cache read           = 0.1 × input
//	batch                = 0.5 × all of the above and output
//
// Cache writes are priced at the rate of the TTL the answer reports them
// under: see docs/cost.md, Prices.
//
// A model not in the table is priced as Default (the Sonnet price, $3 / $15).
package pricing

import (
	"encoding/json"
	"strconv"
	"strings"
)

// Price is a model's list price in nano-dollars per token (equivalently
// milli-dollars per million tokens): Input 3000 is $3 per MTok.
type Price struct {
	Input  int64
	Output int64
}

// Default prices unknown models: Sonnet, $3 / $15 per MTok.
var Default = Price{Input: 3000, Output: 15000}

// table maps model ids (without a date suffix) to their price.
var table = map[string]Price{
	"claude-opus-4":     {15000, 75000},
	"claude-opus-4-1":   {15000, 75000},
	"claude-sonnet-4":   {3000, 15000},
	"claude-sonnet-4-5": {3000, 15000},
	"claude-sonnet-4-6": {3000, 15000},
	"claude-haiku-4-5":  {1000, 5000},
	"claude-opus-4-5":   {5000, 25000},
	"claude-opus-4-6":   {5000, 25000},
	"claude-opus-4-7":   {5000, 25000},
	"claude-opus-4-8":   {5000, 25000},
	"claude-fable-5":    {10000, 50000},
	"claude-mythos-5":   {10000, 50000},
	"claude-sonnet-5":   {2000, 10000},
	"claude-sonnet-5-5": {2000, 10000},
	"claude-opus-5":     {5000, 25000},
	"claude-opus-5-5":   {4000, 20000},
	"claude-haiku-5-5":  {100, 500},
	// The default openai_worker_model (OpenAI list price, $0.25 / $2 per
	// MTok), so worker calls of OpenAI-provider sessions are not priced as
	// Sonnet.
	"gpt-5-mini": {250, 2000},
}

// Lookup returns the price of model and whether it is in the table (else
// Default). A "-YYYYMMDD" date suffix and a "[1m]" suffix are ignored.
func Lookup(model string) (Price, bool) {
	m := strings.ToLower(strings.TrimSpace(model))
	m = strings.TrimSuffix(m, "[1m]")
	if p, ok := table[m]; ok {
		return p, true
	}
	if i := strings.LastIndexByte(m, '-'); i > 0 && len(m)-i-1 == 8 && allDigits(m[i+1:]) {
		if p, ok := table[m[:i]]; ok {
			return p, true
		}
	}
	return Default, false
}

// For is Lookup without the flag.
func For(model string) Price {
	p, _ := Lookup(model)
	return p
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// CacheWrite5m is the price of a token written to the 5-minute cache (1.25×).
func (p Price) CacheWrite5m() int64 { return p.Input * 5 / 4 }

// CacheWrite1h is the price of a token written to the 1-hour cache (2×).
func (p Price) CacheWrite1h() int64 { return p.Input * 2 }

// CacheRead is the price of a cache hit (0.1× input).
func (p Price) CacheRead() int64 { return p.Input / 10 }

// WorkerCost is the nano-dollar cost of a gateway worker call's u: Cost,
// halved (rounded down to the nano-dollar) when it ran through a batch API.
// An Anthropic worker call's cache writes are 1-hour writes, as its answer
// reports them: it marks its system prompt, its only breakpoint, with ttl
// "1h" (llm.Worker.Params), so that the prompt stays cached across a batch's
// slow turnaround.
func (p Price) WorkerCost(u Usage, batch bool) int64 {
	nano := p.Cost(u)
	if batch {
		nano /= 2
	}
	return nano
}

// Usage is the token figures of one or more calls in Anthropic's terms (an
// OpenAI answer's cached prompt tokens are its cache reads, its other prompt
// tokens its input), the one type for them from the upstream's answer to the
// stored session and the bill. The JSON names are the Messages API's usage
// object; they are also the stored form of an assistant message's usage
// (store.StoredMessage), so they must not change.
type Usage struct {
	InputTokens      int64 `json:"input_tokens"`
	OutputTokens     int64 `json:"output_tokens"`
	CacheReadTokens  int64 `json:"cache_read_input_tokens,omitempty"`
	CacheWriteTokens int64 `json:"cache_creation_input_tokens,omitempty"`
	// CacheWrite1hTokens is the part of CacheWriteTokens written to the
	// 1-hour cache, as the answer reported it (its usage.cache_creation.
	// ephemeral_1h_input_tokens, read by UnmarshalJSON). Only pricing needs
	// it: it is not stored or relayed.
	CacheWrite1hTokens int64 `json:"-"`
}

// AppendJSON appends u as encoding/json marshals it (every stored
// assistant message carries its usage; reflection was most of encoding it).
func (u *Usage) AppendJSON(b []byte) []byte {
	b = append(b, `{"input_tokens":`...)
	b = strconv.AppendInt(b, u.InputTokens, 10)
	b = append(b, `,"output_tokens":`...)
	b = strconv.AppendInt(b, u.OutputTokens, 10)
	if u.CacheReadTokens != 0 {
		b = append(b, `,"cache_read_input_tokens":`...)
		b = strconv.AppendInt(b, u.CacheReadTokens, 10)
	}
	if u.CacheWriteTokens != 0 {
		b = append(b, `,"cache_creation_input_tokens":`...)
		b = strconv.AppendInt(b, u.CacheWriteTokens, 10)
	}
	return append(b, '}')
}

// UnmarshalJSON reads a Messages usage object, its cache_creation split
// included. A split it cannot read counts as absent: the four counts are
// what the usage is, as before the split existed. A JSON null leaves u as
// it is, as it would without this method.
func (u *Usage) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	type counts Usage // without this method
	var w struct {
		counts
		CacheCreation json.RawMessage `json:"cache_creation"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*u = Usage(w.counts)
	var split struct {
		OneHour int64 `json:"ephemeral_1h_input_tokens"`
	}
	if len(w.CacheCreation) > 0 && json.Unmarshal(w.CacheCreation, &split) == nil {
		u.CacheWrite1hTokens = split.OneHour
	}
	return nil
}

// Cost is the nano-dollar cost of u at p: its cache writes at the 5-minute
// rate, except the part the answer reported as 1-hour writes.
func (p Price) Cost(u Usage) int64 {
	oneHour := min(max(u.CacheWrite1hTokens, 0), u.CacheWriteTokens)
	return u.InputTokens*p.Input + u.OutputTokens*p.Output + u.CacheReadTokens*p.CacheRead() +
		(u.CacheWriteTokens-oneHour)*p.CacheWrite5m() + oneHour*p.CacheWrite1h()
}

// Micro rounds nano-dollars to micro-dollars (half away from zero).
func Micro(nano int64) int64 {
	if nano < 0 {
		return -Micro(-nano)
	}
	return (nano + 500) / 1000
}

// Dollars converts micro-dollars to dollars.
func Dollars(micro int64) float64 { return float64(micro) / 1e6 }
