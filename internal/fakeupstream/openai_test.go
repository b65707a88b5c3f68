package fakeupstream

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	oaoption "github.com/openai/openai-go/v3/option"
)

func oaClient(s *Server, key string) *openai.Client {
	c := openai.NewClient(oaoption.WithBaseURL(s.URL()+"/v1/"), oaoption.WithAPIKey(key), oaoption.WithMaxRetries(0))
	return &c
}

func TestOpenAIJSON(t *testing.T) {
	s, _ := newServer(t, Options{})
	c := oaClient(s, keyA)
	res, err := c.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model:    "gpt-4.1",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.SystemMessage("be brief"), openai.UserMessage("hello")},
	})
	if err != nil {
		t.Fatal(err)
	}
	// "be brief" 8 + "hello" 5 = 13 chars → 4 tokens; "ok (turn 1)" → 3.
	if res.Object != "chat.completion" || res.Model != "gpt-4.1" || !strings.HasPrefix(res.ID, "chatcmpl-") ||
		res.Choices[0].Message.Content != "ok (turn 1)" || res.Choices[0].FinishReason != "stop" ||
		res.Usage.PromptTokens != 4 || res.Usage.CompletionTokens != 3 || res.Usage.TotalTokens != 7 {
		t.Fatalf("%s", res.RawJSON())
	}
	if got := s.Requests()[0].Header.Get("Authorization"); got != "Bearer "+keyA {
		t.Fatalf("auth header %q", got)
	}
}

func TestOpenAIToolCallsJSONThenAnswer(t *testing.T) {
	s, _ := newServer(t, Options{})
	c := oaClient(s, keyA)
	p := openai.ChatCompletionNewParams{Model: "gpt-4.1", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("do it [[tool:bash]]")}}
	res, err := c.Chat.Completions.New(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	m := res.Choices[0].Message
	if res.Choices[0].FinishReason != "tool_calls" || len(m.ToolCalls) != 1 || m.ToolCalls[0].Function.Name != "bash" ||
		m.ToolCalls[0].Function.Arguments != `{"command":"echo hi"}` || !regexp.MustCompile(`^call_[0-9a-f]{24}$`).MatchString(m.ToolCalls[0].ID) {
		t.Fatalf("%s", res.RawJSON())
	}
	p.Messages = append(p.Messages, m.ToParam(), openai.ToolMessage("hi", m.ToolCalls[0].ID))
	res, err = c.Chat.Completions.New(context.Background(), p)
	if err != nil || res.Choices[0].Message.Content != "ok (turn 2)" || res.Choices[0].FinishReason != "stop" {
		t.Fatalf("%v %v", err, res)
	}
	// A tool message answering nothing.
	p.Messages = []openai.ChatCompletionMessageParamUnion{openai.UserMessage("x"), openai.ToolMessage("hi", "call_nope")}
	_, err = c.Chat.Completions.New(context.Background(), p)
	var oe *openai.Error
	//nolint:misspell // the real API's message, typo included
	if !errors.As(err, &oe) || oe.StatusCode != 400 || oe.Message != "Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls'." {
		t.Fatalf("%v", err)
	}
}

func TestOpenAIStream(t *testing.T) {
	s, _ := newServer(t, Options{})
	c := oaClient(s, keyA)
	stream := c.Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{
		Model:         "gpt-4.1",
		Messages:      []openai.ChatCompletionMessageParamUnion{openai.UserMessage("go [[tool:read_file]]")},
		StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
	})
	acc := openai.ChatCompletionAccumulator{}
	chunks := 0
	for stream.Next() {
		acc.AddChunk(stream.Current())
		chunks++
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	ch := acc.Choices[0]
	// "go [[tool:read_file]]" = 21 chars → 6; output 11 + 9 + 21 = 41 → 11.
	if ch.Message.Content != "ok (turn 1)" || ch.FinishReason != "tool_calls" || len(ch.Message.ToolCalls) != 1 ||
		ch.Message.ToolCalls[0].Function.Name != "read_file" || ch.Message.ToolCalls[0].Function.Arguments != `{"command":"echo hi"}` ||
		acc.Usage.PromptTokens != 6 || acc.Usage.CompletionTokens != 11 {
		t.Fatalf("accumulated %s usage %+v", mustJSON(t, ch), acc.Usage)
	}
	// role, 3 text, tool start + 2 arg pieces, finish, usage.
	if chunks != 9 {
		t.Fatalf("chunks = %d", chunks)
	}
}

