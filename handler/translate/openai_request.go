package translate

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/caddy-lore/caddy-lore/internal/jsonscan"
)

// This file translates OpenAI chat-completions requests into the gateway's
// internal form, an Anthropic Messages request body (docs/architecture.md,
// Routes: POST /v1/chat/completions), and back into an OpenAI request for
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
	if err := checkOpenAIShape(trimmed); err != nil {
		return nil, err
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

// The bound of an OpenAI request's decode: encoding/json spends on the order
// of openAIValueCost bytes per value (a message struct, its strings, the
// translated copy) whatever the value's size, so a body may hold at most
// (msg.DecodeRatio × its size + msg.DecodeSlack) / openAIValueCost values.
// Real requests hold one value per tens of bytes or more; 32 MiB of `{},`
// would otherwise decode into gigabytes.
const (
	openAIValueCost = 64
	openAIRatio     = 2       // = msg.DecodeRatio
	openAISlack     = 4 << 20 // = msg.DecodeSlack
)

// checkOpenAIShape validates the body without decoding it (well-formed, at
// most jsonscan.MaxDepth deep) and refuses one with more values than its
// size warrants, before encoding/json allocates for them.
func checkOpenAIShape(body []byte) error {
	end, values := jsonscan.Measure(body, 0)
	if end != len(body) {
		return ErrInvalidJSON
	}
	if dup := duplicateField(body, openAIReadFields); dup != "" {
		// encoding/json takes the last copy; an OpenAI upstream that gets
		// the body as it is might take the first (which model, which
		// messages).
		return &BodyError{"The request body has the field \"" + dup + "\" more than once."}
	}
	if tooManyValues(values, len(body)) {
		return valuesError(values, len(body), len(body))
	}
	return nil
}

func tooManyValues(values, size int) bool {
	return values*openAIValueCost > openAIRatio*size+openAISlack
}

// valuesError refuses a body of (at most) size bytes whose first read bytes
// hold values JSON values.
func valuesError(values, read, size int) *BodyError {
	where := fmt.Sprintf("in %d bytes", size)
	if read < size {
		where = fmt.Sprintf("in its first %d bytes (of up to %d)", read, size)
	}
	return &BodyError{fmt.Sprintf("The request body holds %d JSON values %s, more than this gateway decodes "+
		"(at most one per %d bytes, plus %d); empty messages and content parts are not valid.",
		values, where, openAIValueCost/openAIRatio, openAISlack/openAIValueCost)}
}

// RefusedOpenAIPrefix reports a chat-completions body that its first bytes
// already refuse, whatever follows (checkOpenAIShape): nested deeper than
// jsonscan.MaxDepth, or holding more values than a body of size bytes (the
// most it can be) may hold. The whole body would be refused too, though a
// whole parse may name another reason first (malformed JSON further on).
func RefusedOpenAIPrefix(prefix []byte, size int) error {
	if jsonscan.TooDeep(prefix, jsonscan.MaxDepth) {
		return ErrInvalidJSON
	}
	if i := jsonscan.SkipSpace(prefix, 0); i < len(prefix) && prefix[i] == '{' {
		if _, values := jsonscan.Measure(prefix, i); tooManyValues(values, size) {
			return valuesError(values, len(prefix), size)
		}
	}
	return nil
}

// openAIReadFields are the top-level fields of a chat-completions request
// the translation reads (oaiRequest).
var openAIReadFields = []string{"model", "messages", "stream", "stream_options", "max_tokens", "max_completion_tokens",
	"stop", "temperature", "top_p", "n", "user", "safety_identifier", "metadata", "tools", "tool_choice",
	"parallel_tool_calls", "functions", "function_call"}

// duplicateField returns a name of names that the JSON object body has
// twice at its top level (keys compared unescaped), or "".
func duplicateField(body []byte, names []string) string {
	var seen uint64
	dup := ""
	_, _ = jsonscan.Object(body, 0, func(key []byte, _ int) int {
		for i, n := range names {
			if dup == "" && string(key) == n {
				if seen&(1<<i) != 0 {
					dup = n
				}
				seen |= 1 << i
			}
		}
		return -1
	})
	return dup
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
