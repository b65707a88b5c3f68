package translate

import (
	"bytes"
	"unicode/utf8"

	"github.com/caddy-lore/caddy-lore/internal/jsonscan"
	"github.com/caddy-lore/caddy-lore/pricing"
)

// addQuick is Add's fast path, read with jsonscan instead of encoding/json
// (whose per-event cost was about 6% of the gateway's CPU on streamed turns,
// and after the deltas, the three Unmarshal calls of each stream's start,
// first block and end were another 5%: docs/benchmarks.md). It reads every
// event type Add folds in, in the shape the API sends it, and returns
// false, having changed nothing, for anything it cannot read exactly as
// encoding/json would: a differently cased key of a field the general path
// decodes, a key it decodes given twice, a number that is not a plain
// integer, a string that is not valid UTF-8, null, malformed JSON. Add then
// decodes the event the general way, so the result never depends on which
// path ran (FuzzDeltaFastPath). Events Add has nothing to take from (ping,
// content_block_stop, unknown types) need only their type read surely.
func (a *Accumulator) addQuick(data []byte) bool {
	q := quickEvent{data: data, index: -1, exact: true, typeSure: true}
	if !q.read() {
		return false
	}
	switch q.typ {
	case "content_block_delta":
		if !q.exact || q.index < 0 {
			return false
		}
		a.delta(q.index, q.d)
	case "content_block_start":
		if !q.exact || q.index < 0 {
			return false
		}
		a.startBlock(q.index, q.block, q.blockRaw)
	case "message_start":
		if !q.exact {
			return false
		}
		a.resp.ID, a.resp.Model, a.resp.Usage = q.id, q.model, q.msgUsage
	case "message_delta":
		if !q.exact {
			return false
		}
		var u *pricing.Usage
		if q.hasUsage {
			u = &q.usage
		}
		a.messageDelta(q.stop, u)
	case "message_stop":
		if !q.exact {
			return false
		}
		a.done = true
	}
	return true // nothing to take from any other type, however it reads
}

// quickEvent is one event as addQuick reads it.
type quickEvent struct {
	data     []byte
	typ      string
	index    int // -1: absent
	d        delta
	stop     string
	id       string
	model    string
	msgUsage pricing.Usage
	usage    pricing.Usage
	hasUsage bool
	block    blockStart
	blockRaw []byte
	exact    bool // every decoded field is read as encoding/json reads it
	typeSure bool // no other key could give the event another type
}

// read reads the event; false when it is not one well-formed JSON object
// or its type is unsure.
func (q *quickEvent) read() bool {
	// The keys addDecoded decodes, per object.
	eventKeys := [...]string{"type", "index", "delta", "message", "content_block", "usage"}
	deltaKeys := [...]string{"type", "text", "thinking", "signature", "partial_json", "stop_reason"}
	messageKeys := [...]string{"id", "model", "usage"}
	blockKeys := [...]string{"type", "id", "name", "text", "thinking", "signature"}
	end := q.object(0, eventKeys[:], func(i, start int) int {
		switch i {
		case 0:
			end := q.str(&q.typ, start)
			if end < 0 {
				q.typeSure = false
			}
			return end
		case 1:
			return q.int(&q.index, start)
		case 2:
			return q.object(start, deltaKeys[:], func(i, start int) int {
				return q.str([...]*string{&q.d.typ, &q.d.text, &q.d.thinking, &q.d.signature, &q.d.partialJSON, &q.stop}[i], start)
			})
		case 3:
			return q.object(start, messageKeys[:], func(i, start int) int {
				switch i {
				case 0:
					return q.str(&q.id, start)
				case 1:
					return q.str(&q.model, start)
				}
				return q.readUsage(&q.msgUsage, start)
			})
		case 4:
			end := q.object(start, blockKeys[:], func(i, start int) int {
				b := &q.block
				return q.str([...]*string{&b.Type, &b.ID, &b.Name, &b.Text, &b.Thinking, &b.Signature}[i], start)
			})
			if end > 0 {
				q.blockRaw = q.data[start:end]
			}
			return end
		}
		q.hasUsage = true
		return q.readUsage(&q.usage, start)
	})
	return end >= 0 && q.typeSure && jsonscan.SkipSpace(q.data, end) == len(q.data)
}

// object reads the object at start. For a key that is exactly keys[i],
// read(i, start) reads the value and returns its end, or -1 (the value is
// then skipped, and the event is inexact). Any other key is skipped; one
// that only a case-insensitive match makes one of keys, as encoding/json
// matches them, or a key given twice, makes the event inexact (at the top
// level, a "type" of either kind makes the type unsure). It returns the
// object's end, or -1 for malformed JSON.
func (q *quickEvent) object(start int, keys []string, read func(i, start int) int) int {
	var seen uint32
	top := start == 0
	end, err := jsonscan.Object(q.data, start, func(key []byte, vs int) int {
		for i, k := range keys {
			if string(key) == k {
				if seen&(1<<i) != 0 {
					q.exact = false
					q.typeSure = q.typeSure && (!top || i != 0)
				}
				seen |= 1 << i
				end := read(i, vs)
				if end < 0 {
					q.exact = false
				}
				return end
			}
		}
		for i, k := range keys {
			if bytes.EqualFold(key, []byte(k)) {
				q.exact = false
				q.typeSure = q.typeSure && (!top || i != 0)
			}
		}
		return -1
	})
	if err != nil {
		q.exact = false
		return -1
	}
	return end
}

// str reads the string at start into dst; -1 for anything else or one
// that is not valid UTF-8 (encoding/json would replace its bytes).
func (q *quickEvent) str(dst *string, start int) int {
	s, end, err := jsonscan.StringAt(q.data, start)
	if err != nil || !utf8.ValidString(s) {
		return -1
	}
	*dst = s
	return end
}

// int reads a plain non-negative integer at start into dst; -1 otherwise.
func (q *quickEvent) int(dst *int, start int) int {
	n, end := plainInt(q.data, start)
	if end >= 0 {
		*dst = n
	}
	return end
}

// readUsage reads a usage object at start into u, the 1-hour part of its
// cache writes included (pricing.Usage.UnmarshalJSON reads the same).
func (q *quickEvent) readUsage(u *pricing.Usage, start int) int {
	usageKeys := [...]string{"input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens", "cache_creation"}
	oneHourKey := [...]string{"ephemeral_1h_input_tokens"}
	return q.object(start, usageKeys[:], func(i, start int) int {
		var n int
		if i == len(usageKeys)-1 {
			return q.object(start, oneHourKey[:], func(_, start int) int {
				end := q.int(&n, start)
				u.CacheWrite1hTokens = int64(n)
				return end
			})
		}
		end := q.int(&n, start)
		*[...]*int64{&u.InputTokens, &u.OutputTokens, &u.CacheReadTokens, &u.CacheWriteTokens}[i] = int64(n)
		return end
	})
}

// plainInt reads a non-negative JSON integer without sign, fraction or
// exponent at data[i], of at most nine digits; end is -1 otherwise.
func plainInt(data []byte, i int) (n, end int) {
	j := i
	for j < len(data) && data[j] >= '0' && data[j] <= '9' {
		if j-i == 9 {
			return 0, -1 // bigger than any block index or token count read here
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
