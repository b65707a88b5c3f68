package translate

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/shared"

	"github.com/caddy-lore/caddy-lore/msg"
)

// fullOpenAIRequest exercises every request mapping rule at once.
const fullOpenAIRequest = `{"model":"claude-sonnet-4-5","stream":true,"stream_options":{"include_usage":true},
 "max_completion_tokens":2000,"max_tokens":10,"temperature":1.5,"top_p":0.9,"stop":"END","n":1,
 "seed":7,"frequency_penalty":0.5,"presence_penalty":0.1,"logprobs":false,"response_format":{"type":"text"},
 "reasoning_effort":"low","store":false,"user":"u-1","metadata":{"team":"x"},
 "messages":[
  {"role":"system","content":"You are <helpful> & terse."},
  {"role":"developer","content":[{"type":"text","text":"Use tools."},{"type":"text","text":"Be brief."}]},
  {"role":"user","name":"ann","content":[{"type":"text","text":"Look:"},
    {"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo=","detail":"high"}},
    {"type":"image_url","image_url":{"url":"https://example.com/a.jpg"}},
    {"type":"file","file":{"file_data":"data:application/pdf;base64,JVBERi0=","filename":"a.pdf"}}]},
  {"role":"assistant","content":"Checking both.","tool_calls":[
    {"id":"call_1","type":"function","function":{"name":"read","arguments":"{\"path\": \"a.go\"}"}},
    {"id":"call_2","type":"function","function":{"name":"ls","arguments":""}}]},
  {"role":"tool","tool_call_id":"call_1","content":"package a"},
  {"role":"tool","tool_call_id":"call_2","content":[{"type":"text","text":"a.go"},{"type":"text","text":"b.go"}]},
  {"role":"user","content":"Thanks"}],
 "tools":[
  {"type":"function","function":{"name":"read","description":"Read a file","parameters":{"type":"object","properties":{"path":{"type":"string"}},"required":["path"]},"strict":true}},
  {"type":"function","function":{"name":"ls"}},
  {"type":"function","function":{"name":"grep","parameters":{"properties":{"q":{"type":"string"}}}}}],
 "tool_choice":"required","parallel_tool_calls":false}`

const fullAnthropicRequest = `{"model":"claude-sonnet-4-5","max_tokens":2000,` +
	`"system":"You are <helpful> & terse.\n\nUse tools.\n\nBe brief.",` +
	`"messages":[` +
	`{"role":"user","content":[{"type":"text","text":"Look:"},` +
	`{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0KGgo="}},` +
	`{"type":"image","source":{"type":"url","url":"https://example.com/a.jpg"}},` +
	`{"type":"document","source":{"type":"base64","media_type":"application/pdf","data":"JVBERi0="}}]},` +
	`{"role":"assistant","content":[{"type":"text","text":"Checking both."},` +
	`{"type":"tool_use","id":"call_1","name":"read","input":{"path":"a.go"}},` +
	`{"type":"tool_use","id":"call_2","name":"ls","input":{}}]},` +
	`{"role":"user","content":[{"type":"tool_result","tool_use_id":"call_1","content":"package a"},` +
	`{"type":"tool_result","tool_use_id":"call_2","content":[{"type":"text","text":"a.go"},{"type":"text","text":"b.go"}]}]},` +
	`{"role":"user","content":"Thanks"}],` +
	`"tools":[{"name":"read","description":"Read a file","input_schema":{"type":"object","properties":{"path":{"type":"string"}},"required":["path"]}},` +
	`{"name":"ls","input_schema":{"type":"object","properties":{}}},` +
	`{"name":"grep","input_schema":{"type":"object","properties":{"q":{"type":"string"}}}}],` +
	`"tool_choice":{"type":"any","disable_parallel_tool_use":true},` +
	`"stop_sequences":["END"],"temperature":1,"top_p":0.9,"metadata":{"user_id":"u-1"},"stream":true}`

func mustParseOpenAI(t *testing.T, body string) *OpenAIRequest {
	t.Helper()
	r, err := ParseOpenAIRequest([]byte(body))
	if err != nil {
		t.Fatalf("ParseOpenAIRequest: %v", err)
	}
	return r
}

func mustAnthropic(t *testing.T, body string) string {
	t.Helper()
	out, err := mustParseOpenAI(t, body).ToAnthropic()
	if err != nil {
		t.Fatalf("ToAnthropic: %v", err)
	}
	return string(out)
}

