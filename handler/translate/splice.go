package translate

import (
	"errors"
)

// errNotObject is returned by ReplaceFields for a body that is not a JSON object.
var errNotObject = errors.New("body is not a JSON object")

// ReplaceFields returns body with the values of the named top-level fields
// replaced by the given raw JSON, every other byte copied unchanged. A field
// absent from body is appended; a nil value removes the field. body must be
// valid JSON (ParseRequest has already checked it), so only the top level is
// walked and nested values are skipped, not decoded.
func ReplaceFields(body []byte, fields map[string][]byte) ([]byte, error) {
	i := skipSpace(body, 0)
	if i >= len(body) || body[i] != '{' {
		return nil, errNotObject
	}
	extra := 0
	for _, v := range fields {
		extra += len(v) + 32
	}
	out := make([]byte, 0, len(body)+extra)
	out = append(out, '{')
	done := make(map[string]bool, len(fields))
	first := true
	i++
	for {
		i = skipSpace(body, i)
		if i >= len(body) {
			return nil, errNotObject
		}
		if body[i] == '}' {
			break
		}
		if body[i] == ',' {
			i++
			continue
		}
		keyStart := i
		keyEnd := skipString(body, i)
		if keyEnd < 0 {
			return nil, errNotObject
		}
		key := string(body[keyStart+1 : keyEnd-1])
		i = skipSpace(body, keyEnd)
		if i >= len(body) || body[i] != ':' {
			return nil, errNotObject
		}
		valStart := skipSpace(body, i+1)
		valEnd := skipValue(body, valStart)
		if valEnd < 0 {
			return nil, errNotObject
		}
		i = valEnd
		value := body[valStart:valEnd]
		if repl, ok := fields[key]; ok {
			done[key] = true
			if repl == nil {
				continue
			}
			value = repl
		}
		if !first {
			out = append(out, ',')
		}
		first = false
		out = append(out, body[keyStart:keyEnd]...)
		out = append(out, ':')
		out = append(out, value...)
	}
	for k, v := range fields {
		if done[k] || v == nil {
			continue
		}
		if !first {
			out = append(out, ',')
		}
		first = false
		out = appendQuoted(out, k)
		out = append(out, ':')
		out = append(out, v...)
	}
	return append(out, '}'), nil
}

func appendQuoted(dst []byte, s string) []byte {
	dst = append(dst, '"')
	dst = append(dst, s...) // field names here are plain identifiers
	return append(dst, '"')
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the string starting at b[i] == '"'.
func skipString(b []byte, i int) int {
	if i >= len(b) || b[i] != '"' {
		return -1
	}
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return -1
}

// skipValue returns the index after the JSON value starting at b[i].
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for ; i < len(b); i++ {
			switch b[i] {
			case '"':
				j := skipString(b, i)
				if j < 0 {
					return -1
				}
				i = j - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
		}
		return -1
	default: // number, true, false, null
		for ; i < len(b); i++ {
			switch b[i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return i
			}
		}
		return i
	}
}
