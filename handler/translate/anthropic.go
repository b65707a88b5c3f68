// Package translate reads and writes the wire formats the gateway speaks:
// Anthropic Messages requests and responses (JSON and SSE) and OpenAI chat
// completions, with the translations between them.
package translate

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/caddy-lore/caddy-lore/internal/jsonscan"
)

// Request is the part of an Anthropic Messages request body the pipeline
// reads. Everything else stays in Body, which is what gets forwarded.
type Request struct {
	Model           string
	Stream          bool
	System          json.RawMessage // string or array of text blocks, or nil
	ToolCount       int
	Tools           json.RawMessage // the tools array, for counting its cache breakpoints
	TopCacheControl bool            // automatic caching: a top-level cache_control
	ToolChoice      json.RawMessage // tool_choice as sent, or nil
	Messages        json.RawMessage
	MessageCount    int
	MetadataUserID  string
	Body            []byte
	fields          []field // every top-level field, for Rebuild
	systemText      string  // SystemText's answer, once systemRead
	systemRead      bool
}

// ErrInvalidJSON is returned for a body that is not a JSON object.
var ErrInvalidJSON = errors.New("invalid JSON body")

// BodyError is a well-formed body the gateway refuses to read, because it
// could not read it the way the upstream will, or because its shape would
// cost more than its size warrants. Routes answer it with 400 and Message.
type BodyError struct{ Message string }

func (e *BodyError) Error() string { return e.Message }

// MaxTopLevelFields bounds the fields of a request object: real requests
// have about fifteen, and each costs a span in Request.
const MaxTopLevelFields = 256

// readFields are the top-level fields the pipeline reads or rewrites. A body
// that has one of them twice is refused: JSON parsers disagree on which
// copy wins, so the gateway could transform one and the upstream obey the
// other.
var readFields = [...]string{"model", "stream", "system", "tools", "messages", "cache_control", "tool_choice", "metadata"}

// fieldBit returns the bit of a read field, or 0.
func fieldBit(key []byte) uint {
	for i, f := range readFields {
		if string(key) == f {
			return 1 << i
		}
	}
	return 0
}

// ParseRequest reads the envelope of a Messages request in one pass over its
// top level, skipping the values it does not need (a 300-turn session body is
// megabytes). Keys are compared unescaped and every skipped value is checked
// to be well-formed JSON (jsonscan), so the gateway reads the body as the
// upstream will. It fails with ErrInvalidJSON when the body is not a JSON
// object, and with a *BodyError for a duplicated field the pipeline reads or
// more than MaxTopLevelFields fields; other field-level validation is the
// upstream's job, so its error messages reach the client unchanged, in its
// own words.
func ParseRequest(body []byte) (*Request, error) { return ParseRequestFunc(body, nil) }

// ParseRequestFunc is ParseRequest handing the `messages` value, which starts
// at body[start], to decode when decode is not nil. decode returns the index
// just after the value and how many messages it holds, or a negative index
// to leave the value to ParseRequest, or an index past the body to stop the
// parse (ParseRequestFunc then fails; the caller knows why). A caller that
// decodes the messages anyway so reads the body once instead of twice.
func ParseRequestFunc(body []byte, decode func(start int) (end, count int)) (*Request, error) {
	r := &Request{Body: body, fields: make([]field, 0, 16)}
	var metadata []byte
	counted := false
	var seen uint
	var refused *BodyError
	end, err := jsonscan.Object(body, 0, func(key []byte, s int) int {
		if bit := fieldBit(key); bit != 0 {
			if seen&bit != 0 {
				refused = &BodyError{"The request body has the field \"" + string(key) + "\" more than once."}
				return len(body) + 1
			}
			seen |= bit
		}
		if len(r.fields) == MaxTopLevelFields {
			refused = &BodyError{"The request body has more than " + strconv.Itoa(MaxTopLevelFields) + " top-level fields."}
			return len(body) + 1
		}
		if decode != nil && string(key) == "messages" {
			if e, n := decode(s); e > len(body) {
				return e
			} else if e >= s {
				r.Messages, r.MessageCount, counted = body[s:e], n, true
				r.fields = append(r.fields, field{key: key, start: s, end: e})
				return e
			}
		}
		e := jsonscan.SkipValue(body, s)
		if e < 0 {
			return -1
		}
		r.fields = append(r.fields, field{key: key, start: s, end: e})
		v := body[s:e]
		switch string(key) {
		case "model":
			r.Model, _ = jsonscan.String(v)
		case "stream":
			r.Stream = string(v) == "true"
		case "system":
			r.System = v
		case "tools":
			r.Tools = v
		case "messages":
			r.Messages, counted = v, false
		case "cache_control":
			r.TopCacheControl = string(v) != "null"
		case "tool_choice":
			r.ToolChoice = v
		case "metadata":
			metadata = v
		}
		return e
	})
	if refused != nil {
		return nil, refused
	}
	if err != nil || jsonscan.SkipSpace(body, end) != len(body) {
		return nil, ErrInvalidJSON
	}
	if len(metadata) > 0 && metadata[0] == '{' {
		users := 0
		_, _ = jsonscan.Fields(metadata, 0, func(key []byte, s, e int) {
			if string(key) == "user_id" {
				r.MetadataUserID, _ = jsonscan.String(metadata[s:e])
				users++
			}
		})
		if users > 1 { // it names the session
			return nil, &BodyError{`The request body has the field "metadata.user_id" more than once.`}
		}
	}
	if len(r.Messages) > 0 && r.Messages[0] == '[' && !counted {
		r.MessageCount = max(jsonscan.Count(r.Messages, 0), 0)
	}
	if len(r.Tools) > 0 && r.Tools[0] == '[' {
		r.ToolCount = max(jsonscan.Count(r.Tools, 0), 0)
	}
	return r, nil
}