func TestOpenAIRequestToAnthropicFull(t *testing.T) {
	r := mustParseOpenAI(t, fullOpenAIRequest)
	if r.Model != "claude-sonnet-4-5" || !r.Stream || !r.IncludeUsage || r.N != 1 || r.MaxTokens != 2000 {
		t.Fatalf("envelope %+v", r)
	}
	if string(r.Body) != fullOpenAIRequest {
		t.Fatal("Body must be the original bytes")
	}
	out, err := r.ToAnthropic()
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != fullAnthropicRequest {
		t.Fatalf("got\n%s\nwant\n%s", out, fullAnthropicRequest)
	}
	// Deterministic: same input, same bytes (message ids depend on it).
	again, _ := mustParseOpenAI(t, fullOpenAIRequest).ToAnthropic()
	if string(again) != string(out) {
		t.Fatal("translation is not deterministic")
	}

	// The gateway's own Messages parser and message decoder accept it.
	ar, err := ParseRequest(out)
	if err != nil || ar.Model != "claude-sonnet-4-5" || !ar.Stream || ar.ToolCount != 3 || ar.MessageCount != 4 || ar.MetadataUserID != "u-1" {
		t.Fatalf("ParseRequest: %+v %v", ar, err)
	}
	if ar.SystemText() != "You are <helpful> & terse.\n\nUse tools.\n\nBe brief." {
		t.Fatalf("system %q", ar.SystemText())
	}
	msgs, err := msg.Decode(ar.Messages)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 4 || msgs[1].Blocks[1].Type != msg.TypeToolUse || msgs[1].Blocks[1].ToolID != "call_1" ||
		string(msgs[1].Blocks[1].Input) != `{"path":"a.go"}` ||
		msgs[2].Blocks[0].ToolID != "call_1" || msgs[2].Blocks[0].OutputText() != "package a" ||
		msgs[2].Blocks[1].ToolID != "call_2" || msgs[2].Blocks[1].OutputText() != "a.go\nb.go" || !msgs[3].StringContent {
		t.Fatalf("decoded messages %+v", msgs)
	}

	// The official Anthropic SDK reads it as the request we meant. Its v2
	// no longer models temperature and top_p, so they are read from the JSON.
	var p anthropic.MessageNewParams
	if err := json.Unmarshal(out, &p); err != nil {
		t.Fatal(err)
	}
	var sampling struct {
		Temperature *float64 `json:"temperature"`
		TopP        *float64 `json:"top_p"`
	}
	if err := json.Unmarshal(out, &sampling); err != nil || sampling.Temperature == nil || *sampling.Temperature != 1 ||
		sampling.TopP == nil || *sampling.TopP != 0.9 {
		t.Fatalf("temperature %v, top_p %v (%v)", sampling.Temperature, sampling.TopP, err)
	}
	if p.Model != "claude-sonnet-4-5" || p.MaxTokens != 2000 || len(p.System) != 1 ||
		p.System[0].Text != "You are <helpful> & terse.\n\nUse tools.\n\nBe brief." ||
		len(p.StopSequences) != 1 || p.StopSequences[0] != "END" ||
		p.Metadata.UserID.Value != "u-1" || len(p.Messages) != 4 || len(p.Tools) != 3 ||
		p.ToolChoice.OfAny == nil || !p.ToolChoice.OfAny.DisableParallelToolUse.Value {
		t.Fatalf("SDK view: %+v", p)
	}
	if p.Messages[0].OfUser == nil {
		t.Fatalf("first message is not the user's: %+v", p.Messages[0])
	}
	user := p.Messages[0].OfUser.Content
	if len(user) != 4 || user[1].OfImage == nil || user[1].OfImage.Source.OfBase64 == nil ||
		user[1].OfImage.Source.OfBase64.Data != "iVBORw0KGgo=" || string(user[1].OfImage.Source.OfBase64.MediaType) != "image/png" ||
		user[2].OfImage == nil || user[2].OfImage.Source.OfURL == nil || user[2].OfImage.Source.OfURL.URL != "https://example.com/a.jpg" ||
		user[3].OfDocument == nil || user[3].OfDocument.Source.OfBase64 == nil || user[3].OfDocument.Source.OfBase64.Data != "JVBERi0=" {
		t.Fatalf("user blocks %+v", user)
	}
	if p.Messages[1].OfAssistant == nil || p.Messages[2].OfUser == nil {
		t.Fatalf("roles: %+v", p.Messages)
	}
	asst := p.Messages[1].OfAssistant.Content
	if len(asst) != 3 || asst[0].OfText.Text != "Checking both." ||
		asst[1].OfToolUse.ID != "call_1" || asst[1].OfToolUse.Name != "read" || asst[2].OfToolUse.ID != "call_2" {
		t.Fatalf("assistant blocks %+v", asst)
	}
	res := p.Messages[2].OfUser.Content
	if len(res) != 2 || res[0].OfToolResult.ToolUseID != "call_1" ||
		res[1].OfToolResult.ToolUseID != "call_2" || res[1].OfToolResult.Content[1].OfText.Text != "b.go" {
		t.Fatalf("tool results %+v", res)
	}
	if p.Tools[0].OfTool.Name != "read" || p.Tools[0].OfTool.Description.Value != "Read a file" ||
		p.Tools[0].OfTool.InputSchema.Required[0] != "path" {
		t.Fatalf("tools %+v", p.Tools)
	}
}

