package translate

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
)

// This file translates OpenAI chat-completions requests into the gateway's
// internal form, an Anthropic Messages request body (reference §8, "Common
// mapping, OpenAI request → Anthropic"), and back into an OpenAI request for
// OpenAI-protocol upstreams once the pipeline has rewritten the messages.
//
// Mapping decisions, field by field (OpenAI → Anthropic):
//
//   - model, stream: copied. stream_options.include_usage is not sent upstream
//     (Anthropic always reports usage); it only decides whether the translated
//     stream carries a usage chunk (IncludeUsage).
//   - system / developer messages, wherever they appear, are hoisted into the
//     top-level system string: each message's string content, or each of its
//     text parts, is one segment; segments are joined with "\n\n" (the prior
//     art's separator) and empty ones skipped. No system → no system field.
//   - String content (user, tool, and what the pipeline hands back) is copied
//     as the client's JSON string literal, byte for byte, never decoded and
//     re-encoded: it is most of a request's volume, and the same history
//     then yields the same bytes on every turn.
//   - user messages: string content stays a string; array content becomes
//     blocks: text → text (empty text parts dropped: Anthropic rejects empty
//     text blocks), image_url → image (data: URL → base64 source, http(s) URL
//     → url source; detail dropped), file with a PDF data: URL → document
//     (base64). input_audio, file_id references and unknown part types are a
//     400 (RequestError): silently dropping what the user sent is the prior
//     art's bug. name is dropped (no Anthropic equivalent).
//   - assistant messages: text (string, text parts and refusal parts/field)
//     first as text blocks, then one tool_use per tool_calls entry with
//     input = the parsed arguments (a JSON string holding an object; empty
//     means {}; a bare JSON object is accepted too; anything else is a 400
//     naming the field). A string-only assistant message stays a
//     string. An assistant message with no text and no tool call is dropped:
//     Anthropic rejects empty non-final turns and it carries nothing.
//   - tool messages become tool_result blocks {tool_use_id, content} in a user
//     message; consecutive tool messages share ONE user message, in order, ids
//     kept. String content stays a string, text parts become text blocks.
//   - tool call ids are kept, except that characters Anthropic's id pattern
//     (^[a-zA-Z0-9_-]+$) rejects are replaced by "_", identically in tool_use
//     and tool_result, so histories from other providers still pair.
//   - legacy functions / function_call / role "function" map to tools /
//     tool_choice / tool_use + tool_result with the id "call_fn_<message index>".
//   - tools[].function{name, description, parameters} → tools[]{name,
//     description, input_schema}; absent parameters → {"type":"object",
//     "properties":{}}, parameters without a top-level type get
//     "type":"object" (Anthropic requires it). strict is dropped.
//   - tool_choice: "auto" → {type:auto}, "none" → {type:none}, "required" →
//     {type:any}, {type:function,function:{name}} → {type:tool,name};
//     parallel_tool_calls:false → disable_parallel_tool_use:true (on an
//     implicit auto when tool_choice is absent; never on none). With no tools,
//     tool_choice is dropped.
//   - max_completion_tokens, else max_tokens, else 4096 → max_tokens.
//   - stop (string or array) → stop_sequences, empty strings dropped.
//   - temperature clamped to Anthropic's 0..1 (as Anthropic's own compat layer
//     does); top_p copied.
//   - metadata.user_id: metadata["user_id"] if a string, else user, else
//     safety_identifier. Other metadata keys are dropped (Anthropic accepts
//     only user_id).
//   - n: dropped from the Anthropic body; ValidateForAnthropic reports n > 1.
//   - Dropped (no Anthropic equivalent, or model-specific): seed,
//     frequency_penalty, presence_penalty, logit_bias, logprobs, top_logprobs,
//     response_format, reasoning_effort, verbosity, store, service_tier,
//     modalities, audio, prediction, web_search_options, prompt_cache_key,
//     prompt_cache_retention, parallel_tool_calls (beyond the rule above),
//     and cache_control on content parts (the pipeline places breakpoints).

// DefaultOpenAIMaxTokens is max_tokens when the client sets neither
// max_tokens nor max_completion_tokens (Anthropic requires it).
const DefaultOpenAIMaxTokens = 4096

// RequestError is an OpenAI request the gateway rejects itself with 400.
// Message is written for people; Param names the offending field in OpenAI's
// error "param" style, e.g. "messages[2].tool_calls[0].function.arguments".
type RequestError struct {
	Param   string
	Message string
}

func (e *RequestError) Error() string { return e.Message }

func reqErr(param, format string, args ...any) *RequestError {
	return &RequestError{Param: param, Message: fmt.Sprintf(format, args...)}
}

