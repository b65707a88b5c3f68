package fakeupstream

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// imageWeight is the character weight of an image or binary document
// (= 1600 tokens).
const imageWeight = 6400

// unit is one position of the prompt in cache prefix order
// (tools → system → messages): a tool definition, a system block or a
// top-level content block of a message.
type unit struct {
	section  string // "tools", "system", "messages"
	role     string
	msgStart bool          // first block of a message
	canon    []byte        // canonical JSON without cache_control
	weight   int           // characters counted by EstimateTokens
	ttl      time.Duration // > 0: a cache breakpoint with this TTL
	msgIndex int
}

type block struct {
	obj       map[string]any
	Type      string
	Text      string // text
	ID, Name  string // tool_use
	ToolUseID string // tool_result
}

type message struct {
	Role   string
	Blocks []block
	Text   string // text blocks / string content joined with "\n" (no tool_result)
}

// msgRequest is a parsed Anthropic Messages request.
type msgRequest struct {
	Model     string
	MaxTokens int64
	Stream    bool
	System    string
	Messages  []message
	units     []unit
	root      map[string]any
}

// weight is the total character weight of the prompt.
func (p *msgRequest) weight() int {
	n := 0
	for _, u := range p.units {
		n += u.weight
	}
	return n
}

func tokensOf(chars int) int { return (chars + 3) / 4 }

// EstimateTokens is the fake's input token count of a request body (Anthropic
// Messages or OpenAI Chat Completions): ceil(C/4) where C is the number of
// UTF-8 bytes of
//   - tools: name + description + canonical JSON of input_schema (OpenAI:
//     of function.parameters); other tools: their canonical JSON;
//   - system: its text (string or text blocks);
//   - messages: string content; text of text blocks; thinking text;
//     redacted_thinking data; tool_use name + canonical JSON of input;
//     tool_result content (string or nested blocks); document text; OpenAI
//     tool_calls name + arguments. Each image or binary document counts as
//     6400 (1600 tokens); any other block counts its canonical JSON.
//
// Canonical JSON is encoding/json output with sorted keys, no HTML escaping,
// cache_control removed. A body that is not JSON counts ceil(len(body)/4).
func EstimateTokens(body []byte) int {
	root, err := decodeObject(body)
	if err != nil {
		return tokensOf(len(body))
	}
	n := 0
	for _, u := range flatten(root) {
		n += u.weight
	}
	return tokensOf(n)
}

func decodeObject(body []byte) (map[string]any, error) {
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	var root map[string]any
	if err := d.Decode(&root); err != nil {
		return nil, err
	}
	if root == nil {
		return nil, fmt.Errorf("body is not a JSON object")
	}
	return root, nil
}