// TestOpenAIRequestFromSDK builds the request with openai-go's own param
// types, as an OpenAI client would send it.
func TestOpenAIRequestFromSDK(t *testing.T) {
	params := openai.ChatCompletionNewParams{
		Model: "claude-sonnet-4-5",
		Messages: []openai.ChatCompletionMessageParamUnion{
			openai.SystemMessage("sys"),
			openai.UserMessage("What is the weather in Paris and Rome?"),
			{OfAssistant: &openai.ChatCompletionAssistantMessageParam{
				ToolCalls: []openai.ChatCompletionMessageToolCallUnionParam{
					{OfFunction: &openai.ChatCompletionMessageFunctionToolCallParam{ID: "call_a", Function: openai.ChatCompletionMessageFunctionToolCallFunctionParam{Name: "weather", Arguments: `{"city":"Paris"}`}}},
					{OfFunction: &openai.ChatCompletionMessageFunctionToolCallParam{ID: "call_b", Function: openai.ChatCompletionMessageFunctionToolCallFunctionParam{Name: "weather", Arguments: `{"city":"Rome"}`}}},
				},
			}},
			openai.ToolMessage("18C", "call_a"),
			openai.ToolMessage("21C", "call_b"),
		},
		Tools: []openai.ChatCompletionToolUnionParam{openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
			Name: "weather", Description: openai.String("Weather by city"),
			Parameters: shared.FunctionParameters{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}}},
		})},
		ToolChoice: openai.ChatCompletionToolChoiceOptionUnionParam{
			OfFunctionToolChoice: &openai.ChatCompletionNamedToolChoiceParam{
				Function: openai.ChatCompletionNamedToolChoiceFunctionParam{Name: "weather"}}},
		MaxTokens:     openai.Int(300),
		Stop:          openai.ChatCompletionNewParamsStopUnion{OfStringArray: []string{"\n\nHuman:", ""}},
		Temperature:   openai.Float(0.2),
		StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
		Metadata:      shared.Metadata{"user_id": "meta-user"},
		User:          openai.String("plain-user"),
	}
	body, err := json.Marshal(params)
	if err != nil {
		t.Fatal(err)
	}
	r := mustParseOpenAI(t, string(body))
	if r.Stream || !r.IncludeUsage || r.MaxTokens != 300 {
		t.Fatalf("envelope %+v", r)
	}
	out, _ := r.ToAnthropic()
	want := `{"model":"claude-sonnet-4-5","max_tokens":300,"system":"sys","messages":[` +
		`{"role":"user","content":"What is the weather in Paris and Rome?"},` +
		`{"role":"assistant","content":[{"type":"tool_use","id":"call_a","name":"weather","input":{"city":"Paris"}},` +
		`{"type":"tool_use","id":"call_b","name":"weather","input":{"city":"Rome"}}]},` +
		`{"role":"user","content":[{"type":"tool_result","tool_use_id":"call_a","content":"18C"},` +
		`{"type":"tool_result","tool_use_id":"call_b","content":"21C"}]}],` +
		`"tools":[{"name":"weather","description":"Weather by city","input_schema":{"properties":{"city":{"type":"string"}},"type":"object"}}],` +
		`"tool_choice":{"type":"tool","name":"weather"},"stop_sequences":["\n\nHuman:"],"temperature":0.2,"metadata":{"user_id":"meta-user"}}`
	if string(out) != want {
		t.Fatalf("got\n%s\nwant\n%s", out, want)
	}
}