// OpenAIRequest is a parsed and validated chat-completions request.
type OpenAIRequest struct {
	Model        string
	Stream       bool
	IncludeUsage bool  // stream_options.include_usage
	N            int64 // n, 1 when absent
	MaxTokens    int64 // resolved max_tokens of the Anthropic request
	Body         []byte

	anth anthRequest
}

// ParseOpenAIRequest reads and validates a chat-completions request and
// translates it into the internal (Anthropic) form. A body that is not a JSON
// object gives ErrInvalidJSON; anything the translation cannot carry gives a
// *RequestError, which the route answers with 400.
func ParseOpenAIRequest(body []byte) (*OpenAIRequest, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, ErrInvalidJSON
	}
	var in oaiRequest
	// Unmarshal validates the whole body before decoding anything.
	if err := json.Unmarshal(trimmed, &in); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return nil, reqErr(te.Field, "Invalid type for '%s': expected %s.", te.Field, kindName(te.Type))
		}
		return nil, ErrInvalidJSON
	}
	if in.Messages == nil {
		return nil, reqErr("messages", "Missing required parameter: 'messages'.")
	}
	r := &OpenAIRequest{
		Model:        in.Model,
		Stream:       in.Stream != nil && *in.Stream,
		IncludeUsage: in.StreamOptions != nil && in.StreamOptions.IncludeUsage,
		N:            1,
		Body:         body,
	}
	if in.N != nil {
		r.N = *in.N
	}
	a := &r.anth
	a.Model = in.Model
	a.Stream = r.Stream
	switch {
	case in.MaxCompletionTokens != nil:
		a.MaxTokens = *in.MaxCompletionTokens
	case in.MaxTokens != nil:
		a.MaxTokens = *in.MaxTokens
	default:
		a.MaxTokens = DefaultOpenAIMaxTokens
	}
	r.MaxTokens = a.MaxTokens
	if in.Temperature != nil {
		t := min(*in.Temperature, 1)
		a.Temperature = &t
	}
	a.TopP = in.TopP

	stops, err := parseStop(in.Stop)
	if err != nil {
		return nil, err
	}
	a.StopSequences = stops

	userID := in.User
	if userID == "" {
		userID = in.SafetyIdentifier
	}
	if raw, ok := in.Metadata["user_id"]; ok {
		var s string
		if json.Unmarshal(raw, &s) == nil && s != "" {
			userID = s
		}
	}
	if userID != "" {
		a.Metadata = &anthMetadata{UserID: userID}
	}

	if err := r.convertTools(&in); err != nil {
		return nil, err
	}
	if err := r.convertMessages(in.Messages); err != nil {
		return nil, err
	}
	return r, nil
}

// ValidateForAnthropic reports what a Claude model cannot do although the
// OpenAI request is well-formed: n > 1 (Anthropic returns one choice). An
// OpenAI upstream serves such requests as they are.
func (r *OpenAIRequest) ValidateForAnthropic() error {
	if r.N > 1 {
		return reqErr("n", "n must be 1 for Claude models (got %d): only one choice can be generated.", r.N)
	}
	return nil
}

// ToAnthropic returns the Messages request body: the internal form the
// pipeline reads and the Anthropic upstream receives. The output is
// deterministic, so the same OpenAI history yields byte-identical Anthropic
// messages on every turn (message ids and prompt caching depend on it).
func (r *OpenAIRequest) ToAnthropic() ([]byte, error) {
	return r.anth.appendJSON(make([]byte, 0, len(r.Body)+512)), nil
}

// --- OpenAI wire types (request) ---

type oaiRequest struct {
	Model               string                     `json:"model"`
	Messages            []oaiMessage               `json:"messages"`
	Stream              *bool                      `json:"stream"`
	StreamOptions       *oaiStreamOptions          `json:"stream_options"`
	MaxTokens           *int64                     `json:"max_tokens"`
	MaxCompletionTokens *int64                     `json:"max_completion_tokens"`
	Stop                json.RawMessage            `json:"stop"`
	Temperature         *float64                   `json:"temperature"`
	TopP                *float64                   `json:"top_p"`
	N                   *int64                     `json:"n"`
	User                string                     `json:"user"`
	SafetyIdentifier    string                     `json:"safety_identifier"`
	Metadata            map[string]json.RawMessage `json:"metadata"`
	Tools               []oaiTool                  `json:"tools"`
	ToolChoice          json.RawMessage            `json:"tool_choice"`
	ParallelToolCalls   *bool                      `json:"parallel_tool_calls"`
	Functions           []oaiFunctionDef           `json:"functions"`
	FunctionCall        json.RawMessage            `json:"function_call"`
}

type oaiStreamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

