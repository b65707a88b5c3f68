package translate

import (
	"bytes"
	"encoding/json"
	"strings"

	"github.com/caddy-lore/caddy-lore/pricing"
)

// This file translates answers between the two formats (docs/architecture.md,
// Routes: POST /v1/chat/completions):
//
//   - AnthropicToOpenAI: a Messages response for an OpenAI client.
//   - ParseOpenAIResponse: an OpenAI upstream's chat.completion into the
//     stored Response (Anthropic-style blocks), the inverse mapping.
//
// Usage and prompt caching. Anthropic's input_tokens counts only the tokens
// after the last cache breakpoint; the full prompt is input_tokens +
// cache_read_input_tokens + cache_creation_input_tokens. OpenAI's
// prompt_tokens is the full prompt with the cached part reported again in
// prompt_tokens_details.cached_tokens. So:
//
//	prompt_tokens     = input_tokens + cache_read_input_tokens + cache_creation_input_tokens
//	completion_tokens = output_tokens
//	total_tokens      = prompt_tokens + completion_tokens
//	prompt_tokens_details.cached_tokens      = cache_read_input_tokens
//	prompt_tokens_details.cache_write_tokens = cache_creation_input_tokens (newer OpenAI field)
//
// (litellm adds only the cache reads; OpenRouter adds both, as here, so that
// prompt_tokens is the real prompt size.) The inverse, for OpenAI upstreams:
// input_tokens = prompt_tokens − cached_tokens − cache_write_tokens,
// cache_read = cached_tokens, cache_creation = cache_write_tokens.

// OpenAIFinishReason maps an Anthropic stop_reason to an OpenAI finish_reason:
// end_turn, stop_sequence, pause_turn → stop; max_tokens and
// model_context_window_exceeded → length (the reference's table; the output
// was cut by a limit); tool_use → tool_calls; refusal → content_filter;
// anything else → stop.
func OpenAIFinishReason(stopReason string) string {
	switch stopReason {
	case "max_tokens", "model_context_window_exceeded":
		return "length"
	case "tool_use":
		return "tool_calls"
	case "refusal":
		return "content_filter"
	}
	return "stop"
}

// AnthropicStopReason is the inverse of OpenAIFinishReason, for storing
// OpenAI upstream answers: stop → end_turn, length → max_tokens, tool_calls and
// function_call → tool_use, content_filter → refusal; empty stays empty.
func AnthropicStopReason(finishReason string) string {
	switch finishReason {
	case "":
		return ""
	case "length":
		return "max_tokens"
	case "tool_calls", "function_call":
		return "tool_use"
	case "content_filter":
		return "refusal"
	}
	return "end_turn"
}

// ChatCompletionID returns the OpenAI id for an Anthropic message id:
// "chatcmpl-" + id, unless it already has that prefix.
func ChatCompletionID(id string) string {
	if strings.HasPrefix(id, "chatcmpl-") {
		return id
	}
	return "chatcmpl-" + id
}

// OpenAIUsage is OpenAI's usage object.
type OpenAIUsage struct {
	PromptTokens        int64               `json:"prompt_tokens"`
	CompletionTokens    int64               `json:"completion_tokens"`
	TotalTokens         int64               `json:"total_tokens"`
	PromptTokensDetails OpenAIPromptDetails `json:"prompt_tokens_details"`
}

// OpenAIPromptDetails is usage.prompt_tokens_details.
type OpenAIPromptDetails struct {
	CachedTokens     int64 `json:"cached_tokens"`
	CacheWriteTokens int64 `json:"cache_write_tokens"`
}

// ToOpenAIUsage maps Anthropic usage to OpenAI usage (see the file comment).
func ToOpenAIUsage(u pricing.Usage) OpenAIUsage {
	prompt := u.InputTokens + u.CacheReadTokens + u.CacheWriteTokens
	return OpenAIUsage{
		PromptTokens:        prompt,
		CompletionTokens:    u.OutputTokens,
		TotalTokens:         prompt + u.OutputTokens,
		PromptTokensDetails: OpenAIPromptDetails{CachedTokens: u.CacheReadTokens, CacheWriteTokens: u.CacheWriteTokens},
	}
}

