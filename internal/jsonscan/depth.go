package jsonscan

// TooDeep reports whether b, the beginning of a JSON text (it may be cut
// anywhere), already opens more than limit nested arrays and objects, so
// that no continuation of it can be JSON a parser limited to limit levels
// reads. Brackets inside strings do not count; nothing else is validated
// (malformed JSON is refused by the parser anyway), and a string cut short
// or malformed ends the scan without a verdict.
//
// It lets a caller refuse an absurdly nested body from its first bytes,
// before it has read (and paid for) the rest.
func TooDeep(b []byte, limit int) bool {
	depth := 0
	for i := 0; i < len(b); {
		switch b[i] {
		case '"':
			if i = SkipString(b, i); i < 0 {
				return false
			}
			continue
		case '[', '{':
			if depth++; depth > limit {
				return true
			}
		case ']', '}':
			depth--
		}
		i++
	}
	return false
}
