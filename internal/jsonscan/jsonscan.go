// Package jsonscan walks JSON without decoding what it does not need, and
// validates what it walks: a value it skips is well-formed JSON (RFC 8259:
// escapes, no raw control characters in strings, exact literals and numbers,
// matching brackets, at most MaxDepth levels of nesting), so the gateway never
// forwards bytes it read differently from the upstream. Request bodies reach
// megabytes and are mostly long strings (tool outputs, file contents);
// skipping a string is a memchr for its closing quote plus a word-at-a-time
// check for control bytes, an order of magnitude faster than encoding/json's
// byte-at-a-time scanner.
//
// Malformed input makes a function return an error (or -1); it never panics,
// and nothing here recurses or allocates in proportion to nesting.
package jsonscan

import (
	"bytes"
	"errors"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// ErrSyntax reports input that is not the JSON shape the caller asked for.
var ErrSyntax = errors.New("malformed JSON")

// SkipSpace returns the index of the first non-whitespace byte at or after i.
func SkipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// Object walks the object starting at b[i] (after optional whitespace) and
// returns the index after it. For each field fn gets the key (unescaped) and
// the start of the value; it returns the index
// just after the value if it consumed it, or -1 to have the walk skip it.
// A value is therefore read once, however deep the caller's decoding goes.
func Object(b []byte, i int, fn func(key []byte, start int) int) (int, error) {
	i = SkipSpace(b, i)
	if i >= len(b) || b[i] != '{' {
		return -1, ErrSyntax
	}
	i = SkipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return i + 1, nil
	}
	for {
		ke := SkipString(b, i)
		if ke < 0 {
			return -1, ErrSyntax
		}
		key := b[i+1 : ke-1]
		if bytes.IndexByte(key, '\\') >= 0 {
			// Compared after unescaping, as every JSON parser does:
			// "m\u0065ssages" is "messages" to the upstream.
			k, _, err := StringAt(b, i)
			if err != nil {
				return -1, ErrSyntax
			}
			key = []byte(k)
		}
		i = SkipSpace(b, ke)
		if i >= len(b) || b[i] != ':' {
			return -1, ErrSyntax
		}
		vs := SkipSpace(b, i+1)
		ve := fn(key, vs)
		if ve < 0 {
			ve = SkipValue(b, vs)
		}
		if ve < 0 || ve < vs {
			return -1, ErrSyntax
		}
		i = SkipSpace(b, ve)
		if i >= len(b) {
			return -1, ErrSyntax
		}
		switch b[i] {
		case ',':
			i = SkipSpace(b, i+1)
		case '}':
			return i + 1, nil
		default:
			return -1, ErrSyntax
		}
	}
}

// Fields is Object for callers that only need each value's span.
func Fields(b []byte, i int, fn func(key []byte, start, end int)) (int, error) {
	return Object(b, i, func(key []byte, s int) int {
		e := SkipValue(b, s)
		if e >= 0 {
			fn(key, s, e)
		}
		return e
	})
}

// Array walks the array starting at b[i] and returns the index after it. fn
// gets the start of each element and returns the index just after it if it
// consumed it, or -1 to have the walk skip it; an error stops the walk.
func Array(b []byte, i int, fn func(start int) (int, error)) (int, error) {
	i = SkipSpace(b, i)
	if i >= len(b) || b[i] != '[' {
		return -1, ErrSyntax
	}
	i = SkipSpace(b, i+1)
	if i < len(b) && b[i] == ']' {
		return i + 1, nil
	}
	for {
		ve, err := fn(i)
		if err != nil {
			return -1, err
		}
		if ve < 0 {
			ve = SkipValue(b, i)
		}
		if ve < 0 || ve < i {
			return -1, ErrSyntax
		}
		i = SkipSpace(b, ve)
		if i >= len(b) {
			return -1, ErrSyntax
		}
		switch b[i] {
		case ',':
			i = SkipSpace(b, i+1)
		case ']':
			return i + 1, nil
		default:
			return -1, ErrSyntax
		}
	}
}

