package distill

import (
	"slices"
	"testing"

	"github.com/caddy-lore/caddy-lore/store"
)

// times returns n timestamps one minute apart, with extra added before the
// messages at the given indices.
func times(n int, gaps map[int]int64) []int64 {
	at := make([]int64, n)
	var t int64
	for i := range at {
		t += 60_000 + gaps[i]
		at[i] = t
	}
	return at
}

// The segment sizes and the gap rule of docs/context-window.md, Distillation.
func TestSegments(t *testing.T) {
	tests := []struct {
		name string
		at   []int64
		want []int
	}{
		{"65 uniform", times(65, nil), []int{30, 30, 5}},
		{"61 uniform: a trailing 1 merges", times(61, nil), []int{30, 31}},
		{"62 uniform: a trailing 2 merges", times(62, nil), []int{30, 32}},
		{"63 uniform: a trailing 3 stands", times(63, nil), []int{30, 30, 3}},
		{"30 is one segment", times(30, nil), []int{30}},
		{"4 is one segment", times(4, nil), []int{4}},
		{"none", nil, nil},
		{"equal timestamps split at 30", make([]int64, 40), []int{30, 10}},
		{"an hour gap before message 12", times(40, map[int]int64{12: 3_600_000}), []int{12, 28}},
		{"a gap of exactly 3x the median splits", times(40, map[int]int64{20: 120_000}), []int{20, 20}},
		{"a gap under 3x the median does not", times(40, map[int]int64{20: 119_999}), []int{30, 10}},
		{"a gap leaving 2 messages is not used", times(40, map[int]int64{2: 3_600_000}), []int{30, 10}},
		{"a gap leaving 3 messages is used", times(40, map[int]int64{37: 3_600_000}), []int{30, 7, 3}},
		{"the largest of two gaps wins", times(80, map[int]int64{10: 600_000, 50: 900_000}), []int{10, 30, 10, 30}},
	}
	for _, tt := range tests {
		if got := Segments(tt.at, MaxSegment); !slices.Equal(got, tt.want) {
			t.Errorf("%s: Segments = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// plan skips ranges already covered by out-of-order rows.
func TestPlanSkipsAhead(t *testing.T) {
	p := &Pending{Mark: 30, Messages: make([]store.StoredMessage, 35), Ahead: []Span{{First: 40, Last: 49}}}
	for i := range p.Messages {
		p.Messages[i].At = int64(i) * 60_000
	}
	var got [][2]int
	for _, seg := range plan(p) {
		got = append(got, [2]int{seg[0].Index, seg[len(seg)-1].Index})
	}
	want := [][2]int{{30, 39}, {50, 64}}
	if !slices.Equal(got, want) {
		t.Errorf("plan = %v, want %v", got, want)
	}
}