func TestOpenAIToolChoiceMapping(t *testing.T) {
	tools := `"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}]`
	for _, c := range []struct{ extra, want string }{
		{`"tool_choice":"auto"`, `{"type":"auto"}`},
		{`"tool_choice":"none"`, `{"type":"none"}`},
		{`"tool_choice":"required"`, `{"type":"any"}`},
		{`"tool_choice":{"type":"function","function":{"name":"f"}}`, `{"type":"tool","name":"f"}`},
		{`"tool_choice":{"type":"function","function":{"name":"f"}},"parallel_tool_calls":false`, `{"type":"tool","name":"f","disable_parallel_tool_use":true}`},
		{`"parallel_tool_calls":false`, `{"type":"auto","disable_parallel_tool_use":true}`},
		{`"tool_choice":"none","parallel_tool_calls":false`, `{"type":"none"}`},
		{`"parallel_tool_calls":true`, ``},
		{`"tool_choice":null`, ``},
		{``, ``},
	} {
		body := `{"model":"m","messages":[{"role":"user","content":"x"}],` + tools
		if c.extra != "" {
			body += "," + c.extra
		}
		out := mustAnthropic(t, body+"}")
		got := ""
		if i := strings.Index(out, `"tool_choice":`); i >= 0 {
			got = out[i+len(`"tool_choice":`):]
			got = got[:strings.Index(got, "}")+1]
		}
		if got != c.want {
			t.Errorf("%s: tool_choice %q, want %q", c.extra, got, c.want)
		}
	}
	// Without tools, tool_choice is dropped.
	out := mustAnthropic(t, `{"model":"m","messages":[{"role":"user","content":"x"}],"tool_choice":"required","parallel_tool_calls":false}`)
	if out != `{"model":"m","max_tokens":4096,"messages":[{"role":"user","content":"x"}]}` {
		t.Fatalf("no tools: %s", out)
	}
}

func TestOpenAILegacyFunctions(t *testing.T) {
	out := mustAnthropic(t, `{"model":"m","functions":[{"name":"f","description":"d","parameters":{"type":"object","properties":{}}}],
		"function_call":{"name":"f"},
		"messages":[{"role":"user","content":"go"},
		{"role":"assistant","content":null,"function_call":{"name":"f","arguments":"{\"a\":1}"}},
		{"role":"function","name":"f","content":"done"}]}`)
	want := `{"model":"m","max_tokens":4096,"messages":[{"role":"user","content":"go"},` +
		`{"role":"assistant","content":[{"type":"tool_use","id":"call_fn_1","name":"f","input":{"a":1}}]},` +
		`{"role":"user","content":[{"type":"tool_result","tool_use_id":"call_fn_1","content":"done"}]}],` +
		`"tools":[{"name":"f","description":"d","input_schema":{"type":"object","properties":{}}}],"tool_choice":{"type":"tool","name":"f"}}`
	if out != want {
		t.Fatalf("got\n%s\nwant\n%s", out, want)
	}
}

