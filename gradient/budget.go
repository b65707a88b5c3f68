package gradient

// Budget constants (docs/context-window.md, Budgets and estimates).
const (
	FirstTurnOverhead = 15_000 // overhead until the first response calibrates it
	emaOld            = 0.7
	emaNew            = 0.3

	// Shares of usable, in percent, so the floors are exact integer maths.
	distilledPct      = 25
	rawPct            = 40
	postIdleRawPct    = 20
	layer2RawPct      = 50
	layer3DistPct     = 15
	layer3RawPct      = 55
	layer4TailPct     = 25
	layer4TailMin     = 2_000
	layer4TailMax     = 8_000
	ltmPct            = 5
	layer3Keep        = 5  // distillations kept at layer 3
	layer4Keep        = 2  // distillations kept at layer 4
	layer2Protected   = 4  // messages from the end never stripped at layer 2 (2 turns)
	protectedPct      = 10 // share of the layer-1 raw budget a long current turn keeps whole
	compactHintTurns  = 3  // consecutive turns at layer ≥ 2 before the /compact hint
	bustRateMinTurns  = 20
	bustRateThreshold = 50 // percent
)

// Budget is the token arithmetic of one turn.
type Budget struct {
	Usable      int // context − output reserve − overhead − LTM, ≥ 0
	Distilled   int // 25% of usable
	Raw         int // 40% of usable
	PostIdleRaw int // 20% of usable
	MaxInput    int // context − output reserve
	Overhead    int
}

// ComputeBudget returns the budgets for a session, model limits and the
// long-term-knowledge tokens of this turn's system prompt.
func ComputeBudget(st *State, l Limits, ltm int) Budget {
	maxInput := l.contextLimit() - l.outputReserve()
	overhead := st.EffectiveOverhead()
	usable := maxInput - overhead - ltm
	if usable < 0 {
		usable = 0
	}
	return Budget{
		Usable:      usable,
		Distilled:   pct(usable, distilledPct),
		Raw:         pct(usable, rawPct),
		PostIdleRaw: pct(usable, postIdleRawPct),
		MaxInput:    maxInput,
		Overhead:    overhead,
	}
}

// LTMBudget is the token budget for long-term knowledge in the system prompt:
// 5% of (context − output reserve − overhead); current LTM is not subtracted.
func LTMBudget(st *State, l Limits) int {
	n := l.contextLimit() - l.outputReserve() - st.EffectiveOverhead()
	if n < 0 {
		n = 0
	}
	return pct(n, ltmPct)
}

// pct is floor(n × p / 100) for n ≥ 0.
func pct(n, p int) int { return n * p / 100 }