// Count returns the number of elements of the array at b[i], or -1.
func Count(b []byte, i int) int {
	n := 0
	if _, err := Array(b, i, func(int) (int, error) { n++; return -1, nil }); err != nil {
		return -1
	}
	return n
}

// StringAt decodes the string starting at b[i] and returns it with the index
// just after it, reading each byte once: runs without escapes are found with
// memchr and copied whole.
func StringAt(b []byte, i int) (string, int, error) {
	if i >= len(b) || b[i] != '"' {
		return "", -1, ErrSyntax
	}
	i++
	var out []byte
	q := -1 // absolute index of the next unescaped-looking quote, reused across escapes
	for {
		if q < i {
			n := bytes.IndexByte(b[i:], '"')
			if n < 0 {
				return "", -1, ErrSyntax
			}
			q = i + n
		}
		bs := bytes.IndexByte(b[i:q], '\\')
		if bs < 0 {
			if hasControl(b[i:q]) {
				return "", -1, ErrSyntax
			}
			if out == nil {
				return string(b[i:q]), q + 1, nil
			}
			out = append(out, b[i:q]...)
			return string(out), q + 1, nil
		}
		if out == nil {
			out = make([]byte, 0, q-i+64)
		}
		if hasControl(b[i : i+bs]) {
			return "", -1, ErrSyntax
		}
		out = append(out, b[i:i+bs]...)
		i += bs
		n, err := appendEscape(&out, b[i:])
		if err != nil {
			return "", -1, err
		}
		i += n
	}
}

// appendEscape decodes the escape sequence at the start of b (b[0] == '\\')
// onto out and returns the bytes consumed.
func appendEscape(out *[]byte, b []byte) (int, error) {
	if len(b) < 2 {
		return 0, ErrSyntax
	}
	switch b[1] {
	case '"', '\\', '/':
		*out = append(*out, b[1])
	case 'b':
		*out = append(*out, '\b')
	case 'f':
		*out = append(*out, '\f')
	case 'n':
		*out = append(*out, '\n')
	case 'r':
		*out = append(*out, '\r')
	case 't':
		*out = append(*out, '\t')
	case 'u':
		r, n, ok := unicodeEscape(b)
		if !ok {
			return 0, ErrSyntax
		}
		*out = utf8.AppendRune(*out, r)
		return n, nil
	default:
		return 0, ErrSyntax
	}
	return 2, nil
}

// String decodes a JSON string literal (with its quotes) that spans all of raw.
func String(raw []byte) (string, error) {
	str, end, err := StringAt(raw, 0)
	if err != nil || end != len(raw) {
		return "", ErrSyntax
	}
	return str, nil
}

// unicodeEscape decodes \uXXXX (and a following low surrogate) at the start
// of b, returning the rune and the bytes consumed.
func unicodeEscape(b []byte) (rune, int, bool) {
	hex := func(s []byte) (rune, bool) {
		if len(s) < 4 {
			return 0, false
		}
		v, err := strconv.ParseUint(string(s[:4]), 16, 32)
		return rune(v), err == nil
	}
	r, ok := hex(b[2:])
	if !ok {
		return 0, 0, false
	}
	if utf16.IsSurrogate(r) {
		if len(b) >= 12 && b[6] == '\\' && b[7] == 'u' {
			if r2, ok := hex(b[8:]); ok {
				if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
					return dec, 12, true
				}
			}
		}
		return utf8.RuneError, 6, true
	}
	return r, 6, true
}

// Equal reports whether a key as Object hands it (unescaped) equals name.
func Equal(key []byte, name string) bool { return string(key) == name }

// AppendStrings appends ss as a JSON array of string literals
// (AppendString each).
func AppendStrings(dst []byte, ss []string) []byte {
	dst = append(dst, '[')
	for i, s := range ss {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = AppendString(dst, s)
	}
	return append(dst, ']')
}

// AppendString appends s as a JSON string literal, byte-identical to
// encoding/json with SetEscapeHTML(false): ", \ and control characters
// escaped, invalid UTF-8 replaced by \ufffd, U+2028 and U+2029 escaped.
func AppendString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[b>>4], hex[b&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