func TestOpenAIRawStreamFraming(t *testing.T) {
	s, _ := newServer(t, Options{})
	r := do(t, http.MethodPost, s.URL()+"/v1/chat/completions", `{"model":"g","stream":true,"messages":[{"role":"user","content":"hey"}]}`, "Authorization: Bearer "+keyA)
	got := regexp.MustCompile(`"id":"chatcmpl-\w+","object":"chat.completion.chunk","created":\d+`).ReplaceAllString(r.Body, `ID`)
	want := `data: {ID,"model":"g","service_tier":"default","system_fingerprint":"fp_fake","choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}]}

data: {ID,"model":"g","service_tier":"default","system_fingerprint":"fp_fake","choices":[{"index":0,"delta":{"content":"ok "},"logprobs":null,"finish_reason":null}]}

data: {ID,"model":"g","service_tier":"default","system_fingerprint":"fp_fake","choices":[{"index":0,"delta":{"content":"(turn "},"logprobs":null,"finish_reason":null}]}

data: {ID,"model":"g","service_tier":"default","system_fingerprint":"fp_fake","choices":[{"index":0,"delta":{"content":"1)"},"logprobs":null,"finish_reason":null}]}

data: {ID,"model":"g","service_tier":"default","system_fingerprint":"fp_fake","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]}

data: [DONE]

`
	if r.Status != 200 || got != want || strings.Contains(r.Body, "event:") {
		t.Fatalf("%d\n%s\nwant\n%s", r.Status, got, want)
	}
}

func TestOpenAIErrors(t *testing.T) {
	s, _ := newServer(t, Options{ContextLimit: 5})
	var oe *openai.Error
	_, err := oaClient(s, "sk-bad-key-1234").Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model: "g", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("x")}})
	if !errors.As(err, &oe) || oe.StatusCode != 401 || oe.Code != "invalid_api_key" || oe.Type != "invalid_request_error" ||
		oe.Message != "Incorrect API key provided: sk-*****1234. You can find your API key at https://platform.openai.com/account/api-keys." {
		t.Fatalf("%v", err)
	}
	// An Anthropic OAuth token is not an OpenAI key.
	r := do(t, http.MethodPost, s.URL()+"/v1/chat/completions", `{}`, "Authorization: Bearer "+oauthT)
	if r.Status != 401 {
		t.Fatal(r.Status)
	}
	r = do(t, http.MethodPost, s.URL()+"/v1/chat/completions", `{}`)
	if r.Status != 401 || !strings.Contains(r.Body, `"message":"You didn't provide an API key.`) {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	_, err = oaClient(s, keyA).Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model: "g", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(strings.Repeat("y", 24))}})
	if !errors.As(err, &oe) || oe.StatusCode != 400 || oe.Code != "context_length_exceeded" || oe.Param != "messages" ||
		oe.Message != "This model's maximum context length is 5 tokens. However, your messages resulted in 6 tokens. Please reduce the length of the messages." {
		t.Fatalf("%v", err)
	}
	// Mid-stream error.
	stream := oaClient(s, keyA).Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{
		Model: "g", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("[[stream:error]]")}})
	for stream.Next() {
	}
	if err := stream.Err(); err == nil || !strings.Contains(err.Error(), "overloaded") {
		t.Fatalf("stream err %v", err)
	}
}