// FromOpenAIUsage is the inverse of ToOpenAIUsage.
func FromOpenAIUsage(u OpenAIUsage) pricing.Usage {
	return pricing.Usage{
		InputTokens:      max(u.PromptTokens-u.PromptTokensDetails.CachedTokens-u.PromptTokensDetails.CacheWriteTokens, 0),
		OutputTokens:     u.CompletionTokens,
		CacheReadTokens:  u.PromptTokensDetails.CachedTokens,
		CacheWriteTokens: u.PromptTokensDetails.CacheWriteTokens,
	}
}

type oaiCompletion struct {
	ID      string      `json:"id"`
	Object  string      `json:"object"`
	Created int64       `json:"created"`
	Model   string      `json:"model"`
	Choices []oaiChoice `json:"choices"`
	Usage   OpenAIUsage `json:"usage"`
}

type oaiChoice struct {
	Index        int              `json:"index"`
	Message      oaiRespMessage   `json:"message"`
	Logprobs     *json.RawMessage `json:"logprobs"` // always null
	FinishReason string           `json:"finish_reason"`
}

type oaiRespMessage struct {
	Role             string           `json:"role"`
	Content          *string          `json:"content"`
	Refusal          *string          `json:"refusal"` // always null: refusals arrive as text
	ReasoningContent string           `json:"reasoning_content,omitempty"`
	ToolCalls        []oaiOutToolCall `json:"tool_calls,omitempty"`
}

