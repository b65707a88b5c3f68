package fakeupstream

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"
)

type chatRequest struct {
	Model        string
	Stream       bool
	IncludeUsage bool
	MaxTokens    int64 // -1: unlimited
	convo        convo
}

type oaiErr struct{ msg, param, code string }

func textOf(content any) string {
	switch c := content.(type) {
	case string:
		return c
	case []any:
		var parts []string
		for _, p := range c {
			if m, ok := p.(map[string]any); ok && str(m, "type") == "text" {
				parts = append(parts, str(m, "text"))
			}
		}
		return strings.Join(parts, "\n")
	}
	return ""
}

// parseChat parses and validates a Chat Completions body.
func parseChat(body []byte) (*chatRequest, *oaiErr) {
	root, err := decodeObject(body)
	if err != nil {
		return nil, &oaiErr{msg: "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly.)"}
	}
	c := &chatRequest{MaxTokens: -1}
	if c.Model, _ = root["model"].(string); c.Model == "" {
		return nil, &oaiErr{msg: "you must provide a model parameter"}
	}
	c.Stream, _ = root["stream"].(bool)
	if so, ok := root["stream_options"].(map[string]any); ok {
		c.IncludeUsage, _ = so["include_usage"].(bool)
	}
	for _, k := range []string{"max_completion_tokens", "max_tokens"} {
		if n, ok := root[k].(json.Number); ok {
			if v, err := n.Int64(); err == nil {
				c.MaxTokens = v
				break
			}
		}
	}
	raw, ok := root["messages"]
	if !ok {
		return nil, &oaiErr{"Missing required parameter: 'messages'.", "messages", "missing_required_parameter"}
	}
	msgs, _ := raw.([]any)
	if len(msgs) == 0 {
		return nil, &oaiErr{"Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.", "messages", "empty_array"}
	}
	var system []string
	pending := map[string]bool{} // tool_call ids of the last assistant message not yet answered
	var calls map[string]bool    // all tool_call ids of the last assistant message
	for i, mv := range msgs {
		m, _ := mv.(map[string]any)
		role := str(m, "role")
		if role != "tool" && len(pending) > 0 {
			return nil, &oaiErr{"An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. The following tool_call_ids did not have response messages: " + strings.Join(keys(pending), ", "), fmt.Sprintf("messages.[%d].role", i), ""}
		}
		switch role {
		case "system", "developer":
			system = append(system, textOf(m["content"]))
		case "user":
			c.convo.UserTexts = append(c.convo.UserTexts, textOf(m["content"]))
		case "assistant":
			calls = map[string]bool{}
			tcs, _ := m["tool_calls"].([]any)
			for _, tc := range tcs {
				tcm, _ := tc.(map[string]any)
				if id := str(tcm, "id"); id != "" {
					calls[id], pending[id] = true, true
				}
			}
		case "tool":
			id := str(m, "tool_call_id")
			if !calls[id] {
				//nolint:misspell // the real API's message, typo included
				return nil, &oaiErr{"Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls'.", fmt.Sprintf("messages.[%d].role", i), ""}
			}
			delete(pending, id)
			if prev, _ := msgs[max(i-1, 0)].(map[string]any); i == 0 || str(prev, "role") != "tool" {
				// A run of tool messages is one user turn (tool_results) in Anthropic terms.
				c.convo.UserTexts = append(c.convo.UserTexts, "")
			}
		default:
			return nil, &oaiErr{fmt.Sprintf("Invalid value: '%s'. Supported values are: 'system', 'assistant', 'user', 'function', 'tool', and 'developer'.", role), fmt.Sprintf("messages[%d].role", i), "invalid_value"}
		}
	}
	if len(pending) > 0 {
		return nil, &oaiErr{"An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. The following tool_call_ids did not have response messages: " + strings.Join(keys(pending), ", "), "messages", ""}
	}
	c.convo.System = strings.Join(system, "\n")
	h := sha256.Sum256(canonical(root["messages"]))
	c.convo.Seed = hex.EncodeToString(h[:])
	return c, nil
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

type chatUsage struct {
	PromptTokens      int            `json:"prompt_tokens"`
	CompletionTokens  int            `json:"completion_tokens"`
	TotalTokens       int            `json:"total_tokens"`
	PromptDetails     map[string]int `json:"prompt_tokens_details"`
	CompletionDetails map[string]int `json:"completion_tokens_details"`
}

func newChatUsage(prompt, completion int) chatUsage {
	return chatUsage{prompt, completion, prompt + completion,
		map[string]int{"cached_tokens": 0, "audio_tokens": 0},
		map[string]int{"reasoning_tokens": 0, "audio_tokens": 0, "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}}
}

func finishReason(stop string) string {
	switch stop {
	case "tool_use":
		return "tool_calls"
	case "max_tokens":
		return "length"
	}
	return "stop"
}

func (s *Server) handleChatCompletions(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.authOpenAI(w, r); !ok {
		return
	}
	body, _ := io.ReadAll(r.Body)
	c, e := parseChat(body)
	if e != nil {
		s.writeOpenAIError(w, http.StatusBadRequest, "invalid_request_error", e.msg, e.param, e.code)
		return
	}
	prompt := EstimateTokens(body)
	if prompt > s.opts.ContextLimit {
		s.writeOpenAIError(w, http.StatusBadRequest, "invalid_request_error",
			fmt.Sprintf("This model's maximum context length is %d tokens. However, your messages resulted in %d tokens. Please reduce the length of the messages.", s.opts.ContextLimit, prompt),
			"messages", "context_length_exceeded")
		return
	}
	if !c.Stream {
		w.Header().Set("x-request-id", fmt.Sprintf("req_fake%016d", s.nextID()))
		writeJSON(w, http.StatusOK, s.completionObject(c, prompt))
		return
	}
	rep, text, toolCalls := chatReply(c)
	id := fmt.Sprintf("chatcmpl-fake%016d", s.nextID())
	created := s.now().Unix()
	finish := finishReason(rep.StopReason)
	usage := newChatUsage(prompt, rep.outputTokens())
	w.Header().Set("x-request-id", fmt.Sprintf("req_fake%016d", s.nextID()))

	w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	f, _ := w.(http.Flusher)
	n := 0
	send := func(v any) bool {
		if n > 0 && s.opts.EventDelay > 0 {
			t := time.NewTimer(s.opts.EventDelay)
			select {
			case <-r.Context().Done():
				t.Stop()
				return false
			case <-t.C:
			}
		}
		n++
		var b []byte
		if raw, ok := v.(string); ok {
			b = []byte(raw)
		} else {
			b, _ = marshal(v)
		}
		if _, err := fmt.Fprintf(w, "data: %s\n\n", b); err != nil {
			return false
		}
		if f != nil {
			f.Flush()
		}
		return r.Context().Err() == nil
	}
	chunk := func(delta any, finish any) ordered {
		ch := obj("id", id, "object", "chat.completion.chunk", "created", created, "model", c.Model,
			"service_tier", "default", "system_fingerprint", "fp_fake",
			"choices", []any{obj("index", 0, "delta", delta, "logprobs", nil, "finish_reason", finish)})
		if c.IncludeUsage {
			ch = append(ch, "usage", nil)
		}
		return ch
	}
	if !send(chunk(obj("role", "assistant", "content", "", "refusal", nil), nil)) {
		return
	}
	if rep.StreamError {
		send(obj("error", obj("message", "The server is overloaded or not ready yet.", "type", "server_error", "param", nil, "code", nil)))
		return
	}
	for _, p := range pieces(strings.Join(text, "")) {
		if p != "" && !send(chunk(obj("content", p), nil)) {
			return
		}
	}
	for k, tc := range toolCalls {
		first := obj("index", k, "id", tc.id, "type", "function", "function", obj("name", tc.name, "arguments", ""))
		if !send(chunk(obj("tool_calls", []any{first}), nil)) {
			return
		}
		args := tc.args
		for _, part := range []string{args[:len(args)/2], args[len(args)/2:]} {
			d := obj("index", k, "function", obj("arguments", part))
			if !send(chunk(obj("tool_calls", []any{d}), nil)) {
				return
			}
		}
	}
	if !send(chunk(obj(), finish)) {
		return
	}
	if c.IncludeUsage {
		if !send(obj("id", id, "object", "chat.completion.chunk", "created", created, "model", c.Model,
			"service_tier", "default", "system_fingerprint", "fp_fake", "choices", []any{}, "usage", usage)) {
			return
		}
	}
	send("[DONE]")
}

// isOpenAIClient tells an OpenAI SDK's request on a path both APIs share
// (GET /v1/models) from an Anthropic one: Anthropic SDKs always send
// anthropic-version, and Anthropic credentials come as x-api-key or a
// "sk-ant-" bearer token.
func isOpenAIClient(r *http.Request) bool {
	if r.Header.Get("anthropic-version") != "" || r.Header.Get("x-api-key") != "" {
		return false
	}
	tok, _ := bearer(r)
	return !strings.HasPrefix(tok, "sk-ant-")
}

// handleOpenAIModels answers GET /v1/models in OpenAI's list shape.
func (s *Server) handleOpenAIModels(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.authOpenAI(w, r); !ok {
		return
	}
	data := []any{}
	for _, id := range []string{"gpt-5", "gpt-5-mini"} {
		data = append(data, obj("id", id, "object", "model", "created", 1754000000, "owned_by", "openai"))
	}
	writeJSON(w, http.StatusOK, obj("object", "list", "data", data))
}

// completionObject is the non-streamed chat.completion answering c (whose
// body estimated to prompt input tokens): the scripted reply, tool calls
// included. Also the body of a succeeded OpenAI batch row.
func (s *Server) completionObject(c *chatRequest, prompt int) ordered {
	rep, text, calls := chatReply(c)
	var tcs []ordered
	for _, tc := range calls {
		tcs = append(tcs, obj("id", tc.id, "type", "function", "function", obj("name", tc.name, "arguments", tc.args)))
	}
	msg := obj("role", "assistant", "content", strings.Join(text, ""), "refusal", nil, "annotations", []any{})
	if len(tcs) > 0 {
		msg = append(msg, "tool_calls", tcs)
	}
	return obj("id", fmt.Sprintf("chatcmpl-fake%016d", s.nextID()), "object", "chat.completion", "created", s.now().Unix(), "model", c.Model,
		"choices", []any{obj("index", 0, "message", msg, "logprobs", nil, "finish_reason", finishReason(rep.StopReason))},
		"usage", newChatUsage(prompt, rep.outputTokens()), "service_tier", "default", "system_fingerprint", "fp_fake")
}

type toolCall struct{ id, name, args string }

// chatReply is the scripted reply to c, split into its text parts and tool
// calls (with their OpenAI call ids).
func chatReply(c *chatRequest) (reply, []string, []toolCall) {
	rep := script(c.convo).limit(c.MaxTokens)
	var text []string
	var calls []toolCall
	for _, b := range rep.Blocks {
		switch b.Type {
		case "text":
			text = append(text, b.Text)
		case "tool_use":
			calls = append(calls, toolCall{callID(c.convo.Seed, len(calls)), b.Name, b.Input})
		}
	}
	return rep, text, calls
}
