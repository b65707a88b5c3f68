package translate

import (
	"unicode/utf8"

	"github.com/caddy-lore/caddy-lore/internal/jsonscan"
)

// addDelta is Add's fast path for the most frequent event of a stream, a
// content block delta, read with jsonscan instead of encoding/json (whose
// per-event cost was about 6% of the gateway's CPU on streamed turns:
// docs/benchmarks.md). It reads only the exact shape the API sends — the keys
// type, index and delta, and in the delta type and one text field — and
// returns false, having changed nothing, for anything else: other events,
// other or differently cased keys, numbers that are not plain integers,
// strings that are not valid UTF-8, malformed JSON. Add then decodes the
// event the general way, so the result never depends on which path ran
// (FuzzDeltaFastPath).
func (a *Accumulator) addDelta(data []byte) bool {
	var typ string
	var d delta
	index := -1
	ok := true
	str := func(dst *string, start int) int {
		s, end, err := jsonscan.StringAt(data, start)
		if err != nil || !utf8.ValidString(s) {
			ok = false
			return -1
		}
		*dst = s
		return end
	}
	end, err := jsonscan.Object(data, 0, func(key []byte, start int) int {
		if !ok {
			return -1
		}
		switch string(key) {
		case "type":
			return str(&typ, start)
		case "index":
			n, end := plainInt(data, start)
			if end < 0 {
				ok = false
				return -1
			}
			index = n
			return end
		case "delta":
			end, err := jsonscan.Object(data, start, func(key []byte, start int) int {
				if !ok {
					return -1
				}
				switch string(key) {
				case "type":
					return str(&d.typ, start)
				case "text":
					return str(&d.text, start)
				case "thinking":
					return str(&d.thinking, start)
				case "signature":
					return str(&d.signature, start)
				case "partial_json":
					return str(&d.partialJSON, start)
				}
				ok = false
				return -1
			})
			if err != nil {
				ok = false
				return -1
			}
			return end
		}
		ok = false
		return -1
	})
	if err != nil || !ok || typ != "content_block_delta" || index < 0 || jsonscan.SkipSpace(data, end) != len(data) {
		return false
	}
	a.delta(index, d)
	return true
}

// plainInt reads a non-negative JSON integer without sign, fraction or
// exponent at data[i], small enough for an int; end is -1 otherwise.
func plainInt(data []byte, i int) (n, end int) {
	j := i
	for j < len(data) && data[j] >= '0' && data[j] <= '9' {
		if j-i == 9 {
			return 0, -1 // bigger than any block index
		}
		n = n*10 + int(data[j]-'0')
		j++
	}
	if j == i || (data[i] == '0' && j > i+1) {
		return 0, -1
	}
	if j < len(data) && (data[j] == '.' || data[j] == 'e' || data[j] == 'E') {
		return 0, -1
	}
	return n, j
}
