package jsonscan

import (
	"bytes"
	"encoding/binary"
	"math/bits"
)

// MaxDepth is the deepest nesting of arrays and objects a skipped value may
// have. Real requests nest a few levels (a tool's JSON schema a dozen or so);
// anything deeper is refused before a parser that recurses (encoding/json,
// the upstream's) spends a frame per level on it.
const MaxDepth = 128

// SkipString returns the index just after the string starting at b[i] ('"'),
// or -1 when it is not a well-formed JSON string (unterminated, a bad escape,
// a raw control character).
//
// Tool outputs are JSON-encoded source and logs, an escape every few dozen
// bytes (\n, \", \t): a search per escape would cost more than the bytes.
// So eight bytes at a time are tested at once for a quote, a backslash or a
// control byte, and only a word holding one is read byte by byte.
func SkipString(b []byte, i int) int {
	if i >= len(b) || b[i] != '"' {
		return -1
	}
	i++
	for {
		// Find the next special byte: whole words first (the lowest bit
		// of the mask is exact, see specials), the last few bytes one by
		// one.
		for i+8 <= len(b) {
			if m := specials(binary.LittleEndian.Uint64(b[i:])); m != 0 {
				i += bits.TrailingZeros64(m) / 8
				break
			}
			i += 8
		}
		for i < len(b) && b[i] != '"' && b[i] != '\\' && b[i] >= 0x20 {
			i++
		}
		if i >= len(b) {
			return -1
		}
		switch b[i] {
		case '"':
			return i + 1
		case '\\':
			n := escapeLen(b[i:])
			if n < 0 {
				return -1
			}
			i += n
		default: // a control byte
			return -1
		}
	}
}

// specials returns a mask with the high bit of each byte of x (little
// endian) that is a quote, a backslash or below 0x20 set — haszero and
// hasless of Bit Twiddling Hacks. Bits above the lowest may be false
// positives (a borrow), the lowest set bit never is.
func specials(x uint64) uint64 {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	q, bs := x^(ones*'"'), x^(ones*'\\')
	return ((q-ones)&^q | (bs-ones)&^bs | (x-ones*0x20)&^x) & highs
}

// escapeLen returns the length of the valid escape sequence at the start of b
// (b[0] == '\\'), or -1.
func escapeLen(b []byte) int {
	if len(b) < 2 {
		return -1
	}
	switch b[1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return 2
	case 'u':
		if len(b) < 6 {
			return -1
		}
		for _, c := range b[2:6] {
			if !isHex(c) {
				return -1
			}
		}
		return 6
	}
	return -1
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// hasControl reports whether s holds a byte below 0x20, which JSON forbids
// raw inside strings. Eight bytes at a time: (x - 0x20…) & ^x & 0x80… is
// non-zero exactly when some byte of x is below 0x20.
func hasControl(s []byte) bool {
	const lo, hi = 0x2020202020202020, 0x8080808080808080
	for len(s) >= 8 {
		x := binary.LittleEndian.Uint64(s)
		if (x-lo)&^x&hi != 0 {
			return true
		}
		s = s[8:]
	}
	for _, c := range s {
		if c < 0x20 {
			return true
		}
	}
	return false
}

// SkipValue returns the index just after the well-formed JSON value starting
// at b[i], or -1. What follows the value is the caller's to check.
func SkipValue(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		return SkipString(b, i)
	case '{', '[':
		return skipContainer(b, i, nil)
	}
	return skipScalar(b, i)
}

// Measure is SkipValue that also counts the values inside the value at b[i]
// (itself included; object keys are not values). Decoding JSON into Go
// structures costs per value whatever its size (`{}` is 2 bytes), so a
// caller about to decode a body with encoding/json bounds the count first.
func Measure(b []byte, i int) (end, values int) {
	if i < len(b) && (b[i] == '{' || b[i] == '[') {
		end = skipContainer(b, i, &values)
		return end, values
	}
	return SkipValue(b, i), 1
}

// skipScalar skips a number or true, false, null.
func skipScalar(b []byte, i int) int {
	for _, lit := range [...]string{"true", "false", "null"} {
		if i < len(b) && b[i] == lit[0] {
			if bytes.HasPrefix(b[i:], []byte(lit)) {
				return i + len(lit)
			}
			return -1
		}
	}
	return skipNumber(b, i)
}

// skipNumber skips -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?.
func skipNumber(b []byte, i int) int {
	digits := func(i int) int {
		s := i
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
		if i == s {
			return -1
		}
		return i
	}
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	default:
		if i = digits(i); i < 0 {
			return -1
		}
	}
	if i < len(b) && b[i] == '.' {
		if i = digits(i + 1); i < 0 {
			return -1
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i = digits(i); i < 0 {
			return -1
		}
	}
	return i
}

// skipContainer skips the object or array at b[i] without recursion: the
// kind of each open container is one bit of a fixed stack. It counts the
// values it meets in *values when values is not nil.
func skipContainer(b []byte, i int, values *int) int {
	var objects [MaxDepth / 64]uint64 // bit d set: level d is an object
	depth := 0
	inObject := func() bool { return objects[(depth-1)/64]&(1<<((depth-1)%64)) != 0 }
	// member reads `"key" :` at b[i] and returns the start of its value.
	member := func(i int) int {
		if i = SkipString(b, i); i < 0 {
			return -1
		}
		if i = SkipSpace(b, i); i >= len(b) || b[i] != ':' {
			return -1
		}
		return SkipSpace(b, i+1)
	}
	for {
		// b[i] starts a value.
		if i >= len(b) {
			return -1
		}
		if values != nil {
			*values++
		}
		if c := b[i]; c == '{' || c == '[' {
			if depth == MaxDepth {
				return -1
			}
			w, bit := depth/64, uint64(1)<<(depth%64)
			if c == '{' {
				objects[w] |= bit
			} else {
				objects[w] &^= bit
			}
			depth++
			i = SkipSpace(b, i+1)
			if i < len(b) && (b[i] == '}' && c == '{' || b[i] == ']' && c == '[') {
				depth--
				i++
			} else {
				if c == '{' {
					i = member(i)
				}
				if i < 0 {
					return -1
				}
				continue
			}
		} else if i = SkipValue(b, i); i < 0 { // a string or scalar
			return -1
		}
		// After a value: a separator or the end of containers.
		for {
			if depth == 0 {
				return i
			}
			i = SkipSpace(b, i)
			if i >= len(b) {
				return -1
			}
			obj := inObject()
			if b[i] == ',' {
				i = SkipSpace(b, i+1)
				if obj {
					i = member(i)
				}
				if i < 0 {
					return -1
				}
				break
			}
			if obj && b[i] == '}' || !obj && b[i] == ']' {
				depth--
				i++
				continue
			}
			return -1
		}
	}
}
