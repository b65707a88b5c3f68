package gradient

import "bytes"

// Minimal JSON-object surgery for cache_control markers: find a top-level
// field, add one, remove one, keeping every other byte as it was.

// objField is one top-level field: offsets of its key's opening quote, of
// its value and of the end of its value.
type objField struct {
	keyStart, valStart, valEnd int
	key                        []byte // raw key between the quotes
}

// objectFields lists the top-level fields of a JSON object, or nil when obj
// is not a well-formed object.
func objectFields(obj []byte) []objField { return appendObjectFields(nil, obj) }

// appendObjectFields appends the top-level fields of a JSON object to dst;
// nil when obj is not a well-formed object.
func appendObjectFields(fields []objField, obj []byte) []objField {
	i := skipSpace(obj, 0)
	if i >= len(obj) || obj[i] != '{' {
		return nil
	}
	i = skipSpace(obj, i+1)
	if i < len(obj) && obj[i] == '}' {
		return fields[:0:0]
	}
	for i < len(obj) {
		if obj[i] != '"' {
			return nil
		}
		ks := i
		ke := skipString(obj, i)
		if ke < 0 {
			return nil
		}
		i = skipSpace(obj, ke)
		if i >= len(obj) || obj[i] != ':' {
			return nil
		}
		vs := skipSpace(obj, i+1)
		ve := skipValue(obj, vs)
		if ve < 0 {
			return nil
		}
		fields = append(fields, objField{keyStart: ks, valStart: vs, valEnd: ve, key: obj[ks+1 : ke-1]})
		i = skipSpace(obj, ve)
		if i >= len(obj) {
			return nil
		}
		if obj[i] == '}' {
			return fields
		}
		if obj[i] != ',' {
			return nil
		}
		i = skipSpace(obj, i+1)
	}
	return nil
}

// fieldValue returns the raw value of a top-level field, nil if absent.
func fieldValue(obj []byte, key string) []byte {
	for _, f := range objectFields(obj) {
		if string(f.key) == key {
			return obj[f.valStart:f.valEnd]
		}
	}
	return nil
}

// addField inserts a `"key":value` field before the object's closing brace.
func addField(obj []byte, field []byte) []byte {
	end := len(bytes.TrimRight(obj, " \t\r\n")) - 1
	if end < 0 || obj[end] != '}' {
		return obj
	}
	empty := bytes.TrimSpace(obj[:end])
	out := make([]byte, 0, len(obj)+len(field)+1)
	out = append(out, obj[:end]...)
	if !bytes.Equal(empty, []byte("{")) {
		out = append(out, ',')
	}
	out = append(out, field...)
	return append(out, obj[end:]...)
}

// removeCacheControl removes the top-level cache_control field (and the
// comma that separated it).
func removeCacheControl(obj []byte) []byte {
	fields := objectFields(obj)
	for k, f := range fields {
		if !bytes.Equal(f.key, ccFieldKey) {
			continue
		}
		var from, to int
		switch {
		case k > 0:
			from, to = fields[k-1].valEnd, f.valEnd
		case k+1 < len(fields):
			from, to = f.keyStart, fields[k+1].keyStart
		default:
			from, to = f.keyStart, f.valEnd
		}
		out := make([]byte, 0, len(obj)-(to-from))
		out = append(out, obj[:from]...)
		return append(out, obj[to:]...)
	}
	return obj
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the offset after the string starting at b[i] == '"',
// or -1.
func skipString(b []byte, i int) int {
	j := i + 1
	for {
		k := bytes.IndexByte(b[j:], '"')
		if k < 0 {
			return -1
		}
		q := j + k
		bs := 0
		for p := q - 1; p > i && b[p] == '\\'; p-- {
			bs++
		}
		if bs%2 == 0 {
			return q + 1
		}
		j = q + 1
	}
}

// skipValue returns the offset after the JSON value starting at b[i], or -1.
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				e := skipString(b, j)
				if e < 0 {
					return -1
				}
				j = e - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return -1
	default:
		j := i
	scan:
		for ; j < len(b); j++ {
			switch b[j] {
			case ',', '}', ']', ' ', '\t', '\r', '\n':
				break scan
			}
		}
		if j == i {
			return -1
		}
		return j
	}
}

// arrayObjects splits a JSON array of objects into the objects' bytes.
func arrayObjects(arr []byte) ([][]byte, bool) {
	i := skipSpace(arr, 0)
	if i >= len(arr) || arr[i] != '[' {
		return nil, false
	}
	var out [][]byte
	i = skipSpace(arr, i+1)
	if i < len(arr) && arr[i] == ']' {
		return out, true
	}
	for i < len(arr) {
		if arr[i] != '{' {
			return nil, false
		}
		e := skipValue(arr, i)
		if e < 0 {
			return nil, false
		}
		out = append(out, arr[i:e])
		i = skipSpace(arr, e)
		if i >= len(arr) {
			return nil, false
		}
		if arr[i] == ']' {
			return out, true
		}
		if arr[i] != ',' {
			return nil, false
		}
		i = skipSpace(arr, i+1)
	}
	return nil, false
}