// canonical encodes v with sorted keys, no HTML escaping and without
// cache_control keys (except inside tool inputs and schemas).
func canonical(v any) []byte {
	var buf bytes.Buffer
	e := json.NewEncoder(&buf)
	e.SetEscapeHTML(false)
	_ = e.Encode(strip(v))
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

func strip(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, x := range t {
			switch k {
			case "cache_control":
			case "input", "input_schema", "parameters":
				out[k] = x
			default:
				out[k] = strip(x)
			}
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, x := range t {
			out[i] = strip(x)
		}
		return out
	}
	return v
}

func str(m map[string]any, k string) string {
	s, _ := m[k].(string)
	return s
}

// blockWeight is the character weight of one content block.
func blockWeight(b map[string]any) int {
	switch str(b, "type") {
	case "text":
		return len(str(b, "text"))
	case "thinking":
		return len(str(b, "thinking"))
	case "redacted_thinking":
		return len(str(b, "data"))
	case "tool_use", "server_tool_use":
		return len(str(b, "name")) + len(canonical(b["input"]))
	case "tool_result":
		return contentWeight(b["content"])
	case "image", "image_url", "input_audio", "file":
		return imageWeight
	case "document":
		src, _ := b["source"].(map[string]any)
		switch str(src, "type") {
		case "text":
			return len(str(src, "data"))
		case "content":
			return contentWeight(src["content"])
		}
		return imageWeight
	}
	return len(canonical(b))
}

func contentWeight(c any) int {
	switch t := c.(type) {
	case string:
		return len(t)
	case []any:
		n := 0
		for _, x := range t {
			if m, ok := x.(map[string]any); ok {
				n += blockWeight(m)
			}
		}
		return n
	}
	return 0
}

func toolWeight(t map[string]any) int {
	if fn, ok := t["function"].(map[string]any); ok { // OpenAI
		return len(str(fn, "name")) + len(str(fn, "description")) + len(canonical(fn["parameters"]))
	}
	if s, ok := t["input_schema"]; ok {
		return len(str(t, "name")) + len(str(t, "description")) + len(canonical(s))
	}
	return len(canonical(t))
}

// cacheTTL reads a cache_control value: 0 if absent, else 5m or 1h.
func cacheTTL(v any) (time.Duration, error) {
	cc, ok := v.(map[string]any)
	if !ok {
		return 0, nil
	}
	switch str(cc, "ttl") {
	case "", "5m":
		return 5 * time.Minute, nil
	case "1h":
		return time.Hour, nil
	}
	return 0, errors.New("Input should be '5m' or '1h'") //nolint:staticcheck // ST1005: the real API's message, capital included
}

// flatten lists the prompt units in prefix order. It never fails: shapes it
// does not understand are skipped (validation is done by parseMessages).
func flatten(root map[string]any) []unit {
	var us []unit
	add := func(u unit, obj map[string]any) {
		if obj != nil {
			u.ttl, _ = cacheTTL(obj["cache_control"])
		}
		us = append(us, u)
	}
	if tools, ok := root["tools"].([]any); ok {
		for _, t := range tools {
			if m, ok := t.(map[string]any); ok {
				add(unit{section: "tools", canon: canonical(m), weight: toolWeight(m)}, m)
			}
		}
	}
	switch sys := root["system"].(type) {
	case string:
		if sys != "" {
			tb := map[string]any{"type": "text", "text": sys}
			add(unit{section: "system", canon: canonical(tb), weight: len(sys)}, nil)
		}
	case []any:
		for _, b := range sys {
			if m, ok := b.(map[string]any); ok {
				add(unit{section: "system", canon: canonical(m), weight: blockWeight(m)}, m)
			}
		}
	}
	msgs, _ := root["messages"].([]any)
	for i, mv := range msgs {
		m, ok := mv.(map[string]any)
		if !ok {
			continue
		}
		role := str(m, "role")
		start := true
		mk := func(b map[string]any, w int) unit {
			u := unit{section: "messages", role: role, msgStart: start, canon: canonical(b), weight: w, msgIndex: i}
			start = false
			return u
		}
		switch c := m["content"].(type) {
		case string:
			tb := map[string]any{"type": "text", "text": c}
			add(mk(tb, len(c)), nil)
		case []any:
			for _, b := range c {
				if bm, ok := b.(map[string]any); ok {
					add(mk(bm, blockWeight(bm)), bm)
				}
			}
		}
		if calls, ok := m["tool_calls"].([]any); ok { // OpenAI
			for _, c := range calls {
				cm, _ := c.(map[string]any)
				fn, _ := cm["function"].(map[string]any)
				add(mk(cm, len(str(fn, "name"))+len(str(fn, "arguments"))), nil)
			}
		}
	}
	if ttl, err := cacheTTL(root["cache_control"]); err == nil && ttl > 0 {
		// Automatic caching: a breakpoint on the last message block.
		for i := len(us) - 1; i >= 0; i-- {
			if us[i].section == "messages" {
				if us[i].ttl == 0 {
					us[i].ttl = ttl
				}
				break
			}
		}
	}
	return us
}
