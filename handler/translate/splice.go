package translate

import (
	"errors"

	"github.com/caddy-lore/caddy-lore/internal/jsonscan"
)

// errNotObject is returned by ReplaceFields for a body that is not a JSON object.
var errNotObject = errors.New("body is not a JSON object")

// ReplaceFields returns body with the values of the named top-level fields
// replaced by the given raw JSON, every other field copied byte for byte (in
// its order; only whitespace between fields is dropped). A field absent from
// body is appended; a nil value removes the field. Nested values are skipped,
// not decoded.
func ReplaceFields(body []byte, fields map[string][]byte) ([]byte, error) {
	extra := 0
	for _, v := range fields {
		extra += len(v) + 32
	}
	out := make([]byte, 0, len(body)+extra)
	out = append(out, '{')
	done := make(map[string]bool, len(fields))
	first := true
	add := func(key, value []byte) {
		if !first {
			out = append(out, ',')
		}
		first = false
		out = append(out, '"')
		out = append(out, key...)
		out = append(out, '"', ':')
		out = append(out, value...)
	}
	_, err := jsonscan.Fields(body, 0, func(key []byte, s, e int) {
		value := body[s:e]
		if repl, ok := fields[string(key)]; ok {
			done[string(key)] = true
			if repl == nil {
				return
			}
			value = repl
		}
		add(key, value)
	})
	if err != nil {
		return nil, errNotObject
	}
	for k, v := range fields {
		if !done[k] && v != nil {
			add([]byte(k), v) // field names here are plain identifiers
		}
	}
	return append(out, '}'), nil
}
