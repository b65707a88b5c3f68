package gradient

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
)

// Annotation texts (docs/context-window.md; the prior art's literal strings).
const (
	// InterruptedText is the error result given to a tool_use that has no
	// tool_result (docs/context-window.md, Layers: Pairing and order).
	InterruptedText = "[tool execution interrupted — session recovered]"
	// ResultsPlaceholder replaces a user message whose tool_results were all
	// orphans (docs/context-window.md, Layers: Pairing and order).
	ResultsPlaceholder = "[tool results provided]"

	pathScanLimit = 64 * 1024 // strip annotations scan the first 64 KiB for paths
	maxPaths      = 5
)

// StripAnnotation is the text that replaces a stripped tool output:
//
//	[output omitted — TOOL: N lines[, contained errors][, paths: P1, P2] — use recall for details]
//
// N counts "\n"-separated lines. "contained errors" appears when the output
// has one of the words error, fail, failed, failure, exception, panic,
// traceback (case-insensitive, whole word). Paths (up to 5 distinct, in order
// of appearance) are only looked for when the output contains a '/', and only
// in its first 64 KiB, with the reference's pattern
// (?:[\w.-]+/)+[\w.-]+\.\w{1,5}.
func StripAnnotation(tool, output string) string {
	var b strings.Builder
	b.Grow(64 + len(tool))
	b.WriteString("[output omitted — ")
	b.WriteString(tool)
	b.WriteString(": ")
	b.WriteString(strconv.Itoa(strings.Count(output, "\n") + 1))
	b.WriteString(" lines")
	if HasErrorWord(output) {
		b.WriteString(", contained errors")
	}
	if strings.IndexByte(output, '/') >= 0 {
		scan := output
		if len(scan) > pathScanLimit {
			scan = scan[:pathScanLimit]
		}
		if paths := FindPaths(scan, maxPaths); len(paths) > 0 {
			b.WriteString(", paths: ")
			b.WriteString(strings.Join(paths, ", "))
		}
	}
	b.WriteString(" — use recall for details]")
	return b.String()
}

// charClass classifies bytes: bit 1 is JavaScript's \w ([A-Za-z0-9_]), bit
// 2 is [\w.-]. A constant string, so the table is immutable.
const charClass = "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00" +
	"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x02\x00\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x00\x00\x00\x00\x00\x00" +
	"\x00\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x00\x00\x00\x00\x03" +
	"\x00\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x00\x00\x00\x00\x00" +
	"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00" +
	"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00" +
	"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00" +
	"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"

// isWord is JavaScript's \w: [A-Za-z0-9_].
func isWord(c byte) bool { return charClass[c]&1 != 0 }

// isPathChar is [\w.-].
func isPathChar(c byte) bool { return charClass[c]&2 != 0 }

// HasErrorWord reports whether s contains, as a whole ASCII word and in any
// case, error, fail, failed, failure, exception, panic or traceback — the
// reference's /\b(?:error|fail(?:ed|ure)?|exception|panic|traceback)\b/i.
func HasErrorWord(s string) bool {
	for i := 0; i < len(s); {
		if !isWord(s[i]) {
			i++
			continue
		}
		j := i + 1
		for j < len(s) && isWord(s[j]) {
			j++
		}
		if isErrorWord(s[i:j]) {
			return true
		}
		i = j
	}
	return false
}

func isErrorWord(w string) bool {
	switch len(w) {
	case 4:
		return strings.EqualFold(w, "fail")
	case 5:
		return strings.EqualFold(w, "error") || strings.EqualFold(w, "panic")
	case 6:
		return strings.EqualFold(w, "failed")
	case 7:
		return strings.EqualFold(w, "failure")
	case 9:
		return strings.EqualFold(w, "exception") || strings.EqualFold(w, "traceback")
	}
	return false
}

// FindPaths returns up to max distinct matches of (?:[\w.-]+/)+[\w.-]+\.\w{1,5}
// in s, in order of first appearance, exactly as a leftmost-first regexp
// engine finds them (a test checks this against regexp), in linear time.
func FindPaths(s string, max int) []string {
	var out []string
	for from := 0; from < len(s) && len(out) < max; {
		start, end, ok := nextPath(s, from)
		if !ok {
			break
		}
		p := s[start:end]
		dup := false
		for _, q := range out {
			if q == p {
				dup = true
				break
			}
		}
		if !dup {
			out = append(out, p)
		}
		from = end
	}
	return out
}

// nextPath finds the leftmost path match at or after from. A match must start
// at a [\w.-] character whose run is followed by '/'; if a start inside a run
// fails, every later start inside the same run fails too (the candidate tails
// are the same), so the scan skips to the end of the run.
func nextPath(s string, from int) (start, end int, ok bool) {
	for i := from; i < len(s); {
		if !isPathChar(s[i]) {
			i++
			continue
		}
		if e := matchPathAt(s, i); e > 0 {
			return i, e, true
		}
		for i < len(s) && isPathChar(s[i]) {
			i++
		}
	}
	return 0, 0, false
}