type oaiMessage struct {
	Role         string          `json:"role"`
	Content      json.RawMessage `json:"content"`
	ToolCalls    []oaiToolCallIn `json:"tool_calls"`
	ToolCallID   string          `json:"tool_call_id"`
	Refusal      *string         `json:"refusal"`
	FunctionCall *oaiFunctionIn  `json:"function_call"`
}

// oaiToolCallIn is a tool call in a request's history. arguments is a JSON
// string per the API; an object is accepted too, as some clients send it.
type oaiToolCallIn struct {
	ID       string        `json:"id"`
	Type     string        `json:"type"`
	Function oaiFunctionIn `json:"function"`
}

type oaiFunctionIn struct {
	Name      string          `json:"name"`
	Arguments json.RawMessage `json:"arguments"`
}

type oaiToolCall struct {
	ID       string      `json:"id"`
	Type     string      `json:"type"`
	Function oaiFunction `json:"function"`
}

type oaiFunction struct {
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
}

type oaiTool struct {
	Type     string         `json:"type"`
	Function oaiFunctionDef `json:"function"`
}

type oaiFunctionDef struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Parameters  json.RawMessage `json:"parameters"`
}

type oaiPart struct {
	Type     string          `json:"type"`
	Text     string          `json:"text"`
	Refusal  string          `json:"refusal"`
	ImageURL json.RawMessage `json:"image_url"` // {url, detail} or, leniently, a bare string
	File     *struct {
		FileData string `json:"file_data"`
		FileID   string `json:"file_id"`
		Filename string `json:"filename"`
	} `json:"file"`
}

// --- Anthropic wire types (request) ---

type anthRequest struct {
	Model         string          `json:"model"`
	MaxTokens     int64           `json:"max_tokens"`
	System        string          `json:"system,omitempty"`
	Messages      []anthMessage   `json:"messages"`
	Tools         []anthTool      `json:"tools,omitempty"`
	ToolChoice    *anthToolChoice `json:"tool_choice,omitempty"`
	StopSequences []string        `json:"stop_sequences,omitempty"`
	Temperature   *float64        `json:"temperature,omitempty"`
	TopP          *float64        `json:"top_p,omitempty"`
	Metadata      *anthMetadata   `json:"metadata,omitempty"`
	Stream        bool            `json:"stream,omitempty"`
}

type anthMessage struct {
	Role    string `json:"role"`
	Content any    `json:"content"` // string, a JSON string literal (json.RawMessage), or []anthBlock
}

// anthBlock is a content block; the field order gives the conventional key
// order ("type" first).
type anthBlock struct {
	Type      string          `json:"type"`
	ID        string          `json:"id,omitempty"`
	Name      string          `json:"name,omitempty"`
	Input     json.RawMessage `json:"input,omitempty"`
	ToolUseID string          `json:"tool_use_id,omitempty"`
	Content   any             `json:"content,omitempty"` // tool_result: json.RawMessage string literal or []anthBlock
	Text      string          `json:"text,omitempty"`
	Source    *anthSource     `json:"source,omitempty"`
}

type anthSource struct {
	Type      string `json:"type"`
	MediaType string `json:"media_type,omitempty"`
	Data      string `json:"data,omitempty"`
	URL       string `json:"url,omitempty"`
}

type anthTool struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	InputSchema json.RawMessage `json:"input_schema"`
}

type anthToolChoice struct {
	Type                   string `json:"type"`
	Name                   string `json:"name,omitempty"`
	DisableParallelToolUse bool   `json:"disable_parallel_tool_use,omitempty"`
}

type anthMetadata struct {
	UserID string `json:"user_id"`
}

// --- conversion ---