// AnthropicToOpenAI translates a non-streamed Messages response into a
// chat.completion with one choice. created is the unix time to report.
//
//   - id: ChatCompletionID(id); model: the model that answered.
//   - message.content: the text blocks concatenated; null when there is no
//     text block but there are tool calls, "" when there is neither (clients
//     commonly assume a string).
//   - message.tool_calls: one per tool_use block, in order, {id, type
//     "function", function{name, arguments: compact JSON of input}}.
//   - message.reasoning_content (non-standard, litellm/DeepSeek convention):
//     thinking text, omitted when there is none. Signatures and redacted
//     thinking cannot be carried and are dropped.
//   - message.refusal: null; a refusal's text stays in content with
//     finish_reason content_filter.
//   - finish_reason: OpenAIFinishReason; logprobs: null; usage: ToOpenAIUsage.
func AnthropicToOpenAI(body []byte, created int64) ([]byte, error) {
	var in struct {
		ID         string        `json:"id"`
		Model      string        `json:"model"`
		Content    []anthInBlock `json:"content"`
		StopReason string        `json:"stop_reason"`
		Usage      pricing.Usage `json:"usage"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, err
	}

	msg := oaiRespMessage{Role: "assistant"}
	var text, reasoning strings.Builder
	hasText := false
	for _, b := range in.Content {
		switch b.Type {
		case "text":
			text.WriteString(b.Text)
			hasText = true
		case "thinking":
			reasoning.WriteString(b.Thinking)
		case "tool_use":
			msg.ToolCalls = append(msg.ToolCalls, oaiOutToolCall{ID: b.ID, Type: "function",
				Function: oaiFunction{Name: b.Name, Arguments: compactArguments(b.Input)}})
		}
	}
	msg.ReasoningContent = reasoning.String()
	if hasText || len(msg.ToolCalls) == 0 {
		s := text.String()
		msg.Content = &s
	}
	out := oaiCompletion{
		ID:      ChatCompletionID(in.ID),
		Object:  "chat.completion",
		Created: created,
		Model:   in.Model,
		Choices: []oaiChoice{{Index: 0, Message: msg, FinishReason: OpenAIFinishReason(in.StopReason)}},
		Usage:   ToOpenAIUsage(in.Usage),
	}
	return marshalJSON(&out)
}

// AnthropicErrorToOpenAI rewrites an Anthropic error body
// ({"type":"error","error":{"type","message"}}) in OpenAI's error shape
// ({"error":{"message","type","param":null,"code"}}), for upstream errors on
// the OpenAI route; the HTTP status stays the upstream's. The Anthropic error
// type is kept as the OpenAI type (invalid_request_error is the same name in
// both); a prompt that is too long gets code "context_length_exceeded", the
// code OpenAI clients look for. A body that is not an Anthropic error becomes
// an api_error whose message is the body text (truncated to 1 KiB).
func AnthropicErrorToOpenAI(body []byte) []byte {
	var in struct {
		Error struct {
			Type    string `json:"type"`
			Message string `json:"message"`
		} `json:"error"`
	}
	errType, message := "api_error", ""
	if json.Unmarshal(body, &in) == nil && (in.Error.Type != "" || in.Error.Message != "") {
		errType, message = in.Error.Type, in.Error.Message
	} else {
		message = string(bytes.TrimSpace(body))
		if len(message) > 1024 {
			message = message[:1024]
		}
	}
	return openAIErrorJSON(errType, message)
}

type oaiError struct {
	Error oaiErrorBody `json:"error"`
}

type oaiErrorBody struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    *string `json:"code"`
}

func openAIErrorJSON(errType, message string) []byte {
	e := oaiError{Error: oaiErrorBody{Message: message, Type: errType}}
	if strings.Contains(message, "prompt is too long") || strings.Contains(message, "context window") {
		code := "context_length_exceeded"
		e.Error.Code = &code
	}
	out, _ := marshalJSON(&e)
	return out
}

// ParseOpenAIResponse reads an OpenAI upstream's chat.completion into the
// stored Response: choice 0's content (and refusal) as a text block, then its
// tool_calls (and legacy function_call) as tool_use blocks whose input is the
// parsed arguments ({} when they are not a JSON object); finish_reason and
// usage mapped back (AnthropicStopReason, FromOpenAIUsage). Non-standard
// reasoning_content is not stored: without a signature it could not be
// replayed as an Anthropic thinking block.
func ParseOpenAIResponse(body []byte) (*Response, error) {
	var in struct {
		ID      string `json:"id"`
		Model   string `json:"model"`
		Choices []struct {
			Index   int `json:"index"`
			Message struct {
				Content      *string       `json:"content"`
				Refusal      *string       `json:"refusal"`
				ToolCalls    []oaiToolCall `json:"tool_calls"`
				FunctionCall *oaiFunction  `json:"function_call"`
			} `json:"message"`
			FinishReason string `json:"finish_reason"`
		} `json:"choices"`
		Usage OpenAIUsage `json:"usage"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, err
	}
	r := &Response{ID: in.ID, Model: in.Model, Usage: FromOpenAIUsage(in.Usage)}
	var acc openAIContent
	for _, c := range in.Choices {
		if c.Index != 0 {
			continue
		}
		r.StopReason = AnthropicStopReason(c.FinishReason)
		if c.Message.Content != nil {
			acc.text.WriteString(*c.Message.Content)
		}
		if c.Message.Refusal != nil {
			acc.text.WriteString(*c.Message.Refusal)
		}
		for _, tc := range c.Message.ToolCalls {
			acc.calls = append(acc.calls, &openAICall{id: tc.ID, name: tc.Function.Name})
			acc.calls[len(acc.calls)-1].args.WriteString(tc.Function.Arguments)
		}
		if fc := c.Message.FunctionCall; fc != nil && fc.Name != "" {
			call := &openAICall{id: "call_fn_0", name: fc.Name}
			call.args.WriteString(fc.Arguments)
			acc.calls = append(acc.calls, call)
		}
		break
	}
	content, err := acc.blocks()
	if err != nil {
		return nil, err
	}
	r.Content = content
	return r, nil
}

// openAIContent collects an OpenAI answer's text and tool calls.
type openAIContent struct {
	text  strings.Builder
	calls []*openAICall // by tool call index; nil where an index never came
}

type openAICall struct {
	id, name string
	args     strings.Builder
}

// blocks renders the content as Anthropic blocks: text first, then tool_use.
func (c *openAIContent) blocks() (json.RawMessage, error) {
	blocks := make([]anthBlock, 0, 1+len(c.calls))
	if c.text.Len() > 0 {
		blocks = append(blocks, anthBlock{Type: "text", Text: c.text.String()})
	}
	for _, call := range c.calls {
		if call == nil {
			continue
		}
		input := json.RawMessage(strings.TrimSpace(call.args.String()))
		if len(input) == 0 || input[0] != '{' || !json.Valid(input) {
			input = json.RawMessage("{}")
		}
		blocks = append(blocks, anthBlock{Type: "tool_use", ID: call.id, Name: call.name, Input: input})
	}
	return appendAnthBlocks(nil, blocks), nil
}
