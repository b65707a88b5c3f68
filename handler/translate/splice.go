package translate

import (
	"errors"
	"sort"

	"github.com/caddy-lore/caddy-lore/internal/jsonscan"
)

// errNotObject is returned by ReplaceFields for a body that is not a JSON object.
var errNotObject = errors.New("body is not a JSON object")

// field is where one top-level field of a body is: its key (unescaped, as
// jsonscan hands it) and its value body[start:end].
type field struct {
	key        []byte
	start, end int
}

// ReplaceFields returns body with the values of the named top-level fields
// replaced by the given raw JSON, every other field copied byte for byte (in
// its order; only whitespace between fields is dropped). A field absent from
// body is appended (in name order); a nil value removes the field. Nested
// values are skipped, not decoded.
func ReplaceFields(body []byte, fields map[string][]byte) ([]byte, error) {
	spans, err := topFields(body)
	if err != nil {
		return nil, err
	}
	return splice(body, spans, nil, fields).Bytes(), nil
}

// Rebuild returns the request's body as ReplaceFields does, with the
// messages array replaced by one made of elements (each a message's JSON,
// typically the client's own bytes) and the other fields by fields. It uses
// the field positions ParseRequest found, so the body is not scanned again,
// and copies nothing: the result refers to the client's body wherever it is
// unchanged, and to the new values elsewhere.
func (r *Request) Rebuild(elements [][]byte, fields map[string][]byte) (Body, error) {
	spans := r.fields
	if spans == nil { // not from ParseRequest
		var err error
		if spans, err = topFields(r.Body); err != nil {
			return nil, err
		}
	}
	if elements == nil {
		elements = [][]byte{}
	}
	return splice(r.Body, spans, elements, fields), nil
}

// topFields finds the top-level fields of a JSON object.
func topFields(body []byte) ([]field, error) {
	spans := make([]field, 0, 16)
	_, err := jsonscan.Fields(body, 0, func(key []byte, s, e int) {
		spans = append(spans, field{key: key, start: s, end: e})
	})
	if err != nil {
		return nil, errNotObject
	}
	return spans, nil
}

// splice writes the object of spans with the replacements: fields by name,
// and "messages" by the array of elements when elements is not nil.
func splice(body []byte, spans []field, elements [][]byte, fields map[string][]byte) Body {
	var w bodyBuilder
	if i := jsonscan.SkipSpace(body, 0); i < len(body) && body[i] == '{' {
		w.add(body[i : i+1]) // so that an unchanged body stays one slice
	} else {
		w.lit("{")
	}
	first := true
	add := func(key, v []byte, array bool) {
		if !first {
			w.lit(",")
		}
		first = false
		if plainKey(key) {
			w.lit(`"`)
			w.add(key)
			w.lit(`":`)
		} else { // a key that was sent escaped: encode it again
			w.add(append(jsonscan.AppendString(nil, string(key)), ':'))
		}
		if !array {
			w.add(v)
			return
		}
		w.lit("[")
		for i, e := range elements {
			if i > 0 {
				w.lit(",")
			}
			w.add(e)
		}
		w.lit("]")
	}
	for i := range spans {
		f := &spans[i]
		switch repl, ok := fields[string(f.key)]; {
		case elements != nil && string(f.key) == "messages":
			add(f.key, nil, true)
		case !ok:
			add(f.key, body[f.start:f.end], false)
		case repl != nil:
			add(f.key, repl, false)
		}
	}
	var extra []string // replacements for fields the body lacks
	for k, v := range fields {
		if v != nil && !hasField(spans, k) && (elements == nil || k != "messages") {
			extra = append(extra, k)
		}
	}
	sort.Strings(extra)
	for _, k := range extra {
		add([]byte(k), fields[k], false) // field names here are plain identifiers
	}
	if elements != nil && !hasField(spans, "messages") {
		add([]byte("messages"), nil, true)
	}
	w.lit("}")
	return w.parts
}

// plainKey reports whether key can be written between quotes as it is.
func plainKey(key []byte) bool {
	for _, c := range key {
		if c < 0x20 || c == '"' || c == '\\' || c >= 0x80 {
			return false
		}
	}
	return true
}

func hasField(spans []field, name string) bool {
	for i := range spans {
		if string(spans[i].key) == name {
			return true
		}
	}
	return false
}