func parseStop(raw json.RawMessage) ([]string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, nil
	}
	var list []string
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, reqErr("stop", "Invalid type for 'stop': expected a string or an array of strings.")
		}
		list = []string{s}
	} else if err := json.Unmarshal(raw, &list); err != nil {
		return nil, reqErr("stop", "Invalid type for 'stop': expected a string or an array of strings.")
	}
	out := list[:0]
	for _, s := range list {
		if s != "" {
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

func (r *OpenAIRequest) convertTools(in *oaiRequest) error {
	a := &r.anth
	for i, t := range in.Tools {
		if t.Type != "" && t.Type != "function" {
			return reqErr(fmt.Sprintf("tools[%d].type", i), "Unsupported tool type '%s': only function tools can be translated.", t.Type)
		}
		tool, err := convertFunctionDef(t.Function, fmt.Sprintf("tools[%d].function", i))
		if err != nil {
			return err
		}
		a.Tools = append(a.Tools, tool)
	}
	for i, f := range in.Functions { // legacy
		tool, err := convertFunctionDef(f, fmt.Sprintf("functions[%d]", i))
		if err != nil {
			return err
		}
		a.Tools = append(a.Tools, tool)
	}

	choiceRaw, param := in.ToolChoice, "tool_choice"
	if isNull(choiceRaw) {
		choiceRaw, param = in.FunctionCall, "function_call"
	}
	var choice *anthToolChoice
	if !isNull(choiceRaw) {
		c, err := convertToolChoice(choiceRaw, param)
		if err != nil {
			return err
		}
		choice = c
	}
	if in.ParallelToolCalls != nil && !*in.ParallelToolCalls {
		if choice == nil {
			choice = &anthToolChoice{Type: "auto"}
		}
		if choice.Type != "none" {
			choice.DisableParallelToolUse = true
		}
	}
	if len(a.Tools) > 0 {
		a.ToolChoice = choice
	}
	return nil
}

func convertFunctionDef(f oaiFunctionDef, param string) (anthTool, error) {
	if f.Name == "" {
		return anthTool{}, reqErr(param+".name", "Missing required parameter: '%s.name'.", param)
	}
	schema := bytes.TrimSpace(f.Parameters)
	switch {
	case isNull(schema):
		schema = json.RawMessage(`{"type":"object","properties":{}}`)
	case schema[0] != '{':
		return anthTool{}, reqErr(param+".parameters", "Invalid type for '%s.parameters': expected a JSON schema object.", param)
	default:
		var top map[string]json.RawMessage
		if err := json.Unmarshal(schema, &top); err != nil {
			return anthTool{}, reqErr(param+".parameters", "Invalid '%s.parameters': expected a JSON schema object.", param)
		}
		if _, ok := top["type"]; !ok {
			inner := bytes.TrimSpace(schema[1:])
			if len(top) == 0 {
				schema = json.RawMessage(`{"type":"object","properties":{}}`)
			} else {
				schema = append([]byte(`{"type":"object",`), inner...)
			}
		}
	}
	return anthTool{Name: f.Name, Description: f.Description, InputSchema: schema}, nil
}

func convertToolChoice(raw json.RawMessage, param string) (*anthToolChoice, error) {
	raw = bytes.TrimSpace(raw)
	if raw[0] == '"' {
		var s string
		_ = json.Unmarshal(raw, &s)
		switch s {
		case "auto":
			return &anthToolChoice{Type: "auto"}, nil
		case "none":
			return &anthToolChoice{Type: "none"}, nil
		case "required":
			return &anthToolChoice{Type: "any"}, nil
		}
		return nil, reqErr(param, "Invalid value for '%s': expected 'auto', 'none', 'required' or a named function.", param)
	}
	var obj struct {
		Type     string `json:"type"`
		Name     string `json:"name"` // legacy function_call: {"name": ...}
		Function struct {
			Name string `json:"name"`
		} `json:"function"`
	}
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, reqErr(param, "Invalid type for '%s': expected a string or an object.", param)
	}
	name := obj.Function.Name
	if name == "" {
		name = obj.Name
	}
	if (obj.Type != "" && obj.Type != "function") || name == "" {
		return nil, reqErr(param, "Unsupported '%s': only 'auto', 'none', 'required' and {\"type\":\"function\",\"function\":{\"name\":...}} can be translated.", param)
	}
	return &anthToolChoice{Type: "tool", Name: name}, nil
}

func (r *OpenAIRequest) convertMessages(msgs []oaiMessage) error {
	a := &r.anth
	a.Messages = make([]anthMessage, 0, len(msgs))
	var system []string
	toolMsg := -1  // index in a.Messages of the user message collecting tool results
	lastFnID := "" // id given to the latest legacy assistant function_call
	for i, m := range msgs {
		param := fmt.Sprintf("messages[%d]", i)
		if m.Role != "tool" && m.Role != "function" {
			toolMsg = -1
		}
		switch m.Role {
		case "system", "developer":
			texts, err := textSegments(m.Content, param)
			if err != nil {
				return err
			}
			for _, t := range texts {
				if t != "" {
					system = append(system, t)
				}
			}
		case "user":
			content, err := userContent(m.Content, param)
			if err != nil {
				return err
			}
			a.Messages = append(a.Messages, anthMessage{Role: "user", Content: content})
		case "assistant":
			msg, fnID, err := assistantMessage(m, i, param)
			if err != nil {
				return err
			}
			if fnID != "" {
				lastFnID = fnID
			}
			if msg.Content != nil {
				a.Messages = append(a.Messages, msg)
			}
		case "tool", "function":
			id := m.ToolCallID
			if m.Role == "function" {
				id = lastFnID
				if id == "" {
					return reqErr(param, "A 'function' message must follow an assistant message with a function_call.")
				}
			} else if id == "" {
				return reqErr(param+".tool_call_id", "Missing required parameter: '%s.tool_call_id'.", param)
			}
			content, err := toolResultContent(m.Content, param)
			if err != nil {
				return err
			}
			block := anthBlock{Type: "tool_result", ToolUseID: sanitizeToolID(id), Content: content}
			if toolMsg >= 0 {
				prev := &a.Messages[toolMsg]
				prev.Content = append(prev.Content.([]anthBlock), block)
			} else {
				a.Messages = append(a.Messages, anthMessage{Role: "user", Content: []anthBlock{block}})
				toolMsg = len(a.Messages) - 1
			}
		default:
			return reqErr(param+".role", "Unsupported role '%s' in '%s'.", m.Role, param)
		}
	}
	a.System = strings.Join(system, "\n\n")
	return nil
}

// textSegments returns the texts of a system/developer message: its string
// content, or each text part.
func textSegments(raw json.RawMessage, param string) ([]string, error) {
	raw = bytes.TrimSpace(raw)
	switch {
	case isNull(raw):
		return nil, nil
	case raw[0] == '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, reqErr(param+".content", "Invalid '%s.content'.", param)
		}
		return []string{s}, nil
	}
	parts, err := decodeParts(raw, param)
	if err != nil {
		return nil, err
	}
	var out []string
	for j, p := range parts {
		if p.Type != "text" {
			return nil, reqErr(fmt.Sprintf("%s.content[%d].type", param, j), "Unsupported content part type '%s' in a system message: only text is allowed.", p.Type)
		}
		out = append(out, p.Text)
	}
	return out, nil
}

