package jsonscan

import (
	"strings"
	"testing"
)

func TestTooDeep(t *testing.T) {
	deep := strings.Repeat("[", MaxDepth+1)
	for _, c := range []struct {
		in   string
		want bool
	}{
		{deep, true},
		{`{"x":` + deep, true},
		{strings.Repeat("[", MaxDepth), false}, // at the limit, cut short
		{strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth) + "[", false}, // closed, then one
		{`"` + deep + `"`, false},                                    // inside a string
		{`{"` + strings.Repeat("[", MaxDepth+1), false},              // a key cut short: no verdict
		{`["a\"` + deep + `"]`, false},                               // an escaped quote does not end the string
		{`[[` + strings.Repeat(`{"k":[`, MaxDepth/2-1) + `1`, false}, // 2 + 2×63 levels
		{`[` + strings.Repeat(`{"k":[`, MaxDepth/2) + `1`, true},     // 1 + 2×64
	} {
		if got := TooDeep([]byte(c.in), MaxDepth); got != c.want {
			t.Errorf("TooDeep(%.40q…) = %v, want %v", c.in, got, c.want)
		}
	}
}

// TooDeep's verdict is final: a text it refuses is refused by SkipValue
// however it continues.
func FuzzTooDeepIsFinal(f *testing.F) {
	f.Add([]byte(strings.Repeat("[", MaxDepth+1)), []byte("]"))
	f.Add([]byte(`{"a":"[[[`), []byte(`"}`))
	f.Add([]byte(`[`), []byte(`]`))
	f.Fuzz(func(t *testing.T, prefix, rest []byte) {
		if !TooDeep(prefix, MaxDepth) {
			return
		}
		whole := append(append([]byte{}, prefix...), rest...)
		if end := SkipValue(whole, SkipSpace(whole, 0)); end >= 0 && SkipSpace(whole, end) == len(whole) {
			t.Fatalf("TooDeep refused %q, but %q is JSON SkipValue reads", prefix, whole)
		}
	})
}
