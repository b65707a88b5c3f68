package translate

import (
	"encoding/json"
	"testing"

	"github.com/openai/openai-go/v3"

	"github.com/caddy-lore/caddy-lore/pricing"
)

const toolAnswer = `{"id":"msg_01A","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929",
 "content":[{"type":"thinking","thinking":"plan","signature":"sig"},{"type":"text","text":"Reading <both> & more."},
  {"type":"tool_use","id":"toolu_1","name":"read","input":{"path": "a.go"}},{"type":"tool_use","id":"toolu_2","name":"ls","input":{}}],
 "stop_reason":"tool_use","stop_sequence":null,
 "usage":{"input_tokens":2048,"cache_creation_input_tokens":248,"cache_read_input_tokens":1800,"output_tokens":503,"service_tier":"standard"}}`

// TestAnthropicToOpenAIToolTurn is the answer mapping of docs/architecture.md,
// Routes (POST /v1/chat/completions) for tool_use → tool_calls, with a
// multi-tool-call turn and cache usage.
func TestAnthropicToOpenAIToolTurn(t *testing.T) {
	out, err := AnthropicToOpenAI([]byte(toolAnswer), 1741569952)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"id":"chatcmpl-msg_01A","object":"chat.completion","created":1741569952,"model":"claude-sonnet-4-5-20250929",` +
		`"choices":[{"index":0,"message":{"role":"assistant","content":"Reading <both> & more.","refusal":null,"reasoning_content":"plan",` +
		`"tool_calls":[{"id":"toolu_1","type":"function","function":{"name":"read","arguments":"{\"path\":\"a.go\"}"}},` +
		`{"id":"toolu_2","type":"function","function":{"name":"ls","arguments":"{}"}}]},"logprobs":null,"finish_reason":"tool_calls"}],` +
		`"usage":{"prompt_tokens":4096,"completion_tokens":503,"total_tokens":4599,"prompt_tokens_details":{"cached_tokens":1800,"cache_write_tokens":248}}}`
	if string(out) != want {
		t.Fatalf("got\n%s\nwant\n%s", out, want)
	}
	var cc openai.ChatCompletion
	if err := json.Unmarshal(out, &cc); err != nil {
		t.Fatal(err)
	}
	if cc.ID != "chatcmpl-msg_01A" || cc.Object != "chat.completion" || cc.Created != 1741569952 || cc.Model != "claude-sonnet-4-5-20250929" ||
		len(cc.Choices) != 1 || cc.Choices[0].Index != 0 || cc.Choices[0].FinishReason != "tool_calls" ||
		cc.Choices[0].Message.Role != "assistant" || cc.Choices[0].Message.Content != "Reading <both> & more." ||
		len(cc.Choices[0].Message.ToolCalls) != 2 ||
		cc.Choices[0].Message.ToolCalls[0].ID != "toolu_1" || cc.Choices[0].Message.ToolCalls[0].Type != "function" ||
		cc.Choices[0].Message.ToolCalls[0].Function.Name != "read" || cc.Choices[0].Message.ToolCalls[0].Function.Arguments != `{"path":"a.go"}` ||
		cc.Choices[0].Message.ToolCalls[1].ID != "toolu_2" || cc.Choices[0].Message.ToolCalls[1].Function.Arguments != `{}` {
		t.Fatalf("SDK view %+v", cc)
	}
	if cc.Usage.PromptTokens != 4096 || cc.Usage.CompletionTokens != 503 || cc.Usage.TotalTokens != 4599 ||
		cc.Usage.TotalTokens != cc.Usage.PromptTokens+cc.Usage.CompletionTokens || cc.Usage.PromptTokensDetails.CachedTokens != 1800 {
		t.Fatalf("usage %+v", cc.Usage)
	}
	if !cc.Choices[0].Logprobs.JSON.Content.Valid() && cc.Choices[0].Logprobs.JSON.Content.Raw() != "" {
		t.Fatal("logprobs must be null")
	}
}

// TestAnthropicToOpenAIText is the same answer mapping for max_tokens →
// length, and the plain text shape.
func TestAnthropicToOpenAIText(t *testing.T) {
	out, err := AnthropicToOpenAI([]byte(`{"id":"chatcmpl-already","model":"claude-x","content":[{"type":"text","text":"Hel"},{"type":"text","text":"lo"}],
		"stop_reason":"max_tokens","usage":{"input_tokens":25,"output_tokens":15}}`), 7)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"id":"chatcmpl-already","object":"chat.completion","created":7,"model":"claude-x","choices":[{"index":0,` +
		`"message":{"role":"assistant","content":"Hello","refusal":null},"logprobs":null,"finish_reason":"length"}],` +
		`"usage":{"prompt_tokens":25,"completion_tokens":15,"total_tokens":40,"prompt_tokens_details":{"cached_tokens":0,"cache_write_tokens":0}}}`
	if string(out) != want {
		t.Fatalf("got\n%s\nwant\n%s", out, want)
	}
	var cc openai.ChatCompletion
	if err := json.Unmarshal(out, &cc); err != nil || cc.Choices[0].FinishReason != "length" || cc.Usage.TotalTokens != 40 {
		t.Fatalf("%+v %v", cc, err)
	}

	// Only tool calls: content null. Nothing at all: content "".
	out, _ = AnthropicToOpenAI([]byte(`{"id":"m","model":"x","content":[{"type":"tool_use","id":"toolu_9","name":"f","input":{"a":[1,2]}}],"stop_reason":"tool_use","usage":{}}`), 1)
	if got := string(out); got != `{"id":"chatcmpl-m","object":"chat.completion","created":1,"model":"x","choices":[{"index":0,"message":{"role":"assistant","content":null,"refusal":null,"tool_calls":[{"id":"toolu_9","type":"function","function":{"name":"f","arguments":"{\"a\":[1,2]}"}}]},"logprobs":null,"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":0,"completion_tokens":0,"total_tokens":0,"prompt_tokens_details":{"cached_tokens":0,"cache_write_tokens":0}}}` {
		t.Fatalf("tool only: %s", got)
	}
	out, _ = AnthropicToOpenAI([]byte(`{"id":"m","model":"x","content":[],"stop_reason":"refusal","usage":{}}`), 1)
	if got := string(out); got != `{"id":"chatcmpl-m","object":"chat.completion","created":1,"model":"x","choices":[{"index":0,"message":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":"content_filter"}],"usage":{"prompt_tokens":0,"completion_tokens":0,"total_tokens":0,"prompt_tokens_details":{"cached_tokens":0,"cache_write_tokens":0}}}` {
		t.Fatalf("empty: %s", got)
	}
	if _, err := AnthropicToOpenAI([]byte(`oops`), 1); err == nil {
		t.Fatal("non-JSON must fail")
	}
}

