package gradient

import (
	"github.com/caddy-lore/caddy-lore/msg"
)

// Input is one conversation turn as the gradient sees it.
type Input struct {
	Model string
	// Limits of the model; zero means LimitsFor(Model, false).
	Limits        Limits
	Messages      []msg.Message
	Distillations []Distillation // non-archived rows, oldest first
	LTMTokens     int            // long-term knowledge injected into the system prompt
}

// Result is the transformed window.
type Result struct {
	// Messages to send. At layer 0 with nothing to repair this is
	// in.Messages itself; otherwise a new slice (unchanged messages keep their
	// raw JSON, changed ones are copies).
	Messages []msg.Message
	Layer    int
	// Estimate is the token estimate of Messages (without overhead and LTM).
	Estimate int
	// Expected is the input the upstream is expected to count: at a
	// calibrated layer 0 the last actual input adjusted for what changed,
	// otherwise Estimate + overhead + LTM.
	Expected int
	// UrgentDistill asks for a forced, urgent distillation after the response:
	// layers 2–4, and layer 1 when it dropped messages with no distillation
	// yet to stand for them (as Lore later did).
	UrgentDistill bool
	// PrefixBytes is the JSON of the two distilled-prefix messages, if any.
	PrefixBytes []byte
	// TokensRemoved is estimate(input) − estimate(output), ≥ 0.
	TokensRemoved int
	// DistilledTokens and RawTokens split Estimate into prefix and raw window.
	DistilledTokens, RawTokens int
	// Budget used for this turn (RawBudget is the layer-1 raw budget, 20% on
	// the post-idle turn).
	Budget    Budget
	RawBudget int
	// PostIdle reports that the one-shot post-idle compact was consumed.
	PostIdle bool
	// CacheBust: the first messages of the window (layer + first 5 ids +
	// prefix rows) differ from the last turn's. HighBustRate: ≥ 20
	// transforms and > 50% of them busts. CompactHint: the third consecutive
	// turn at layer ≥ 2 (the reference logs "consider /compact" once).
	CacheBust, HighBustRate, CompactHint bool
}

// Transform fits in.Messages into the model's window and updates st.
//
// Layer 0 passes the messages through untouched when the expected input
// (calibrated: last actual input + new messages + LTM change; else all
// estimates + overhead + LTM, × 1.5) fits context − output reserve and no
// minimum layer applies (one-shot forced layer, sticky layer 1–3 while the
// conversation does not shrink, post-idle). Layers 1–3 send the distilled
// prefix and the newest raw messages within their budgets, layer 4 always
// returns. Every layer then repairs tool pairing (trailing prefill dropped,
// pending tool_use answered with an error, orphaned tool_result removed).
func Transform(st *State, in Input) Result {
	l := in.Limits
	if l == (Limits{}) {
		l = LimitsFor(in.Model, false)
	}
	p := newPlan(st, &in, ComputeBudget(st, l, in.LTMTokens))
	res := p.run()
	p.bookkeeping(&res)
	return res
}

// plan is one transform in progress.
type plan struct {
	st         *State
	in         *Input
	msgs       []msg.Message
	n          int
	b          Budget
	rawBudget  int // layer-1 raw budget (post-idle aware)
	minLayer   int
	calibrated bool
	postIdle   bool
	forced     bool // the minimum layer came from ForceMinLayer
	ct         int  // current-turn start

	dd deduper
	// base[n-1-i] is message i deduplicated and cleaned, computed newest
	// first down to index lo; strip[ct-1-i] the same with tool outputs
	// stripped.
	base     []proc
	lo       int
	strip    []proc
	ctTok    int
	hasCT    bool
	cut      int // first input message of the raw window
	total    int // estimate of all input messages, -1 until computed
	expected int // layer 0's expected input, when layer0Fits computed it
}

type proc struct {
	m    msg.Message
	est  int
	done bool
}

func newPlan(st *State, in *Input, b Budget) *plan {
	p := &plan{st: st, in: in, msgs: in.Messages, n: len(in.Messages), b: b, rawBudget: b.Raw, total: -1}
	p.calibrated = st.Calibrated()
	p.minLayer = st.ForceMinLayer
	p.forced = st.ForceMinLayer > 0
	st.ForceMinLayer = 0
	if p.calibrated && st.LastLayer >= 1 && st.LastLayer <= 3 && p.n >= st.LastKnownMessageCount {
		// Sticky layer. Not for layer 4 (deviation, as Lore later did): a
		// sticky emergency layer never lets the session out of its 8K tail.
		// Deviation: a layer an overflow retry forced sticks only as layer
		// 1. The retry calibrated the session, so the next turn is planned
		// from the upstream's own count; keeping the forced layer would strip
		// old tool outputs, and rewrite the cache, for the rest of the chain.
		sticky := st.LastLayer
		if st.LastLayerForced {
			sticky = 1
		}
		p.minLayer = max(p.minLayer, sticky)
	}
	if st.PostIdleCompact {
		st.PostIdleCompact = false
		p.postIdle = true
		p.minLayer = max(p.minLayer, 1)
		p.rawBudget = b.PostIdleRaw
	}
	p.minLayer = min(p.minLayer, 4)
	p.lo = p.n
	p.ct = protectedStart(p.msgs, currentTurnStart(p.msgs), p.rawBudget*protectedPct/100)
	p.dd = deduper{msgs: p.msgs, ct: p.ct}
	return p
}

func (p *plan) run() Result {
	if p.n == 0 {
		return Result{Messages: p.msgs}
	}
	if p.minLayer == 0 && p.layer0Fits() {
		return Result{Messages: fixPairs(p.msgs, false), Layer: 0}
	}
	// A layer-1 window that is not pinned any more is cut again, which
	// rewrites everything after the prefix in the prompt cache anyway: the
	// moment to take in the distillations that arrived during a tool chain.
	_, trigger := p.recutPolicy(p.rawBudget)
	_, pinned := p.pinnedWindow(trigger)
	parts, rows := resolvePrefix(p.st, p.msgs, p.in.Distillations, !pinned)
	var full *prefix // the cached prefix, shared by layers 1 and 2
	fullPrefix := func() prefix {
		if full == nil {
			f := buildPrefix(parts)
			full = &f
		}
		return *full
	}
	for layer := max(p.minLayer, 1); layer <= 3; layer++ {
		var (
			pre               prefix
			distBudget, rawB  int
			strip, protectEnd int
		)
		switch layer {
		case 1:
			pre, distBudget, rawB = fullPrefix(), p.b.Distilled, p.rawBudget
		case 2:
			p.st.Pin = nil
			pre, distBudget, rawB = fullPrefix(), p.b.Distilled, pct(p.b.Usable, layer2RawPct)
			strip, protectEnd = 1, layer2Protected
		case 3:
			pre = buildPrefix(selectPrefix(parts, rows, layer3Keep))
			distBudget, rawB, strip = pct(p.b.Usable, layer3DistPct), pct(p.b.Usable, layer3RawPct), 1
		}
		if r, ok := p.tryFit(layer, pre, distBudget, rawB, strip == 1, protectEnd); ok {
			return r
		}
	}
	p.st.Pin = nil
	return p.emergency(buildPrefix(selectPrefix(parts, rows, layer4Keep)))
}