// SystemText returns the system prompt as text: the string, or the text blocks
// joined with "\n". It is decoded once per request: the classification and
// a new session's project both read it, and Claude Code's is tens of KB.
func (r *Request) SystemText() string {
	if !r.systemRead {
		r.systemText, r.systemRead = systemText(r.System), true
	}
	return r.systemText
}

func systemText(system []byte) string {
	sys := bytes.TrimSpace(system)
	if len(sys) == 0 {
		return ""
	}
	if s, ok := systemTextFast(sys); ok {
		return s
	}
	return systemTextJSON(sys)
}

// systemTextFast is SystemText read with jsonscan (a system prompt is
// kilobytes, read every turn; encoding/json validates and decodes it at a
// fraction of the speed). ok is false for anything but the plain shapes —
// a string, an array of objects with string "type" and "text" — which
// systemTextJSON then decides as it always has.
func systemTextFast(sys []byte) (string, bool) {
	if sys[0] == '"' {
		s, err := jsonscan.String(sys)
		return s, err == nil && utf8.ValidString(s)
	}
	var out []byte
	ok := true
	end, err := jsonscan.Array(sys, 0, func(es int) (int, error) {
		var typ, text string
		e, err := jsonscan.Object(sys, es, func(key []byte, vs int) int {
			k := string(key)
			if k != "type" && k != "text" {
				// encoding/json matches field names case-insensitively
				ok = ok && !strings.EqualFold(k, "type") && !strings.EqualFold(k, "text")
				return -1
			}
			v, ve, err := jsonscan.StringAt(sys, vs)
			if err != nil { // null, or not a string: encoding/json decides
				ok = false
				return -1
			}
			if k == "type" {
				typ = v
			} else {
				text = v
			}
			return ve
		})
		if err != nil {
			return -1, err
		}
		if typ == "text" {
			if len(out) > 0 {
				out = append(out, '\n')
			}
			out = append(out, text...)
		}
		return e, nil
	})
	if err != nil || !ok || end != len(sys) || !utf8.Valid(out) {
		return "", false
	}
	return string(out), true
}

// systemTextJSON is SystemText with encoding/json.
func systemTextJSON(sys []byte) string {
	if sys[0] == '"' {
		var s string
		_ = json.Unmarshal(sys, &s)
		return s
	}
	// encoding/json fills one struct per element whatever it holds: an
	// array of a million numbers would cost 32 MB. Text blocks are tens of
	// bytes each; anything denser holds no text worth reading (the upstream
	// refuses such a system prompt anyway). Below 64 KiB the cost is
	// bounded anyway, and encoding/json decides as it always has.
	if n := jsonscan.Count(sys, 0); n < 0 || (len(sys) > 64<<10 && n*16 > len(sys)) {
		return ""
	}
	var blocks []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if json.Unmarshal(sys, &blocks) != nil {
		return ""
	}
	var b bytes.Buffer
	for _, blk := range blocks {
		if blk.Type != "text" {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(blk.Text)
	}
	return b.String()
}