// matchPathAt returns the end of the match starting at i, or 0. The runs of
// [\w.-] separated by single '/' after the first one are the candidate tails;
// the greedy (?:[\w.-]+/)+ prefers the last run that holds a tail.
func matchPathAt(s string, i int) int {
	e := i
	for e < len(s) && isPathChar(s[e]) {
		e++
	}
	if e >= len(s) || s[e] != '/' {
		return 0
	}
	best := 0
	for p := e + 1; ; {
		q := p
		for q < len(s) && isPathChar(s[q]) {
			q++
		}
		if q == p {
			break
		}
		if t := tailEnd(s, p, q); t > 0 {
			best = t
		}
		if q < len(s) && s[q] == '/' {
			p = q + 1
			continue
		}
		break
	}
	return best
}

// tailEnd matches [\w.-]+\.\w{1,5} inside the run s[p:q]: the last '.' after
// the run's first character that is followed by a \w, then up to 5 \w.
func tailEnd(s string, p, q int) int {
	for d := q - 1; d > p; d-- {
		if s[d] != '.' || d+1 >= len(s) || !isWord(s[d+1]) {
			continue
		}
		end := d + 1
		for end < len(s) && end-d-1 < 5 && isWord(s[end]) {
			end++
		}
		return end
	}
	return 0
}

// readRange is a read tool's file path and optional line range (1-based
// offset, line count).
type readRange struct {
	path          string
	offset, limit float64
	hasOff        bool
	hasLim        bool
}

// isReadTool reports whether a tool reads files: "read" / "read_file" in the
// reference (OpenCode), "Read" in Claude Code.
func isReadTool(name string) bool {
	return strings.EqualFold(name, "read") || strings.EqualFold(name, "read_file")
}

// parseReadRange extracts the path (path, filePath, file, or Claude Code's
// file_path) and the numeric offset/limit from a read tool's input. Input
// that is not JSON falls back to the first path-like string in it.
func parseReadRange(input []byte) (readRange, bool) {
	var buf [8]objField
	fields := appendObjectFields(buf[:0], input)
	if fields == nil {
		s := string(input)
		if start, end, ok := nextPath(s, 0); ok {
			return readRange{path: s[start:end]}, true
		}
		return readRange{}, false
	}
	var r readRange
	var paths [4]string
	for _, f := range fields {
		v := input[f.valStart:f.valEnd]
		switch string(f.key) {
		case "path":
			paths[0] = jsonString(v)
		case "filePath":
			paths[1] = jsonString(v)
		case "file":
			paths[2] = jsonString(v)
		case "file_path":
			paths[3] = jsonString(v)
		case "offset":
			r.offset, r.hasOff = jsonNumber(v)
		case "limit":
			r.limit, r.hasLim = jsonNumber(v)
		}
	}
	for _, p := range paths {
		if p != "" {
			r.path = p
			return r, true
		}
	}
	return readRange{}, false
}

// jsonString decodes a JSON string value ("" for anything else).
func jsonString(v []byte) string {
	if len(v) < 2 || v[0] != '"' {
		return ""
	}
	if bytes.IndexByte(v, '\\') < 0 {
		return string(v[1 : len(v)-1])
	}
	var s string
	if json.Unmarshal(v, &s) != nil {
		return ""
	}
	return s
}

func jsonNumber(raw []byte) (float64, bool) {
	if len(raw) == 0 || (raw[0] != '-' && (raw[0] < '0' || raw[0] > '9')) {
		return 0, false
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	return f, err == nil
}

// covers reports whether a later read covers an earlier one of the same
// path: a full read covers everything; a ranged read never covers a full
// one; an open-ended read covers reads starting at or after its start; two
// bounded reads need a superset interval.
func (later readRange) covers(earlier readRange) bool {
	if later.path != earlier.path {
		return false
	}
	if !later.hasOff && !later.hasLim {
		return true
	}
	if !earlier.hasOff && !earlier.hasLim {
		return false
	}
	ls, es := 1.0, 1.0
	if later.hasOff {
		ls = later.offset
	}
	if earlier.hasOff {
		es = earlier.offset
	}
	if !later.hasLim {
		return ls <= es
	}
	if !earlier.hasLim {
		return false
	}
	return ls <= es && ls+later.limit >= es+earlier.limit
}

// DedupReadAnnotation replaces an earlier read covered by a later one:
// "[earlier read of PATH lines A-B — see latest read below for current
// content]", with " from line A" for an open-ended read and nothing for a
// full one. The range label is the prior art's source (its description
// paraphrases it as "(lines a-b)").
func DedupReadAnnotation(r readRange) string {
	label := ""
	switch {
	case r.hasOff && r.hasLim:
		label = " lines " + jsNum(r.offset) + "-" + jsNum(r.offset+r.limit-1)
	case r.hasOff:
		label = " from line " + jsNum(r.offset)
	}
	return "[earlier read of " + r.path + label + " — see latest read below for current content]"
}

// DedupAnnotation replaces an earlier output identical to a later one of the
// same tool.
func DedupAnnotation(tool string) string {
	return "[duplicate output — same content as later " + tool + " in this session — use recall for details]"
}

// jsNum formats a number as JavaScript prints it (integers without ".0").
func jsNum(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