func decodeParts(raw json.RawMessage, param string) ([]oaiPart, error) {
	var parts []oaiPart
	if raw[0] != '[' || json.Unmarshal(raw, &parts) != nil {
		return nil, reqErr(param+".content", "Invalid type for '%s.content': expected a string or an array of content parts.", param)
	}
	return parts, nil
}

// userContent translates user content: a string stays a string, parts become
// blocks.
func userContent(raw json.RawMessage, param string) (any, error) {
	raw = bytes.TrimSpace(raw)
	switch {
	case isNull(raw):
		return emptyString, nil
	case raw[0] == '"':
		// A JSON string literal is the same in both formats: pass the
		// (already validated) bytes through instead of decoding and
		// re-encoding what is most of a request's volume.
		return raw, nil
	}
	parts, err := decodeParts(raw, param)
	if err != nil {
		return nil, err
	}
	blocks := make([]anthBlock, 0, len(parts))
	for j, p := range parts {
		pp := fmt.Sprintf("%s.content[%d]", param, j)
		switch p.Type {
		case "text":
			if p.Text != "" {
				blocks = append(blocks, anthBlock{Type: "text", Text: p.Text})
			}
		case "image_url":
			b, err := imageBlock(p.ImageURL, pp)
			if err != nil {
				return nil, err
			}
			blocks = append(blocks, b)
		case "file":
			b, err := fileBlock(p, pp)
			if err != nil {
				return nil, err
			}
			blocks = append(blocks, b)
		default:
			return nil, reqErr(pp+".type", "Unsupported content part type '%s': only text, image_url and PDF file parts can be translated.", p.Type)
		}
	}
	return blocks, nil
}

func imageBlock(raw json.RawMessage, param string) (anthBlock, error) {
	var url string
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '"' {
		_ = json.Unmarshal(raw, &url)
	} else {
		var obj struct {
			URL string `json:"url"`
		}
		_ = json.Unmarshal(raw, &obj)
		url = obj.URL
	}
	param += ".image_url.url"
	switch {
	case strings.HasPrefix(url, "data:"):
		media, data, ok := parseDataURL(url)
		if !ok {
			return anthBlock{}, reqErr(param, "Invalid image data URL in '%s': expected data:<media type>;base64,<data>.", param)
		}
		return anthBlock{Type: "image", Source: &anthSource{Type: "base64", MediaType: media, Data: data}}, nil
	case strings.HasPrefix(url, "https://"), strings.HasPrefix(url, "http://"):
		return anthBlock{Type: "image", Source: &anthSource{Type: "url", URL: url}}, nil
	case url == "":
		return anthBlock{}, reqErr(param, "Missing required parameter: '%s'.", param)
	}
	return anthBlock{}, reqErr(param, "Unsupported image URL in '%s': expected a data: URL or an http(s) URL.", param)
}

func fileBlock(p oaiPart, param string) (anthBlock, error) {
	if p.File == nil || p.File.FileData == "" {
		return anthBlock{}, reqErr(param+".file", "Unsupported file part in '%s': only inline file_data (a PDF data: URL) can be translated, not file_id.", param)
	}
	media, data, ok := parseDataURL(p.File.FileData)
	if !ok || media != "application/pdf" {
		return anthBlock{}, reqErr(param+".file.file_data", "Unsupported file_data in '%s': expected data:application/pdf;base64,<data>.", param)
	}
	return anthBlock{Type: "document", Source: &anthSource{Type: "base64", MediaType: media, Data: data}}, nil
}

