package fakeupstream

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
)

// parseMessages parses and validates a Messages body (count: count_tokens
// rules, max_tokens not allowed).
func parseMessages(body []byte, count bool) (*msgRequest, *apiError) {
	root, err := decodeObject(body)
	if err != nil {
		return nil, invalidRequest("There was an error parsing the body of your request: %v", err)
	}
	p := &msgRequest{root: root}
	var ok bool
	if p.Model, ok = root["model"].(string); !ok || p.Model == "" {
		return nil, invalidRequest("model: Field required")
	}
	mt, has := root["max_tokens"]
	switch {
	case count && has:
		return nil, invalidRequest("max_tokens: Extra inputs are not permitted")
	case !count && !has:
		return nil, invalidRequest("max_tokens: Field required")
	case !count:
		n, isNum := mt.(json.Number)
		v, err := n.Int64()
		if !isNum || err != nil {
			return nil, invalidRequest("max_tokens: Input should be a valid integer")
		}
		if v < 0 {
			return nil, invalidRequest("max_tokens: Input should be greater than or equal to 0")
		}
		p.MaxTokens = v
	}
	p.Stream, _ = root["stream"].(bool)
	if e := p.parseSystem(); e != nil {
		return nil, e
	}
	if e := p.parseMessageList(); e != nil {
		return nil, e
	}
	if e := validateToolPairing(p.Messages); e != nil {
		return nil, e
	}
	if e := validateCacheControl(root); e != nil {
		return nil, e
	}
	p.units = flatten(root)
	return p, nil
}

func (p *msgRequest) parseSystem() *apiError {
	switch sys := p.root["system"].(type) {
	case nil:
	case string:
		p.System = sys
	case []any:
		var texts []string
		for i, b := range sys {
			m, ok := b.(map[string]any)
			if !ok || str(m, "type") != "text" {
				return invalidRequest("system.%d: Input should be a valid dictionary or object to extract fields from", i)
			}
			texts = append(texts, str(m, "text"))
		}
		p.System = strings.Join(texts, "\n")
	default:
		return invalidRequest("system: Input should be a valid string")
	}
	return nil
}

func (p *msgRequest) parseMessageList() *apiError {
	raw, present := p.root["messages"]
	if !present {
		return invalidRequest("messages: Field required")
	}
	msgs, ok := raw.([]any)
	if !ok {
		return invalidRequest("messages: Input should be a valid list")
	}
	if len(msgs) == 0 {
		return invalidRequest("messages: at least one message is required")
	}
	for i, mv := range msgs {
		m, ok := mv.(map[string]any)
		if !ok {
			return invalidRequest("messages.%d: Input should be a valid dictionary", i)
		}
		msg := message{Role: str(m, "role")}
		// "system" is the mid-conversation system message newer Claude Code
		// versions send (beta mid-conversation-system-2026-04-07).
		if msg.Role != "user" && msg.Role != "assistant" && msg.Role != "system" {
			return invalidRequest("messages.%d.role: Input should be 'user', 'assistant' or 'system'", i)
		}
		var texts []string
		switch c := m["content"].(type) {
		case string:
			if c != "" {
				texts = append(texts, c)
			}
			msg.Blocks = []block{{Type: "text", Text: c}}
		case []any:
			for j, bv := range c {
				bm, ok := bv.(map[string]any)
				if !ok || str(bm, "type") == "" {
					return invalidRequest("messages.%d.content.%d: Input tag '' found using 'type' does not match any of the expected tags", i, j)
				}
				b := block{obj: bm, Type: str(bm, "type")}
				switch b.Type {
				case "text":
					if _, ok := bm["text"].(string); !ok {
						return invalidRequest("messages.%d.content.%d.text: Field required", i, j)
					}
					b.Text = str(bm, "text")
					texts = append(texts, b.Text)
				case "tool_use":
					b.ID, b.Name = str(bm, "id"), str(bm, "name")
				case "tool_result":
					b.ToolUseID = str(bm, "tool_use_id")
				}
				msg.Blocks = append(msg.Blocks, b)
			}
		default:
			return invalidRequest("messages.%d.content: Input should be a valid list", i)
		}
		if len(msg.Blocks) == 0 || (len(msg.Blocks) == 1 && msg.Blocks[0].Type == "text" && msg.Blocks[0].Text == "") {
			if i != len(msgs)-1 || msg.Role != "assistant" {
				return invalidRequest("messages.%d: all messages must have non-empty content except for the optional final assistant message", i)
			}
		}
		msg.Text = strings.Join(texts, "\n")
		p.Messages = append(p.Messages, msg)
	}
	return nil
}