func TestOpenAIMaxTokensStopSamplingUser(t *testing.T) {
	base := `{"model":"m","messages":[{"role":"user","content":"x"}]`
	for _, c := range []struct{ extra, want string }{
		{``, `"max_tokens":4096,"messages":[{"role":"user","content":"x"}]}`},
		{`"max_tokens":100`, `"max_tokens":100,"messages":[{"role":"user","content":"x"}]}`},
		{`"max_completion_tokens":200`, `"max_tokens":200,"messages":[{"role":"user","content":"x"}]}`},
		{`"max_tokens":100,"max_completion_tokens":200`, `"max_tokens":200,"messages":[{"role":"user","content":"x"}]}`},
		{`"max_tokens":null`, `"max_tokens":4096,"messages":[{"role":"user","content":"x"}]}`},
		{`"stop":"###"`, `"max_tokens":4096,"messages":[{"role":"user","content":"x"}],"stop_sequences":["###"]}`},
		{`"stop":["a","","b"]`, `"max_tokens":4096,"messages":[{"role":"user","content":"x"}],"stop_sequences":["a","b"]}`},
		{`"stop":""`, `"max_tokens":4096,"messages":[{"role":"user","content":"x"}]}`},
		{`"stop":null`, `"max_tokens":4096,"messages":[{"role":"user","content":"x"}]}`},
		{`"temperature":0.7,"top_p":1`, `"max_tokens":4096,"messages":[{"role":"user","content":"x"}],"temperature":0.7,"top_p":1}`},
		{`"temperature":2`, `"max_tokens":4096,"messages":[{"role":"user","content":"x"}],"temperature":1}`},
		{`"temperature":0`, `"max_tokens":4096,"messages":[{"role":"user","content":"x"}],"temperature":0}`},
		{`"user":"u"`, `"max_tokens":4096,"messages":[{"role":"user","content":"x"}],"metadata":{"user_id":"u"}}`},
		{`"safety_identifier":"s"`, `"max_tokens":4096,"messages":[{"role":"user","content":"x"}],"metadata":{"user_id":"s"}}`},
		{`"user":"u","safety_identifier":"s"`, `"max_tokens":4096,"messages":[{"role":"user","content":"x"}],"metadata":{"user_id":"u"}}`},
		{`"user":"u","metadata":{"user_id":"m","other":"o"}`, `"max_tokens":4096,"messages":[{"role":"user","content":"x"}],"metadata":{"user_id":"m"}}`},
		{`"metadata":{"other":"o"}`, `"max_tokens":4096,"messages":[{"role":"user","content":"x"}]}`},
		{`"stream":true`, `"max_tokens":4096,"messages":[{"role":"user","content":"x"}],"stream":true}`},
		{`"stream":false,"stream_options":{"include_usage":true}`, `"max_tokens":4096,"messages":[{"role":"user","content":"x"}]}`},
		{`"n":1,"seed":3,"logit_bias":{"1":2},"logprobs":true,"top_logprobs":2,"response_format":{"type":"json_object"},"prompt_cache_key":"k","service_tier":"auto"`,
			`"max_tokens":4096,"messages":[{"role":"user","content":"x"}]}`},
	} {
		body := base
		if c.extra != "" {
			body += "," + c.extra
		}
		if got := mustAnthropic(t, body+"}"); got != `{"model":"m",`+c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.extra, got, `{"model":"m",`+c.want)
		}
	}
}

func TestOpenAIAssistantAndToolEdgeCases(t *testing.T) {
	out := mustAnthropic(t, `{"model":"m","messages":[
		{"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":""},{"type":"text","text":"b"}]},
		{"role":"assistant","content":"","tool_calls":[{"id":"functions.bash:0","type":"function","function":{"name":"bash","arguments":"  "}}]},
		{"role":"tool","tool_call_id":"functions.bash:0","content":null},
		{"role":"assistant","content":null},
		{"role":"user","content":"next"},
		{"role":"assistant","content":[{"type":"text","text":"p1"},{"type":"refusal","refusal":"no"}]},
		{"role":"user","content":"again"},
		{"role":"assistant","content":null,"refusal":"I can't."},
		{"role":"user","content":"ok"},
		{"role":"assistant","content":"prefill"}]}`)
	want := `{"model":"m","max_tokens":4096,"messages":[` +
		`{"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]},` +
		`{"role":"assistant","content":[{"type":"tool_use","id":"functions_bash_0","name":"bash","input":{}}]},` +
		`{"role":"user","content":[{"type":"tool_result","tool_use_id":"functions_bash_0","content":""}]},` +
		`{"role":"user","content":"next"},` +
		`{"role":"assistant","content":[{"type":"text","text":"p1"},{"type":"text","text":"no"}]},` +
		`{"role":"user","content":"again"},` +
		`{"role":"assistant","content":[{"type":"text","text":"I can't."}]},` +
		`{"role":"user","content":"ok"},` +
		`{"role":"assistant","content":"prefill"}]}`
	if out != want {
		t.Fatalf("got\n%s\nwant\n%s", out, want)
	}
	// Arguments sent as a bare object (some clients do) are accepted.
	out = mustAnthropic(t, `{"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":{"a": [1, "<x>"]}}}]}]}`)
	if out != `{"model":"m","max_tokens":4096,"messages":[{"role":"assistant","content":[{"type":"tool_use","id":"c","name":"f","input":{"a":[1,"<x>"]}}]}]}` {
		t.Fatalf("object arguments: %s", out)
	}
	// Tool messages separated by another message are not merged.
	out = mustAnthropic(t, `{"model":"m","messages":[
		{"role":"assistant","tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}}]},
		{"role":"tool","tool_call_id":"c1","content":"r1"},
		{"role":"user","content":"u"},
		{"role":"assistant","tool_calls":[{"id":"c2","type":"function","function":{"name":"f","arguments":"{}"}}]},
		{"role":"tool","tool_call_id":"c2","content":"r2"}]}`)
	want = `{"model":"m","max_tokens":4096,"messages":[` +
		`{"role":"assistant","content":[{"type":"tool_use","id":"c1","name":"f","input":{}}]},` +
		`{"role":"user","content":[{"type":"tool_result","tool_use_id":"c1","content":"r1"}]},` +
		`{"role":"user","content":"u"},` +
		`{"role":"assistant","content":[{"type":"tool_use","id":"c2","name":"f","input":{}}]},` +
		`{"role":"user","content":[{"type":"tool_result","tool_use_id":"c2","content":"r2"}]}]}`
	if out != want {
		t.Fatalf("got\n%s\nwant\n%s", out, want)
	}
}

