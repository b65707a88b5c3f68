package translate

import (
	"bytes"
	"unicode/utf8"

	"github.com/caddy-lore/caddy-lore/internal/jsonscan"
)

// addQuick is Add's fast path, read with jsonscan instead of encoding/json
// (whose per-event cost was about 6% of the gateway's CPU on streamed turns:
// docs/benchmarks.md), for the events that are most of a stream: a content
// block delta, and the events Add has nothing to take from (ping,
// content_block_stop, unknown types). For a delta it reads only the exact
// shape the API sends — the keys type, index and delta, and in the delta its
// type and one text field — and returns false, having changed nothing, for
// anything it cannot read exactly as encoding/json would: a differently
// cased key, a field the general path decodes (and could fail on), a number
// that is not a plain integer, a string that is not valid UTF-8, malformed
// JSON. Add then decodes the event the general way, so the result never
// depends on which path ran (FuzzDeltaFastPath).
func (a *Accumulator) addQuick(data []byte) bool {
	var typ string
	var d delta
	index := -1
	exact := true    // the delta is read as encoding/json reads it
	typeSure := true // no differently cased "type" key could override typ
	str := func(dst *string, start int) int {
		s, end, err := jsonscan.StringAt(data, start)
		if err != nil || !utf8.ValidString(s) {
			exact = false
			return -1
		}
		*dst = s
		return end
	}
	end, err := jsonscan.Object(data, 0, func(key []byte, start int) int {
		switch string(key) {
		case "type":
			if end := str(&typ, start); end >= 0 {
				return end
			}
			typeSure = false
			return -1
		case "index":
			n, end := plainInt(data, start)
			if end < 0 {
				exact = false
				return -1
			}
			index = n
			return end
		case "delta":
			end, err := jsonscan.Object(data, start, func(key []byte, start int) int {
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
				exact = false
				return -1
			})
			if err != nil {
				exact = false
				return -1
			}
			return end
		}
		if bytes.EqualFold(key, []byte("type")) {
			typeSure = false
		}
		if isDecodedField(key) {
			exact = false
		}
		return -1
	})
	if err != nil || !typeSure || jsonscan.SkipSpace(data, end) != len(data) {
		return false
	}
	switch typ {
	case "message_start", "content_block_start", "message_delta", "message_stop":
		return false
	case "content_block_delta":
		if !exact || index < 0 {
			return false
		}
		a.delta(index, d)
	}
	return true // nothing to take from any other type, however it reads
}

// isDecodedField reports a key of an event field addDecoded reads, in any
// case (encoding/json matches them so): a delta with one besides its own
// is left to it.
func isDecodedField(key []byte) bool {
	for _, f := range [...]string{"type", "index", "message", "content_block", "delta", "usage"} {
		if bytes.EqualFold(key, []byte(f)) {
			return true
		}
	}
	return false
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