// parseDataURL splits data:<media>[;params];base64,<data>.
func parseDataURL(u string) (media, data string, ok bool) {
	meta, data, found := strings.Cut(strings.TrimPrefix(u, "data:"), ",")
	if !found {
		return "", "", false
	}
	params := strings.Split(meta, ";")
	media = params[0]
	base64 := false
	for _, p := range params[1:] {
		if p == "base64" {
			base64 = true
		}
	}
	return media, data, media != "" && base64 && data != ""
}

// assistantMessage translates an assistant message. Content is nil when the
// message carries nothing and is to be dropped; fnID is the id given to a
// legacy function_call.
func assistantMessage(m oaiMessage, index int, param string) (anthMessage, string, error) {
	var blocks []anthBlock
	raw := bytes.TrimSpace(m.Content)
	stringContent := false
	var text string
	switch {
	case isNull(raw):
	case raw[0] == '"':
		if err := json.Unmarshal(raw, &text); err != nil {
			return anthMessage{}, "", reqErr(param+".content", "Invalid '%s.content'.", param)
		}
		stringContent = true
		if text != "" {
			blocks = append(blocks, anthBlock{Type: "text", Text: text})
		}
	default:
		parts, err := decodeParts(raw, param)
		if err != nil {
			return anthMessage{}, "", err
		}
		for j, p := range parts {
			switch p.Type {
			case "text":
				if p.Text != "" {
					blocks = append(blocks, anthBlock{Type: "text", Text: p.Text})
				}
			case "refusal":
				if p.Refusal != "" {
					blocks = append(blocks, anthBlock{Type: "text", Text: p.Refusal})
				}
			default:
				return anthMessage{}, "", reqErr(fmt.Sprintf("%s.content[%d].type", param, j), "Unsupported content part type '%s' in an assistant message: only text and refusal are allowed.", p.Type)
			}
		}
	}
	if len(blocks) == 0 && m.Refusal != nil && *m.Refusal != "" {
		blocks = append(blocks, anthBlock{Type: "text", Text: *m.Refusal})
		stringContent = false
	}
	textBlocks := len(blocks)
	for j, tc := range m.ToolCalls {
		tp := fmt.Sprintf("%s.tool_calls[%d]", param, j)
		if tc.Type != "" && tc.Type != "function" {
			return anthMessage{}, "", reqErr(tp+".type", "Unsupported tool call type '%s': only function tool calls can be translated.", tc.Type)
		}
		if tc.ID == "" {
			return anthMessage{}, "", reqErr(tp+".id", "Missing required parameter: '%s.id'.", tp)
		}
		if tc.Function.Name == "" {
			return anthMessage{}, "", reqErr(tp+".function.name", "Missing required parameter: '%s.function.name'.", tp)
		}
		input, err := parseArguments(tc.Function.Arguments, tp+".function.arguments")
		if err != nil {
			return anthMessage{}, "", err
		}
		blocks = append(blocks, anthBlock{Type: "tool_use", ID: sanitizeToolID(tc.ID), Name: tc.Function.Name, Input: input})
	}
	fnID := ""
	if fc := m.FunctionCall; fc != nil && fc.Name != "" {
		input, err := parseArguments(fc.Arguments, param+".function_call.arguments")
		if err != nil {
			return anthMessage{}, "", err
		}
		fnID = fmt.Sprintf("call_fn_%d", index)
		blocks = append(blocks, anthBlock{Type: "tool_use", ID: fnID, Name: fc.Name, Input: input})
	}
	switch {
	case len(blocks) == 0:
		return anthMessage{Role: "assistant"}, fnID, nil
	case stringContent && textBlocks == len(blocks):
		return anthMessage{Role: "assistant", Content: text}, fnID, nil
	}
	return anthMessage{Role: "assistant", Content: blocks}, fnID, nil
}

// parseArguments turns a tool call's arguments into tool_use input. The
// arguments are a JSON string holding a JSON object ("" or absent means {});
// a bare JSON object is accepted as well. Anything else is a 400.
func parseArguments(raw json.RawMessage, param string) (json.RawMessage, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '{' {
		return raw, nil // already validated by the request's Unmarshal
	}
	var args string
	if !isNull(raw) {
		if raw[0] != '"' || json.Unmarshal(raw, &args) != nil {
			return nil, reqErr(param, "Invalid '%s': the tool call arguments must be a JSON object encoded as a string.", param)
		}
	}
	s := strings.TrimSpace(args)
	if s == "" {
		return json.RawMessage("{}"), nil
	}
	if s[0] != '{' || !json.Valid([]byte(s)) {
		return nil, reqErr(param, "Invalid '%s': the tool call arguments must be a JSON object encoded as a string.", param)
	}
	return json.RawMessage(s), nil
}