func TestOpenAIRequestErrors(t *testing.T) {
	for _, bad := range []string{``, `nope`, `[1]`, `{"model":`, `"str"`} {
		if _, err := ParseOpenAIRequest([]byte(bad)); err != ErrInvalidJSON {
			t.Errorf("%q: err = %v, want ErrInvalidJSON", bad, err)
		}
	}
	for _, c := range []struct{ body, param, msg string }{
		{`{"model":"m"}`, "messages", "Missing required parameter: 'messages'."},
		{`{"model":"m","messages":[],"temperature":"hot"}`, "temperature", "Invalid type for 'temperature': expected a number."},
		{`{"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{\"a\":"}}]}]}`,
			"messages[0].tool_calls[0].function.arguments",
			"Invalid 'messages[0].tool_calls[0].function.arguments': the tool call arguments must be a JSON object encoded as a string."},
		{`{"model":"m","messages":[{"role":"user","content":"x"},{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"[1]"}}]}]}`,
			"messages[1].tool_calls[0].function.arguments",
			"Invalid 'messages[1].tool_calls[0].function.arguments': the tool call arguments must be a JSON object encoded as a string."},
		{`{"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":5}}]}]}`,
			"messages[0].tool_calls[0].function.arguments",
			"Invalid 'messages[0].tool_calls[0].function.arguments': the tool call arguments must be a JSON object encoded as a string."},
		{`{"model":"m","messages":[{"role":"assistant","tool_calls":[{"type":"function","function":{"name":"f","arguments":"{}"}}]}]}`,
			"messages[0].tool_calls[0].id", "Missing required parameter: 'messages[0].tool_calls[0].id'."},
		{`{"model":"m","messages":[{"role":"tool","content":"x"}]}`, "messages[0].tool_call_id", "Missing required parameter: 'messages[0].tool_call_id'."},
		{`{"model":"m","messages":[{"role":"function","content":"x"}]}`, "messages[0]", "A 'function' message must follow an assistant message with a function_call."},
		{`{"model":"m","messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{"data":"x","format":"wav"}}]}]}`,
			"messages[0].content[0].type", "Unsupported content part type 'input_audio': only text, image_url and PDF file parts can be translated."},
		{`{"model":"m","messages":[{"role":"user","content":[{"type":"file","file":{"file_id":"file-1"}}]}]}`,
			"messages[0].content[0].file", "Unsupported file part in 'messages[0].content[0]': only inline file_data (a PDF data: URL) can be translated, not file_id."},
		{`{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"ftp://x/y.png"}}]}]}`,
			"messages[0].content[0].image_url.url", "Unsupported image URL in 'messages[0].content[0].image_url.url': expected a data: URL or an http(s) URL."},
		{`{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/svg+xml,<svg/>"}}]}]}`,
			"messages[0].content[0].image_url.url", "Invalid image data URL in 'messages[0].content[0].image_url.url': expected data:<media type>;base64,<data>."},
		{`{"model":"m","messages":[{"role":"critic","content":"x"}]}`, "messages[0].role", "Unsupported role 'critic' in 'messages[0]'."},
		{`{"model":"m","messages":[{"role":"user","content":42}]}`, "messages[0].content", "Invalid type for 'messages[0].content': expected a string or an array of content parts."},
		{`{"model":"m","messages":[],"stop":5}`, "stop", "Invalid type for 'stop': expected a string or an array of strings."},
		{`{"model":"m","messages":[],"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":"sometimes"}`,
			"tool_choice", "Invalid value for 'tool_choice': expected 'auto', 'none', 'required' or a named function."},
		{`{"model":"m","messages":[],"tools":[{"type":"custom","custom":{"name":"f"}}]}`,
			"tools[0].type", "Unsupported tool type 'custom': only function tools can be translated."},
		{`{"model":"m","messages":[],"tools":[{"type":"function","function":{"name":"f","parameters":[1]}}]}`,
			"tools[0].function.parameters", "Invalid type for 'tools[0].function.parameters': expected a JSON schema object."},
	} {
		_, err := ParseOpenAIRequest([]byte(c.body))
		var re *RequestError
		if !errors.As(err, &re) {
			t.Errorf("%s: err = %v, want *RequestError", c.body, err)
			continue
		}
		if re.Param != c.param || re.Message != c.msg {
			t.Errorf("%s:\n got param %q msg %q\nwant param %q msg %q", c.body, re.Param, re.Message, c.param, c.msg)
		}
	}
	r := mustParseOpenAI(t, `{"model":"m","n":3,"messages":[{"role":"user","content":"x"}]}`)
	if err := r.ValidateForAnthropic(); err == nil || err.Error() != "n must be 1 for Claude models (got 3): only one choice can be generated." {
		t.Fatalf("n=3: %v", err)
	}
	if err := mustParseOpenAI(t, `{"model":"m","n":1,"messages":[]}`).ValidateForAnthropic(); err != nil {
		t.Fatal(err)
	}
}

