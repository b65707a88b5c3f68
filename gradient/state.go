package gradient

import (
	"math"
	"strconv"
)

// State is one session's gradient state. The caller loads it (from Redis)
// before Transform and saves it after Transform and after Calibrate; a zero
// State is a new session. It holds ids and counters, not message lists: the
// largest field is the rendered distilled prefix.
type State struct {
	// LastLayer is the layer of the last transform (sticky-layer guard).
	LastLayer int `json:"layer"`
	// Overhead is the calibrated EMA of actual input − message estimate,
	// meaningful once OverheadSamples > 0; until then 15,000 is used.
	Overhead        int `json:"overhead,omitempty"`
	OverheadSamples int `json:"overhead_n,omitempty"`

	// Figures of the last calibrated turn. LastKnownInput > 0 means the
	// session is calibrated.
	LastKnownInput        int    `json:"known_input,omitempty"`
	LastKnownLTM          int    `json:"known_ltm,omitempty"`
	LastKnownMessageCount int    `json:"known_count,omitempty"` // input messages of that turn
	KnownWindow           Window `json:"known_window"`
	// KnownEstimate is the message estimate of what that turn sent (its
	// LastTransformEstimate), so the next layer-0 decision can replace it
	// with the estimate of everything, whatever the window had dropped,
	// stripped or distilled.
	KnownEstimate int `json:"known_estimate,omitempty"`

	// Figures of the last transform, turned into the Known ones by Calibrate.
	LastTransformEstimate int    `json:"estimate,omitempty"` // message estimate of the output
	LastWindow            Window `json:"window"`

	// Growth is the EMA (0.7 old / 0.3 new) of the estimated tokens a turn
	// adds to the conversation; it sets when layer 1 re-cuts (recut.go).
	Growth int `json:"growth,omitempty"`
	// Pin is the raw-window pin of layer 1: the first raw message of the
	// window. Nil when unset.
	Pin *Pin `json:"pin,omitempty"`
	// Prefix is the append-only distilled-prefix cache.
	Prefix PrefixCache `json:"prefix"`
	// DistillSnapshotKey is the id of the last user prompt (a user message
	// without tool_result blocks) when the distillation rows were last taken:
	// while it is unchanged (an autonomous tool chain) the prefix is reused
	// as is, even if new rows arrived.
	DistillSnapshotKey string `json:"snapshot,omitempty"`

	// ForceMinLayer is a one-shot minimum layer (overflow recovery).
	ForceMinLayer int `json:"force_min_layer,omitempty"`
	// LastLayerForced says the last transform ran under ForceMinLayer.
	LastLayerForced bool `json:"forced,omitempty"`
	// PostIdleCompact is the one-shot post-idle flag: minimum layer 1 and a
	// raw budget of 20% on the next transform.
	PostIdleCompact bool `json:"post_idle_compact,omitempty"`

	ConsecutiveHighLayer int    `json:"high_layer_turns,omitempty"`
	LastPrefixHash       string `json:"prefix_hash,omitempty"`
	BustCount            int    `json:"busts,omitempty"`
	TransformCount       int    `json:"transforms,omitempty"`
}

// Window describes the raw part of one transform's output in terms of the
// input: messages [Start, Count) were sent (all of them at layer 0). The ids
// let the next turn check that the history it sees is the same one.
type Window struct {
	Start   int    `json:"start,omitempty"`
	StartID string `json:"start_id,omitempty"`
	Count   int    `json:"count,omitempty"`
	LastID  string `json:"last_id,omitempty"`
	LTM     int    `json:"ltm,omitempty"`
}

// Pin is the raw-window pin: the input position and id of the first raw
// message of the last layer-1 window.
type Pin struct {
	Index int    `json:"i"`
	ID    string `json:"id"`
}

// Calibrated reports whether a response has calibrated the session.
func (st *State) Calibrated() bool { return st.LastKnownInput > 0 }

// EffectiveOverhead is the calibrated overhead, or 15,000 before the first
// calibration.
func (st *State) EffectiveOverhead() int {
	if st.OverheadSamples == 0 {
		return FirstTurnOverhead
	}
	return st.Overhead
}

