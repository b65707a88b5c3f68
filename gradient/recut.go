package gradient

import "math"

// Past the window, layer 1 sends the distilled prefix and a raw window of the
// newest messages whose first message is pinned, so the window only grows
// and every turn reads the one before it from the prompt cache. When it has
// grown too large the window is re-cut: it starts later, and everything after
// the prefix is written to the cache again. That write is the expensive
// event (1.25× the input price per token), while staying costs a read of the
// whole window every turn (0.1×). So when to re-cut, and how much raw window
// to keep after one, are chosen by expected cost per turn, in units of the
// input price, for the session's measured growth g (tokens a turn adds):
//
//   - A cycle keeps K tokens after a re-cut and grows until the window
//     reaches T: per turn it reads S + P + (K+T)/2 (S the system prompt and
//     tools, P the prefix) and pays 1.25 × K once every (T−K)/g turns, and the
//     distillation worker reads every new token once at the batch price:
//     0.1 × (S + P + (K+T)/2) + 1.25 × g × K/(T−K) + 0.5 × g.
//   - For a given K that is lowest at T = K + √(25 × g × K) (the derivative in
//     T is zero there), capped by the raw budget and never below the
//     post-idle window, so the window a post-idle turn leaves is not cut
//     again at once.
//   - The same conversation without the gateway grows to the input ceiling
//     and the client compacts it: per turn it reads S + H/2 (H the room for
//     history) and once every H/g turns reads S + H for the summary:
//     0.1 × (S + H/2) + 0.1 × (S + H) × g/H.
//   - K is the largest of 50, 40, 30, 20 and 15% of the raw budget whose
//     cycle costs at most recutCostMargin of that. A slow chat keeps half the raw budget and
//     re-cuts rarely; a tool loop that reads large files keeps less and
//     re-cuts more often, each re-cut writing less.
//
// Token figures are estimates (the overhead, which stands for S, is the
// calibrated difference between actual input and the estimate); the rule
// compares costs, so a common scale is what matters.
//
// The reference refilled to the whole budget on every re-cut, so the very
// next turn outgrew it again and almost every turn rewrote the cache.
const (
	recutCostMargin = 0.9  // a cycle must cost at most this share of going direct
	writeReadRatio2 = 25.0 // 2 × write price / read price (1.25 / 0.1 × 2)
	minGrowth       = 200  // growth assumed before the first measurement
)

// recutPolicy returns how many tokens a layer-1 cut keeps and the window
// size at which a pinned window is cut again.
func (p *plan) recutPolicy(rawBudget int) (keep, trigger int) {
	g := float64(max(p.st.Growth, minGrowth))
	s := float64(p.b.Overhead)
	h := math.Max(float64(p.b.MaxInput)-s, 1)
	direct := 0.1*(s+h/2) + 0.1*(s+h)*g/h
	pre := float64(p.st.Prefix.tokens())
	shares := [...]int{50, 40, 30, 20, 15} // percent of the raw budget, largest first
	for i, share := range shares {
		keep = pct(rawBudget, share)
		trigger = p.recutTrigger(keep, g, rawBudget)
		k, t := float64(keep), float64(trigger)
		cycle := 0.1*(s+pre+(k+t)/2) + 0.5*g
		if t > k {
			cycle += 1.25 * g * k / (t - k)
		}
		if cycle <= recutCostMargin*direct || i == len(shares)-1 {
			break
		}
	}
	return keep, trigger
}

// recutTrigger is the cost-optimal window size for keep, within
// [post-idle raw budget, raw budget].
func (p *plan) recutTrigger(keep int, g float64, rawBudget int) int {
	t := keep + int(math.Sqrt(writeReadRatio2*g*float64(keep)))
	return min(max(t, p.b.PostIdleRaw), rawBudget)
}

// pinnedWindow reports whether the layer-1 pin still names a message of this
// history and the window from it to the end is within limit tokens, and
// that window's size.
func (p *plan) pinnedWindow(limit int) (int, bool) {
	pin := p.st.Pin
	if pin == nil || pin.Index > p.ct || pin.Index >= p.n || p.msgs[pin.Index].ID != pin.ID {
		return 0, false
	}
	tok := p.currentTurnTokens()
	for i := p.ct - 1; i >= pin.Index && tok <= limit; i-- {
		tok += p.baseAt(i).est
	}
	return tok, tok <= limit
}

// recordGrowth updates the EMA of the tokens a turn adds to the
// conversation: the estimate of the messages after the last transform's,
// when this history continues that one.
func (p *plan) recordGrowth() {
	last := p.st.LastWindow
	if last.Count <= 0 || last.Count >= p.n || p.msgs[last.Count-1].ID != last.LastID {
		return
	}
	g := EstimateMessages(p.msgs[last.Count:])
	if p.st.Growth == 0 {
		p.st.Growth = g
		return
	}
	p.st.Growth = int(math.Floor(float64(p.st.Growth)*emaOld + float64(g)*emaNew + 0.5))
}