// TestOpenAIRequestRoundTrip: OpenAI → internal form → OpenAI request for an
// OpenAI upstream. Tool results survive (the prior art dropped them) and every
// non-message field is the client's own.
func TestOpenAIRequestRoundTrip(t *testing.T) {
	body := `{"model":"gpt-4.1","temperature":1.5,"seed":7,"stream":true,"stream_options":{"include_usage":true},"messages":[
		{"role":"system","content":"sys <a&b>"},
		{"role":"user","content":[{"type":"text","text":"see"},{"type":"image_url","image_url":{"url":"data:image/jpeg;base64,/9j/4AAQ"}},{"type":"image_url","image_url":{"url":"https://x.test/i.png"}},{"type":"file","file":{"file_data":"data:application/pdf;base64,JVBERi0="}}]},
		{"role":"assistant","content":"two calls","tool_calls":[
			{"id":"call_1","type":"function","function":{"name":"read","arguments":"{\"p\": 1}"}},
			{"id":"call_2","type":"function","function":{"name":"ls","arguments":"{}"}}]},
		{"role":"tool","tool_call_id":"call_1","content":"one"},
		{"role":"tool","tool_call_id":"call_2","content":[{"type":"text","text":"two"}]},
		{"role":"assistant","content":null,"tool_calls":[{"id":"call_3","type":"function","function":{"name":"ls","arguments":"{}"}}]},
		{"role":"tool","tool_call_id":"call_3","content":"three"},
		{"role":"assistant","content":"done"},
		{"role":"user","content":"bye"}],"tools":[{"type":"function","function":{"name":"read","parameters":{"type":"object"}}}],"tool_choice":"auto"}`
	r := mustParseOpenAI(t, body)
	anth, err := r.ToAnthropic()
	if err != nil {
		t.Fatal(err)
	}
	out, err := r.ToOpenAI(anth)
	if err != nil {
		t.Fatal(err)
	}
	wantMsgs := `[{"role":"system","content":"sys <a&b>"},` +
		`{"role":"user","content":[{"type":"text","text":"see"},{"type":"image_url","image_url":{"url":"data:image/jpeg;base64,/9j/4AAQ"}},{"type":"image_url","image_url":{"url":"https://x.test/i.png"}},{"type":"file","file":{"file_data":"data:application/pdf;base64,JVBERi0="}}]},` +
		`{"role":"assistant","content":"two calls","tool_calls":[{"id":"call_1","type":"function","function":{"name":"read","arguments":"{\"p\":1}"}},{"id":"call_2","type":"function","function":{"name":"ls","arguments":"{}"}}]},` +
		`{"role":"tool","content":"one","tool_call_id":"call_1"},` +
		`{"role":"tool","content":[{"type":"text","text":"two"}],"tool_call_id":"call_2"},` +
		`{"role":"assistant","content":null,"tool_calls":[{"id":"call_3","type":"function","function":{"name":"ls","arguments":"{}"}}]},` +
		`{"role":"tool","content":"three","tool_call_id":"call_3"},` +
		`{"role":"assistant","content":"done"},` +
		`{"role":"user","content":"bye"}]`
	var got map[string]json.RawMessage
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	if string(got["messages"]) != wantMsgs {
		t.Fatalf("messages\n%s\nwant\n%s", got["messages"], wantMsgs)
	}
	// Everything else is byte for byte the client's (temperature not clamped,
	// seed and stream_options kept for the OpenAI upstream).
	for k, v := range map[string]string{"model": `"gpt-4.1"`, "temperature": `1.5`, "seed": `7`, "stream": `true`,
		"stream_options": `{"include_usage":true}`, "tool_choice": `"auto"`,
		"tools": `[{"type":"function","function":{"name":"read","parameters":{"type":"object"}}}]`} {
		if string(got[k]) != v {
			t.Errorf("%s = %s, want %s", k, got[k], v)
		}
	}
	if !strings.HasPrefix(string(out), `{"model":"gpt-4.1","temperature":1.5,"seed":7,`) {
		t.Errorf("field order not kept: %.60s", out)
	}
	// openai-go reads the rebuilt request.
	var p openai.ChatCompletionNewParams
	if err := json.Unmarshal(out, &p); err != nil {
		t.Fatal(err)
	}
	if len(p.Messages) != 9 || p.Messages[3].OfTool == nil || p.Messages[3].OfTool.ToolCallID != "call_1" ||
		p.Messages[3].OfTool.Content.OfString.Value != "one" ||
		p.Messages[2].OfAssistant == nil || len(p.Messages[2].OfAssistant.ToolCalls) != 2 ||
		p.Messages[2].OfAssistant.ToolCalls[1].OfFunction == nil || p.Messages[2].OfAssistant.ToolCalls[1].OfFunction.Function.Name != "ls" {
		t.Fatalf("SDK view of rebuilt request: %+v", p.Messages)
	}

	// Pipeline output with array system, thinking, a tool result carrying an
	// image and text after the results.
	anth2 := `{"system":[{"type":"text","text":"A"},{"type":"text","text":"B","cache_control":{"type":"ephemeral"}}],"messages":[
		{"role":"assistant","content":[{"type":"thinking","thinking":"t","signature":"s"},{"type":"tool_use","id":"toolu_1","name":"shot","input":{}}]},
		{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","is_error":true,"content":[{"type":"text","text":"err"},{"type":"image","source":{"type":"base64","media_type":"image/png","data":"AA=="}}]},{"type":"text","text":"and?","cache_control":{"type":"ephemeral"}}]},
		{"role":"assistant","content":[{"type":"thinking","thinking":"t","signature":"s"}]}]}`
	out, err = mustParseOpenAI(t, `{"model":"gpt-4.1","messages":[]}`).ToOpenAI([]byte(anth2))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"model":"gpt-4.1","messages":[{"role":"system","content":"A\n\nB"},` +
		`{"role":"assistant","content":null,"tool_calls":[{"id":"toolu_1","type":"function","function":{"name":"shot","arguments":"{}"}}]},` +
		`{"role":"tool","content":[{"type":"text","text":"err"},{"type":"text","text":"[image omitted]"}],"tool_call_id":"toolu_1"},` +
		`{"role":"user","content":[{"type":"text","text":"and?"}]},` +
		`{"role":"assistant","content":""}]}`
	if string(out) != want {
		t.Fatalf("got\n%s\nwant\n%s", out, want)
	}
	if _, err := r.ToOpenAI([]byte(`not json`)); err != ErrInvalidJSON {
		t.Fatalf("bad internal body: %v", err)
	}
}