func TestFinishReasonMapping(t *testing.T) {
	for in, want := range map[string]string{
		"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "tool_use": "tool_calls",
		"refusal": "content_filter", "pause_turn": "stop", "model_context_window_exceeded": "length", "": "stop", "future": "stop",
	} {
		if got := OpenAIFinishReason(in); got != want {
			t.Errorf("OpenAIFinishReason(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{
		"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use", "function_call": "tool_use",
		"content_filter": "refusal", "": "", "other": "end_turn",
	} {
		if got := AnthropicStopReason(in); got != want {
			t.Errorf("AnthropicStopReason(%q) = %q, want %q", in, got, want)
		}
	}
	if ChatCompletionID("msg_1") != "chatcmpl-msg_1" || ChatCompletionID("chatcmpl-x") != "chatcmpl-x" {
		t.Fatal("ChatCompletionID")
	}
}

func TestUsageMappingRoundTrip(t *testing.T) {
	u := pricing.Usage{InputTokens: 12, OutputTokens: 42, CacheReadTokens: 100, CacheWriteTokens: 7}
	o := ToOpenAIUsage(u)
	if o != (OpenAIUsage{PromptTokens: 119, CompletionTokens: 42, TotalTokens: 161,
		PromptTokensDetails: OpenAIPromptDetails{CachedTokens: 100, CacheWriteTokens: 7}}) {
		t.Fatalf("%+v", o)
	}
	if back := FromOpenAIUsage(o); back != u {
		t.Fatalf("round trip %+v", back)
	}
	// A plain OpenAI upstream reports only cached_tokens.
	if got := FromOpenAIUsage(OpenAIUsage{PromptTokens: 1000, CompletionTokens: 5, PromptTokensDetails: OpenAIPromptDetails{CachedTokens: 800}}); got != (pricing.Usage{InputTokens: 200, OutputTokens: 5, CacheReadTokens: 800}) {
		t.Fatalf("%+v", got)
	}
}

func TestParseOpenAIResponse(t *testing.T) {
	body := `{"id":"chatcmpl-abc","object":"chat.completion","created":1741569952,"model":"gpt-4.1-2025-04-14",
	 "choices":[{"index":0,"message":{"role":"assistant","content":"Two <calls>.","refusal":null,"annotations":[],
	   "tool_calls":[{"id":"call_abc","type":"function","function":{"name":"get_weather","arguments":"{\"location\": \"Paris\"}"}},
	                 {"id":"call_def","type":"function","function":{"name":"get_time","arguments":"not json"}}]},
	   "logprobs":null,"finish_reason":"tool_calls"}],
	 "usage":{"prompt_tokens":19,"completion_tokens":10,"total_tokens":29,"prompt_tokens_details":{"cached_tokens":4,"audio_tokens":0}}}`
	r, err := ParseOpenAIResponse([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if r.ID != "chatcmpl-abc" || r.Model != "gpt-4.1-2025-04-14" || r.StopReason != "tool_use" ||
		r.Usage != (pricing.Usage{InputTokens: 15, OutputTokens: 10, CacheReadTokens: 4}) {
		t.Fatalf("%+v", r)
	}
	want := `[{"type":"text","text":"Two <calls>."},{"type":"tool_use","id":"call_abc","name":"get_weather","input":{"location":"Paris"}},{"type":"tool_use","id":"call_def","name":"get_time","input":{}}]`
	if string(r.Content) != want {
		t.Fatalf("content\n%s\nwant\n%s", r.Content, want)
	}
	r, err = ParseOpenAIResponse([]byte(`{"id":"c","model":"g","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"length"}],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}`))
	if err != nil || r.StopReason != "max_tokens" || string(r.Content) != `[{"type":"text","text":"hi"}]` || r.Usage != (pricing.Usage{InputTokens: 3, OutputTokens: 1}) {
		t.Fatalf("%+v %v", r, err)
	}
	if _, err := ParseOpenAIResponse([]byte(`{`)); err == nil {
		t.Fatal("bad JSON must fail")
	}

	// Anthropic → OpenAI → stored Response gives back what the Anthropic
	// parser stores (minus thinking, which OpenAI cannot carry).
	oai, _ := AnthropicToOpenAI([]byte(toolAnswer), 1)
	back, err := ParseOpenAIResponse(oai)
	if err != nil {
		t.Fatal(err)
	}
	if back.ID != "chatcmpl-msg_01A" || back.StopReason != "tool_use" ||
		back.Usage != (pricing.Usage{InputTokens: 2048, OutputTokens: 503, CacheReadTokens: 1800, CacheWriteTokens: 248}) ||
		string(back.Content) != `[{"type":"text","text":"Reading <both> & more."},{"type":"tool_use","id":"toolu_1","name":"read","input":{"path":"a.go"}},{"type":"tool_use","id":"toolu_2","name":"ls","input":{}}]` {
		t.Fatalf("round trip %+v %s", back, back.Content)
	}
}

func TestAnthropicErrorToOpenAI(t *testing.T) {
	for in, want := range map[string]string{
		`{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`:                                              `{"error":{"message":"Overloaded","type":"overloaded_error","param":null,"code":null}}`,
		`{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 210000 tokens > 200000 maximum"}}`: `{"error":{"message":"prompt is too long: 210000 tokens > 200000 maximum","type":"invalid_request_error","param":null,"code":"context_length_exceeded"}}`,
		`<html>Bad gateway</html>`: `{"error":{"message":"<html>Bad gateway</html>","type":"api_error","param":null,"code":null}}`,
	} {
		if got := string(AnthropicErrorToOpenAI([]byte(in))); got != want {
			t.Errorf("%s:\n got %s\nwant %s", in, got, want)
		}
	}
}

// TestReferenceItem50: an OpenAI-protocol non-streaming request for a Claude
// model gets a chat.completion with id prefixed chatcmpl-, finish_reason
// mapped (tool_use → tool_calls, max_tokens → length) and usage total =
// prompt + completion — read with openai-go.
func TestReferenceItem50(t *testing.T) {
	for stop, want := range map[string]string{"tool_use": "tool_calls", "max_tokens": "length"} {
		body := `{"id":"msg_01XFDUDYJgAACzvnptvVoYEL","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929",` +
			`"content":[{"type":"text","text":"x"}],"stop_reason":"` + stop + `","stop_sequence":null,` +
			`"usage":{"input_tokens":2048,"cache_creation_input_tokens":248,"cache_read_input_tokens":1800,"output_tokens":503}}`
		out, err := AnthropicToOpenAI([]byte(body), 1741569952)
		if err != nil {
			t.Fatal(err)
		}
		var cc openai.ChatCompletion
		if err := json.Unmarshal(out, &cc); err != nil {
			t.Fatal(err)
		}
		if cc.ID != "chatcmpl-msg_01XFDUDYJgAACzvnptvVoYEL" || string(cc.Choices[0].FinishReason) != want ||
			cc.Usage.PromptTokens != 4096 || cc.Usage.CompletionTokens != 503 || cc.Usage.TotalTokens != 4599 {
			t.Fatalf("%s: %s", stop, out)
		}
	}
}

// TestToolCallLoop is a full tool-use turn as an OpenAI client lives it: the
// Claude answer's tool calls reach the client (openai-go), the client sends
// its history back with the results (ToParam + ToolMessage), and the
// Anthropic request pairs each tool_result with the original toolu_ id.
func TestToolCallLoop(t *testing.T) {
	out, err := AnthropicToOpenAI([]byte(toolAnswer), 1)
	if err != nil {
		t.Fatal(err)
	}
	var cc openai.ChatCompletion
	if err := json.Unmarshal(out, &cc); err != nil {
		t.Fatal(err)
	}
	calls := cc.Choices[0].Message.ToolCalls
	next := openai.ChatCompletionNewParams{
		Model: "claude-sonnet-4-5",
		Messages: []openai.ChatCompletionMessageParamUnion{
			openai.UserMessage("Read a.go and list the dir."),
			cc.Choices[0].Message.ToParam(),
			openai.ToolMessage("package a <ok>", calls[0].ID),
			openai.ToolMessage("a.go\nb.go", calls[1].ID),
		},
	}
	body, _ := json.Marshal(next)
	anth := mustAnthropic(t, string(body))
	want := `{"model":"claude-sonnet-4-5","max_tokens":4096,"messages":[` +
		`{"role":"user","content":"Read a.go and list the dir."},` +
		`{"role":"assistant","content":[{"type":"text","text":"Reading <both> & more."},` +
		`{"type":"tool_use","id":"toolu_1","name":"read","input":{"path":"a.go"}},` +
		`{"type":"tool_use","id":"toolu_2","name":"ls","input":{}}]},` +
		// openai-go's encoder wrote "<" as \u003c; string content is the
		// client's literal, passed through byte for byte (same JSON value).
		`{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":"package a \u003cok\u003e"},` +
		`{"type":"tool_result","tool_use_id":"toolu_2","content":"a.go\nb.go"}]}]}`
	if anth != want {
		t.Fatalf("got\n%s\nwant\n%s", anth, want)
	}
}