func toolResultContent(raw json.RawMessage, param string) (any, error) {
	raw = bytes.TrimSpace(raw)
	switch {
	case isNull(raw):
		return emptyString, nil
	case raw[0] == '"':
		return raw, nil // as in userContent
	}
	parts, err := decodeParts(raw, param)
	if err != nil {
		return nil, err
	}
	blocks := make([]anthBlock, 0, len(parts))
	for j, p := range parts {
		if p.Type != "text" {
			return nil, reqErr(fmt.Sprintf("%s.content[%d].type", param, j), "Unsupported content part type '%s' in a tool message: only text is allowed.", p.Type)
		}
		if p.Text != "" {
			blocks = append(blocks, anthBlock{Type: "text", Text: p.Text})
		}
	}
	if len(blocks) == 0 {
		return emptyString, nil
	}
	return blocks, nil
}

var emptyString = json.RawMessage(`""`)

// sanitizeToolID maps an id onto Anthropic's ^[a-zA-Z0-9_-]+$, replacing any
// other byte with "_". Ids that already match (OpenAI's call_…, Anthropic's
// toolu_…) are returned unchanged.
func sanitizeToolID(id string) string {
	ok := func(c byte) bool {
		return c == '_' || c == '-' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
	}
	for i := 0; i < len(id); i++ {
		if !ok(id[i]) {
			b := []byte(id)
			for j := i; j < len(b); j++ {
				if !ok(b[j]) {
					b[j] = '_'
				}
			}
			return string(b)
		}
	}
	return id
}

func isNull(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || bytes.Equal(raw, []byte("null"))
}

func kindName(t reflect.Type) string {
	if t == nil {
		return "another type"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Pointer:
		return kindName(t.Elem())
	}
	return "another type"
}

// ToOpenAI returns the request for an OpenAI-protocol upstream once the
// pipeline has produced anthropicBody (the internal form, possibly rewritten):
// the client's own body, every field byte for byte, with "messages" replaced
// by the translation of anthropicBody's system and messages. Unlike the prior
// art, tool_result blocks become role "tool" messages (with their
// tool_call_id), placed right after the assistant tool calls they answer.
//
// Anthropic → OpenAI message mapping:
//   - system (string, or text blocks joined "\n\n") → one leading system
//     message.
//   - user: string → string; blocks → tool messages first (one per
//     tool_result, content string or text parts; images inside a tool result
//     become the text "[image omitted]" since tool messages carry only text;
//     is_error has no OpenAI equivalent), then one user message with the
//     other blocks as parts: text → text, image → image_url (base64 → data:
//     URL, url → url), PDF document → file with file_data.
//   - assistant: string → string; blocks → text blocks joined with no
//     separator into content (null when there are none), tool_use →
//     tool_calls {id, type:function, function{name, arguments: compact JSON of
//     input}}. thinking, redacted_thinking and server-tool blocks are dropped.
func (r *OpenAIRequest) ToOpenAI(anthropicBody []byte) ([]byte, error) {
	var in struct {
		System   json.RawMessage `json:"system"`
		Messages []struct {
			Role    string          `json:"role"`
			Content json.RawMessage `json:"content"`
		} `json:"messages"`
	}
	if err := json.Unmarshal(anthropicBody, &in); err != nil {
		return nil, ErrInvalidJSON
	}
	out := make([]oaiOutMessage, 0, len(in.Messages)+1)
	if sys := systemString(in.System); sys != "" {
		out = append(out, oaiOutMessage{Role: "system", Content: sys})
	}
	for i, m := range in.Messages {
		raw := bytes.TrimSpace(m.Content)
		if len(raw) > 0 && raw[0] == '"' {
			out = append(out, oaiOutMessage{Role: m.Role, Content: json.RawMessage(raw)}) // literal passed through
			continue
		}
		var blocks []anthInBlock
		if !isNull(raw) {
			if err := json.Unmarshal(raw, &blocks); err != nil {
				return nil, fmt.Errorf("messages[%d]: %w", i, err)
			}
		}
		if m.Role == "assistant" {
			out = append(out, assistantToOpenAI(blocks))
			continue
		}
		var parts []oaiOutPart
		for _, b := range blocks {
			switch b.Type {
			case "tool_result":
				out = append(out, oaiOutMessage{Role: "tool", ToolCallID: b.ToolUseID, Content: toolResultToOpenAI(b.Content)})
			case "text":
				if b.Text != "" {
					parts = append(parts, oaiOutPart{Type: "text", Text: b.Text})
				}
			case "image":
				if p, ok := imageToOpenAI(b.Source); ok {
					parts = append(parts, p)
				}
			case "document":
				if b.Source != nil && b.Source.Type == "base64" {
					parts = append(parts, oaiOutPart{Type: "file", File: &oaiOutFile{FileData: "data:" + b.Source.MediaType + ";base64," + b.Source.Data}})
				}
			}
		}
		if len(parts) > 0 {
			out = append(out, oaiOutMessage{Role: "user", Content: parts})
		}
	}
	msgs := appendOpenAIMessages(make([]byte, 0, len(anthropicBody)+256), out)
	return ReplaceFields(r.Body, map[string][]byte{"messages": msgs})
}