// validateCacheControl enforces the TTL values and the 4-breakpoint limit.
func validateCacheControl(root map[string]any) *apiError {
	n := 0
	check := func(path string, v any) *apiError {
		if v == nil {
			return nil
		}
		if _, err := cacheTTL(v); err != nil {
			return invalidRequest("%s: %v", strings.TrimPrefix(path+".cache_control.ttl", "."), err)
		}
		n++
		return nil
	}
	for _, sec := range []string{"tools", "system"} {
		if xs, ok := root[sec].([]any); ok {
			for i, x := range xs {
				if m, ok := x.(map[string]any); ok {
					if e := check(fmt.Sprintf("%s.%d", sec, i), m["cache_control"]); e != nil {
						return e
					}
				}
			}
		}
	}
	msgs, _ := root["messages"].([]any)
	var last map[string]any
	for i, mv := range msgs {
		m, _ := mv.(map[string]any)
		c, isList := m["content"].([]any)
		if !isList {
			last = nil // string content: a text block without cache_control
		}
		for j, bv := range c {
			if bm, ok := bv.(map[string]any); ok {
				last = bm
				if e := check(fmt.Sprintf("messages.%d.content.%d", i, j), bm["cache_control"]); e != nil {
					return e
				}
			}
		}
	}
	if cc, ok := root["cache_control"]; ok && cc != nil {
		// Automatic caching takes a slot on the last block, unless that block
		// already has the same breakpoint; it is refused when 4 explicit
		// breakpoints exist or the last block's TTL differs.
		ttl, err := cacheTTL(cc)
		if err != nil {
			return invalidRequest("cache_control.ttl: %v", err)
		}
		if n >= 4 {
			return invalidRequest("A maximum of 4 blocks with cache_control may be provided. Found %d.", n+1)
		}
		if last != nil && last["cache_control"] != nil {
			if lt, _ := cacheTTL(last["cache_control"]); lt != ttl {
				return invalidRequest("cache_control: the ttl of the automatic cache breakpoint differs from the explicit cache_control on the last block")
			}
		} else {
			n++
		}
	}
	if n > 4 {
		return invalidRequest("A maximum of 4 blocks with cache_control may be provided. Found %d.", n)
	}
	return nil
}

// validateToolPairing applies the real API's tool rules on turns (runs of
// same-role messages, which the API merges): every tool_use of an assistant
// turn needs a tool_result in the next user turn (unless the assistant turn
// is last), and every tool_result must answer a tool_use of the previous
// assistant turn.
func validateToolPairing(msgs []message) *apiError {
	type turn struct{ start, end int } // message index range [start, end)
	var turns []turn
	for i := range msgs {
		if i == 0 || msgs[i].Role != msgs[i-1].Role {
			turns = append(turns, turn{i, i + 1})
		} else {
			turns[len(turns)-1].end = i + 1
		}
	}
	for t, tr := range turns {
		if msgs[tr.start].Role == "user" {
			uses := map[string]bool{}
			if t > 0 {
				prev := turns[t-1]
				for i := prev.start; i < prev.end; i++ {
					for _, b := range msgs[i].Blocks {
						if b.Type == "tool_use" {
							uses[b.ID] = true
						}
					}
				}
			}
			for i := tr.start; i < tr.end; i++ {
				for j, b := range msgs[i].Blocks {
					if b.Type == "tool_result" && !uses[b.ToolUseID] {
						return invalidRequest("messages.%d.content.%d: unexpected `tool_use_id` found in `tool_result` blocks: %s. Each `tool_result` block must have a corresponding `tool_use` block in the previous message.", i, j, b.ToolUseID)
					}
				}
			}
			continue
		}
		if t == len(turns)-1 {
			continue // final assistant turn (prefill)
		}
		answered := map[string]bool{}
		next := turns[t+1]
		for i := next.start; i < next.end; i++ {
			for _, b := range msgs[i].Blocks {
				if b.Type == "tool_result" {
					answered[b.ToolUseID] = true
				}
			}
		}
		for i := tr.start; i < tr.end; i++ {
			var missing []string
			for _, b := range msgs[i].Blocks {
				if b.Type == "tool_use" && !answered[b.ID] {
					missing = append(missing, b.ID)
				}
			}
			if len(missing) > 0 {
				return invalidRequest("messages.%d: `tool_use` ids were found without `tool_result` blocks immediately after: %s. Each `tool_use` block must have a corresponding `tool_result` block in the next message.", i, strings.Join(missing, ", "))
			}
		}
	}
	return nil
}

var customIDPattern = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)

// parseBatchCreate validates a batch create body synchronously (params are
// validated later, per row).
func parseBatchCreate(body []byte) ([]batchItem, *apiError) {
	var req struct {
		Requests *[]struct {
			CustomID json.RawMessage `json:"custom_id"`
			Params   json.RawMessage `json:"params"`
		} `json:"requests"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, invalidRequest("There was an error parsing the body of your request: %v", err)
	}
	if req.Requests == nil {
		return nil, invalidRequest("requests: Field required")
	}
	rs := *req.Requests
	switch {
	case len(rs) == 0:
		return nil, invalidRequest("requests: List should have at least 1 item after validation, not 0")
	case len(rs) > 100000:
		return nil, invalidRequest("requests: List should have at most 100000 items after validation, not %d", len(rs))
	}
	items := make([]batchItem, len(rs))
	seen := make(map[string]bool, len(rs))
	for i, x := range rs {
		var id string
		if len(x.CustomID) == 0 {
			return nil, invalidRequest("requests.%d.custom_id: Field required", i)
		}
		if json.Unmarshal(x.CustomID, &id) != nil {
			return nil, invalidRequest("requests.%d.custom_id: Input should be a valid string", i)
		}
		if len(id) > 64 {
			return nil, invalidRequest("requests.%d.custom_id: String should have at most 64 characters", i)
		}
		if !customIDPattern.MatchString(id) {
			return nil, invalidRequest("requests.%d.custom_id: String should match pattern '^[a-zA-Z0-9_-]{1,64}$'", i)
		}
		if p := strings.TrimSpace(string(x.Params)); p == "" || p[0] != '{' {
			return nil, invalidRequest("requests.%d.params: Field required", i)
		}
		items[i] = batchItem{CustomID: id, Params: x.Params}
	}
	for _, it := range items {
		if seen[it.CustomID] {
			return nil, invalidRequest("requests: custom_id's must be unique within a batch. Duplicate custom_id found: %s", it.CustomID)
		}
		seen[it.CustomID] = true
	}
	return items, nil
}
