package gradient

import "strings"

// Limits are a model's context window and maximum output, in tokens.
type Limits struct {
	Context   int `json:"context"`
	MaxOutput int `json:"max_output"`
}

// Defaults for models the table does not know.
const (
	DefaultContext   = 200_000
	DefaultMaxOutput = 8_192
	// MaxOutputReserve caps the output reserve.
	MaxOutputReserve = 32_000
	context1M        = 1_000_000
	// Beta1MContext is the anthropic-beta value that opens the 1M window on
	// models that offer it as a beta.
	Beta1MContext = "context-1m-2025-08-07"
)

type modelRow struct {
	prefix    string
	context   int
	maxOutput int
	beta1M    bool // 1M context available with the beta header / "[1m]"
}

// models is matched by prefix, first match wins, so longer ids come first.
// Sources: Anthropic's models overview and pricing pages, and the prior art's table.
var models = [...]modelRow{
	{"claude-opus-4-8", context1M, 128_000, false},
	{"claude-opus-4-7", context1M, 128_000, false},
	{"claude-opus-4-6", context1M, 128_000, false},
	{"claude-opus-4-5", 200_000, 64_000, false},
	{"claude-opus-4-1", 200_000, 32_000, false},
	{"claude-opus-4", 200_000, 32_000, false},
	{"claude-sonnet-4-6", context1M, 64_000, false},
	{"claude-sonnet-4-5", 200_000, 64_000, true},
	// Sonnet 4's real maximum output is 64K; the reference table says 16,000
	// and its worked example (usable 169,000 / maxInput 184,000) depends on
	// it, so the old id keeps the reference's value.
	{"claude-sonnet-4", 200_000, 16_000, true},
	{"claude-haiku-4-5", 200_000, 64_000, false},
	{"claude-3-7-sonnet", 200_000, 64_000, false},
	{"claude-sonnet-3-7", 200_000, 64_000, false},
	{"claude-3-5-sonnet", 200_000, 8_192, false},
	{"claude-sonnet-3-5", 200_000, 8_192, false},
	{"claude-3-5-haiku", 200_000, 8_192, false},
	{"claude-haiku-3-5", 200_000, 8_192, false},
	// The 5.x line-up: every doc snapshot agrees on 1M / 128K (they differ
	// only in prices).
	{"claude-opus-5", context1M, 128_000, false},
	{"claude-sonnet-5", context1M, 128_000, false},
	{"claude-haiku-5", context1M, 128_000, false},
	{"claude-fable-5", context1M, 128_000, false},
	{"claude-mythos-5", context1M, 128_000, false},
}

// LimitsFor returns the limits of a model id. beta1M reports that the request
// carries the anthropic-beta value context-1m-2025-08-07; a "[1m]" suffix on
// the id (Claude Code's own notation) means the same. Either opens the 1M
// window on the models that offer it as a beta (Sonnet 4 and 4.5); models
// with a native 1M window have it regardless. Provider prefixes such as
// "anthropic/" or Bedrock's "us.anthropic." are ignored. Unknown models get
// the safe default 200,000 / 8,192.
func LimitsFor(model string, beta1M bool) Limits {
	id := strings.ToLower(strings.TrimSpace(model))
	if strings.HasSuffix(id, "[1m]") {
		id = strings.TrimSuffix(id, "[1m]")
		beta1M = true
	}
	if i := strings.Index(id, "claude-"); i > 0 {
		id = id[i:]
	}
	for i := range models {
		r := &models[i]
		if !strings.HasPrefix(id, r.prefix) {
			continue
		}
		l := Limits{Context: r.context, MaxOutput: r.maxOutput}
		if r.beta1M && beta1M {
			l.Context = context1M
		}
		return l
	}
	return Limits{Context: DefaultContext, MaxOutput: DefaultMaxOutput}
}

// HasBeta1M reports whether an anthropic-beta header value (a comma-separated
// list, possibly repeated) contains the 1M-context beta.
func HasBeta1M(values ...string) bool {
	for _, v := range values {
		for _, part := range strings.Split(v, ",") {
			if strings.TrimSpace(part) == Beta1MContext {
				return true
			}
		}
	}
	return false
}

// contextLimit and outputReserve apply the reference's zero defaults.
func (l Limits) contextLimit() int {
	if l.Context <= 0 {
		return DefaultContext
	}
	return l.Context
}

// outputReserve is min(max output, 32,000), 32,000 when unknown.
func (l Limits) outputReserve() int {
	if l.MaxOutput <= 0 || l.MaxOutput > MaxOutputReserve {
		return MaxOutputReserve
	}
	return l.MaxOutput
}