type anthInBlock struct {
	Type      string          `json:"type"`
	Text      string          `json:"text"`
	Thinking  string          `json:"thinking"`
	ID        string          `json:"id"`
	Name      string          `json:"name"`
	Input     json.RawMessage `json:"input"`
	ToolUseID string          `json:"tool_use_id"`
	Content   json.RawMessage `json:"content"`
	Source    *anthSource     `json:"source"`
}

type oaiOutMessage struct {
	Role       string           `json:"role"`
	Content    any              `json:"content"` // string, JSON string literal, []oaiOutPart, or nil (null)
	ToolCalls  []oaiOutToolCall `json:"tool_calls,omitempty"`
	ToolCallID string           `json:"tool_call_id,omitempty"`
}

type oaiOutToolCall struct {
	ID       string      `json:"id"`
	Type     string      `json:"type"`
	Function oaiFunction `json:"function"`
}

type oaiOutPart struct {
	Type     string       `json:"type"`
	Text     string       `json:"text,omitempty"`
	ImageURL *oaiImageURL `json:"image_url,omitempty"`
	File     *oaiOutFile  `json:"file,omitempty"`
}

type oaiImageURL struct {
	URL string `json:"url"`
}

type oaiOutFile struct {
	FileData string `json:"file_data"`
}

// systemString flattens an Anthropic system (string or text blocks).
func systemString(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if isNull(raw) {
		return ""
	}
	if raw[0] == '"' {
		var s string
		_ = json.Unmarshal(raw, &s)
		return s
	}
	var blocks []anthInBlock
	_ = json.Unmarshal(raw, &blocks)
	var texts []string
	for _, b := range blocks {
		if b.Type == "text" && b.Text != "" {
			texts = append(texts, b.Text)
		}
	}
	return strings.Join(texts, "\n\n")
}

func assistantToOpenAI(blocks []anthInBlock) oaiOutMessage {
	m := oaiOutMessage{Role: "assistant"}
	var text strings.Builder
	hasText := false
	for _, b := range blocks {
		switch b.Type {
		case "text":
			text.WriteString(b.Text)
			hasText = true
		case "tool_use":
			m.ToolCalls = append(m.ToolCalls, oaiOutToolCall{ID: b.ID, Type: "function",
				Function: oaiFunction{Name: b.Name, Arguments: compactArguments(b.Input)}})
		}
	}
	if hasText {
		m.Content = text.String()
	} else if len(m.ToolCalls) == 0 {
		m.Content = ""
	}
	return m
}

// compactArguments renders tool_use input as OpenAI's arguments string.
func compactArguments(input json.RawMessage) string {
	if isNull(input) {
		return "{}"
	}
	var buf bytes.Buffer
	if json.Compact(&buf, input) != nil {
		return "{}"
	}
	return buf.String()
}

func toolResultToOpenAI(raw json.RawMessage) any {
	raw = bytes.TrimSpace(raw)
	if isNull(raw) {
		return ""
	}
	if raw[0] == '"' {
		return raw // literal passed through
	}
	var blocks []anthInBlock
	if json.Unmarshal(raw, &blocks) != nil {
		return ""
	}
	parts := make([]oaiOutPart, 0, len(blocks))
	for _, b := range blocks {
		switch b.Type {
		case "text":
			if b.Text != "" {
				parts = append(parts, oaiOutPart{Type: "text", Text: b.Text})
			}
		case "image":
			parts = append(parts, oaiOutPart{Type: "text", Text: "[image omitted]"})
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return parts
}

func imageToOpenAI(src *anthSource) (oaiOutPart, bool) {
	if src == nil {
		return oaiOutPart{}, false
	}
	switch src.Type {
	case "base64":
		return oaiOutPart{Type: "image_url", ImageURL: &oaiImageURL{URL: "data:" + src.MediaType + ";base64," + src.Data}}, true
	case "url":
		return oaiOutPart{Type: "image_url", ImageURL: &oaiImageURL{URL: src.URL}}, true
	}
	return oaiOutPart{}, false
}
