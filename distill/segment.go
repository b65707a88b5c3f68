package distill

import (
	"slices"

	"github.com/caddy-lore/caddy-lore/store"
)

// indexed is a pending message with its list index (what coverage counts).
type indexed struct {
	Index int
	Msg   store.StoredMessage
}

// uncovered splits the pending messages into runs of consecutive list
// entries that no out-of-order row covers yet. Usually there is one run;
// after an out-of-order result there is a hole before it, and the messages
// it covers must not be distilled twice.
func uncovered(p *Pending) [][]indexed {
	var runs [][]indexed
	var cur []indexed
	a := 0
	for i, m := range p.Messages {
		idx := p.Mark + i
		for a < len(p.Ahead) && p.Ahead[a].Last < idx {
			a++
		}
		if a < len(p.Ahead) && p.Ahead[a].First <= idx {
			if len(cur) > 0 {
				runs = append(runs, cur)
				cur = nil
			}
			continue
		}
		cur = append(cur, indexed{idx, m})
	}
	if len(cur) > 0 {
		runs = append(runs, cur)
	}
	return runs
}

// Segments splits messages (oldest first) for distillation (docs/context-window.md,
// Distillation):
// up to max messages are one segment; longer runs are split recursively at
// the largest time gap that leaves at least MinSegment messages on each
// side, if that gap is at least GapFactor times the median gap, else at
// index max; a right part shorter than MinSegment joins the segment before
// it. It returns the segment lengths, in order.
//
// With uniform timestamps and max 30: 65 messages give 30, 30, 5 and 61 give
// 30, 31.
func Segments(at []int64, max int) []int {
	if max <= 0 {
		max = MaxSegment
	}
	var out []int
	var split func(lo, hi int)
	split = func(lo, hi int) {
		n := hi - lo
		if n <= max || n <= 1 {
			out = append(out, n)
			return
		}
		cut := lo + splitIndex(at[lo:hi], max)
		split(lo, cut)
		if hi-cut < MinSegment {
			out[len(out)-1] += hi - cut
			return
		}
		split(cut, hi)
	}
	if len(at) > 0 {
		split(0, len(at))
	}
	return out
}

// splitIndex picks where to cut an oversized run: the largest gap (the
// earliest of equals) with MinSegment messages on both sides, if it is
// positive and at least GapFactor times the median gap; else max.
func splitIndex(at []int64, max int) int {
	gaps := make([]int64, len(at)-1)
	for i := 1; i < len(at); i++ {
		gaps[i-1] = at[i] - at[i-1]
	}
	sorted := slices.Clone(gaps)
	slices.Sort(sorted)
	median := sorted[len(sorted)/2] // the upper median, as the reference takes it

	best, bestGap := -1, int64(0)
	for i := MinSegment; i <= len(at)-MinSegment; i++ {
		if g := gaps[i-1]; g > bestGap {
			best, bestGap = i, g
		}
	}
	if best > 0 && bestGap >= GapFactor*median {
		return best
	}
	return max
}

// plan turns the pending messages into segments.
func plan(p *Pending) [][]indexed {
	var segs [][]indexed
	for _, run := range uncovered(p) {
		at := make([]int64, len(run))
		for i, m := range run {
			at[i] = m.Msg.At
		}
		off := 0
		for _, n := range Segments(at, MaxSegment) {
			segs = append(segs, run[off:off+n])
			off += n
		}
	}
	return segs
}