// Calibrate records a response's actual input tokens (input + cache read +
// cache creation). The overhead sample is max(0, actual − the last
// transform's message estimate), taken when that estimate is > 0 or the
// actual input is 0; the first sample is used as is, later ones as
// round(0.7 × old + 0.3 × sample). The last transform's window, message
// count and LTM become the known figures the next layer-0 decision starts
// from.
//
// Deviation from the reference: its layer-0 "estimate" on calibrated turns
// already contained the previous overhead, which made the EMA decay toward
// zero; here the estimate is always the output messages' own estimate, so
// the sample is the true overhead (system, tools, estimation error).
func Calibrate(st *State, actualInput int) {
	est := st.LastTransformEstimate
	if est > 0 || actualInput == 0 {
		sample := actualInput - est
		if sample < 0 {
			sample = 0
		}
		if st.OverheadSamples == 0 {
			st.Overhead = sample
		} else {
			st.Overhead = int(math.Floor(float64(st.Overhead)*emaOld + float64(sample)*emaNew + 0.5))
		}
		st.OverheadSamples++
	}
	st.LastKnownInput = actualInput
	st.LastKnownLTM = st.LastWindow.LTM
	st.LastKnownMessageCount = st.LastWindow.Count
	st.KnownWindow = st.LastWindow
	st.KnownEstimate = est
}

// IdleReset is idle resume: the prefix cache, the raw-window pin
// and the distillation snapshot are cleared and the one-shot post-idle flag
// is set. Calibration and the last layer are kept.
func (st *State) IdleReset() {
	st.Prefix = PrefixCache{}
	st.Pin = nil
	st.DistillSnapshotKey = ""
	st.PostIdleCompact = true
}

// ForceNextLayer is overflow recovery: the next transform uses at
// least the layer above the last one, and at least layer 2 (the reference
// forced 2).
func (st *State) ForceNextLayer() {
	l := st.LastLayer + 1
	if l < 2 {
		l = 2
	}
	if l > 4 {
		l = 4
	}
	if l > st.ForceMinLayer {
		st.ForceMinLayer = l
	}
}

// bookkeeping fills the result's figures and records the transform in the
// state: layer, estimate and window for calibration, the high-layer streak
// and cache-bust tracking.
func (p *plan) bookkeeping(r *Result) {
	st := p.st
	r.Budget, r.RawBudget, r.PostIdle = p.b, p.rawBudget, p.postIdle
	if len(r.Messages) == p.n && p.n > 0 && &r.Messages[0] == &p.msgs[0] {
		r.Estimate = p.inputTokens() // passthrough: the input itself
	} else {
		r.Estimate = EstimateMessages(r.Messages)
	}
	r.Expected = r.Estimate + p.b.Overhead + p.in.LTMTokens
	if r.Layer == 0 && p.expected > 0 {
		r.Expected = p.expected
	}
	r.RawTokens = r.Estimate - r.DistilledTokens
	r.TokensRemoved = max(p.inputTokens()-r.Estimate, 0)
	if p.n == 0 {
		return
	}
	p.recordGrowth()
	st.LastLayer = r.Layer
	st.LastLayerForced = p.forced
	st.LastTransformEstimate = r.Estimate
	st.LastWindow = Window{Start: p.cut, StartID: p.msgs[p.cut].ID, Count: p.n, LastID: p.msgs[p.n-1].ID, LTM: p.in.LTMTokens}
	if r.Layer >= 2 {
		st.ConsecutiveHighLayer++
		r.CompactHint = st.ConsecutiveHighLayer == compactHintTurns
	} else {
		st.ConsecutiveHighLayer = 0
	}
	h := windowHash(r)
	if st.TransformCount > 0 && h != st.LastPrefixHash {
		st.BustCount++
		r.CacheBust = true
	}
	st.LastPrefixHash = h
	st.TransformCount++
	r.HighBustRate = st.TransformCount >= bustRateMinTurns && st.BustCount*100 > st.TransformCount*bustRateThreshold
}

// windowHash is the cache-bust fingerprint of a window: its layer, the ids
// of its first 5 messages and the size of its distilled prefix (the prefix
// ids are constant, its rows are not).
func windowHash(r *Result) string {
	h := uint64(14695981039346656037)
	add := func(s string) {
		for i := 0; i < len(s); i++ {
			h ^= uint64(s[i])
			h *= 1099511628211
		}
		h ^= 0xff
		h *= 1099511628211
	}
	add(strconv.Itoa(r.Layer))
	add(strconv.Itoa(len(r.PrefixBytes)))
	for i := 0; i < len(r.Messages) && i < 5; i++ {
		add(r.Messages[i].ID)
	}
	return strconv.FormatUint(h, 16)
}
