package translate

import (
	"bytes"
	"encoding/json"
	"errors"
	"runtime"
	"strings"
	"testing"
	"unicode/utf8"
)

// envelopeSeeds are request bodies in the shapes clients send, and the
// tricks that once made the gateway read a body differently from the
// upstream (escaped keys, duplicates, malformed skipped values).
var envelopeSeeds = []string{
	`{"model":"claude-sonnet-4-5","max_tokens":1024,"stream":true,"system":[{"type":"text","text":"You are Claude Code.","cache_control":{"type":"ephemeral"}}],"tools":[{"name":"Bash","input_schema":{"type":"object"}}],"tool_choice":{"type":"auto"},"metadata":{"user_id":"user_abc_account__session_1"},"messages":[{"role":"user","content":"hi"}]}`,
	`{"model":"claude-haiku-4-5","max_tokens":1,"messages":[{"role":"user","content":[{"type":"text","text":"x"}]}],"cache_control":{"type":"ephemeral"}}`,
	`{"m\u0065ssages":[],"model":"x"}`,
	`{"model":"a","model":"b"}`,
	`{"metadata":{"user_id":"a","user_id":"b"}}`,
	`{"tools":[1,2},"messages":[]}`,
	`{"stream":tru}`,
	`{"x":"\q"}`,
	`{"mod\u0065l":"x","stream":false,"system":"s"}`,
	` { "model" : "x" , "messages" : [ ] } `,
	`[]`,
}

// FuzzParseRequestMatchesEncodingJSON is the differential test of the
// envelope reader: on every input it either reads exactly the fields
// encoding/json reads (model, stream, system, tools, messages,
// cache_control, tool_choice, metadata.user_id), or refuses a body that is
// invalid JSON, too deep, or has a read field twice; it never accepts
// what encoding/json rejects.
func FuzzParseRequestMatchesEncodingJSON(f *testing.F) {
	for _, s := range envelopeSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		body := []byte(s)
		req, err := ParseRequest(body)
		var top map[string]json.RawMessage
		jerr := json.Unmarshal(body, &top)
		if err != nil {
			var refused *BodyError
			switch {
			case jerr != nil:
			case errors.As(err, &refused):
				if !hasDuplicateReadField(body) && len(top) <= MaxTopLevelFields && !strings.Contains(refused.Message, "top-level fields") {
					t.Fatalf("%q refused (%v) without a duplicated read field", s, err)
				}
			case deeperThan(body, 128):
			default:
				t.Fatalf("%q: valid JSON object refused: %v", s, err)
			}
			return
		}
		if jerr != nil {
			t.Fatalf("%q: accepted, but encoding/json says %v", s, jerr)
		}
		// encoding/json substitutes U+FFFD for invalid UTF-8 in the strings
		// it decodes (model, user_id); raw spans must match regardless.
		text := utf8.Valid(body)
		raw := func(k string) string {
			v, ok := top[k]
			if !ok {
				return ""
			}
			return string(v)
		}
		var model string
		_ = json.Unmarshal(top["model"], &model)
		if text && req.Model != model && json.Unmarshal(top["model"], new(string)) == nil {
			t.Fatalf("%q: model %q, encoding/json %q", s, req.Model, model)
		}
		if req.Stream != (raw("stream") == "true") {
			t.Fatalf("%q: stream %v, encoding/json %s", s, req.Stream, raw("stream"))
		}
		for _, c := range []struct {
			name string
			got  []byte
		}{{"system", req.System}, {"tools", req.Tools}, {"messages", req.Messages}, {"tool_choice", req.ToolChoice}} {
			if string(c.got) != raw(c.name) {
				t.Fatalf("%q: %s %q, encoding/json %q", s, c.name, c.got, raw(c.name))
			}
		}
		if _, ok := top["cache_control"]; req.TopCacheControl != (ok && raw("cache_control") != "null") {
			t.Fatalf("%q: cache_control %v", s, req.TopCacheControl)
		}
		var meta struct {
			UserID json.RawMessage `json:"user_id"`
		}
		if text && json.Unmarshal(top["metadata"], &meta) == nil && len(meta.UserID) > 0 {
			var uid string
			if json.Unmarshal(meta.UserID, &uid) == nil && uid != req.MetadataUserID && exactKey(top["metadata"], "user_id") {
				t.Fatalf("%q: metadata.user_id %q, encoding/json %q", s, req.MetadataUserID, uid)
			}
		}
	})
}

// exactKey reports whether the object has the key spelled exactly (encoding/json
// matches struct fields case-insensitively; the upstream does not).
func exactKey(obj []byte, key string) bool {
	var m map[string]json.RawMessage
	if json.Unmarshal(obj, &m) != nil {
		return false
	}
	_, ok := m[key]
	return ok
}

// hasDuplicateReadField reports whether a valid JSON object has a field the
// pipeline reads twice, at the top level or as metadata.user_id.
func hasDuplicateReadField(body []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return false
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		key := tok.(string)
		var v json.RawMessage
		if dec.Decode(&v) != nil {
			return false
		}
		if fieldBit([]byte(key)) != 0 {
			if seen[key] {
				return true
			}
			seen[key] = true
		}
		if key == "metadata" && countKey(v, "user_id") > 1 {
			return true
		}
	}
	return false
}

func countKey(obj []byte, key string) int {
	dec := json.NewDecoder(bytes.NewReader(obj))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return 0
	}
	n := 0
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return n
		}
		if tok.(string) == key {
			n++
		}
		var v json.RawMessage
		if dec.Decode(&v) != nil {
			return n
		}
	}
	return n
}

// deeperThan reports whether valid JSON nests more than limit levels.
func deeperThan(b []byte, limit int) bool {
	d := 0
	dec := json.NewDecoder(bytes.NewReader(b))
	for {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			if d++; d > limit {
				return true
			}
		case json.Delim('}'), json.Delim(']'):
			d--
		}
	}
}

// TestSystemTextOfDenseArrayCostsLittle: a system prompt of a million
// numbers is not decoded into a million structs.
func TestSystemTextOfDenseArrayCostsLittle(t *testing.T) {
	sys := []byte("[" + strings.TrimSuffix(strings.Repeat("1,", 1<<20), ",") + "]")
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	if got := (&Request{System: sys}).SystemText(); got != "" {
		t.Fatalf("got %q", got)
	}
	runtime.ReadMemStats(&after)
	if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
		t.Fatalf("allocated %d bytes for a %d-byte system prompt", n, len(sys))
	}
}
