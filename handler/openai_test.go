package handler

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/caddy-lore/caddy-lore/internal/fakeupstream"
)

func openAIClient(e *env, key string) openai.Client {
	return openai.NewClient(option.WithBaseURL(e.srv.URL+"/v1/"), option.WithAPIKey(key), option.WithMaxRetries(0))
}

// streamedText streams a chat completion and returns its text.
func streamedText(c openai.Client, params openai.ChatCompletionNewParams) (string, error) {
	stream := c.Chat.Completions.NewStreaming(context.Background(), params)
	var text strings.Builder
	for stream.Next() {
		if ch := stream.Current(); len(ch.Choices) > 0 {
			text.WriteString(ch.Choices[0].Delta.Content)
		}
	}
	return text.String(), stream.Err()
}

func chatParams(model string, extra ...openai.ChatCompletionMessageParamUnion) openai.ChatCompletionNewParams {
	msgs := []openai.ChatCompletionMessageParamUnion{
		openai.SystemMessage("You are a coding agent. " + strings.Repeat("Be precise. ", 50)),
		openai.UserMessage("refactor the parser"),
	}
	msgs = append(msgs, extra...)
	return openai.ChatCompletionNewParams{
		Model:    model,
		Messages: msgs,
		Tools: []openai.ChatCompletionToolUnionParam{
			openai.ChatCompletionFunctionTool(openai.FunctionDefinitionParam{Name: "bash"}),
			openai.ChatCompletionFunctionTool(openai.FunctionDefinitionParam{Name: "read"}),
			openai.ChatCompletionFunctionTool(openai.FunctionDefinitionParam{Name: "edit"}),
		},
	}
}

// docs/architecture.md, Routes (POST /v1/chat/completions): OpenAI clients get
// the whole pipeline; Claude models go to the Anthropic upstream, translated
// both ways.
func TestOpenAIRouteClaude(t *testing.T) {
	e := newEnv(t)
	c := openAIClient(e, keyA)
	resp, err := c.Chat.Completions.New(context.Background(), chatParams("claude-sonnet-4-5"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(resp.ID, "chatcmpl-") || resp.Choices[0].Message.Content != "ok (turn 1)" ||
		resp.Choices[0].FinishReason != "stop" || resp.Usage.TotalTokens != resp.Usage.PromptTokens+resp.Usage.CompletionTokens {
		t.Fatalf("response %+v", resp)
	}
	up := e.lastUpstream("/v1/messages")
	if up.Header.Get("X-Api-Key") != keyA || up.Header.Get("Authorization") != "" {
		t.Fatalf("an Anthropic key sent as Bearer goes upstream as x-api-key: %v", up.Header)
	}

	// Streaming with a tool call, then the tool result round trip.
	stream := c.Chat.Completions.NewStreaming(context.Background(), chatParams("claude-sonnet-4-5",
		openai.AssistantMessage("ok (turn 1)"), openai.UserMessage("run it [[tool:bash]]")))
	acc := openai.ChatCompletionAccumulator{}
	for stream.Next() {
		acc.AddChunk(stream.Current())
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	calls := acc.Choices[0].Message.ToolCalls
	if len(calls) != 1 || calls[0].Function.Name != "bash" || acc.Choices[0].FinishReason != "tool_calls" {
		t.Fatalf("streamed tool call: %+v", acc.Choices)
	}
	params := chatParams("claude-sonnet-4-5", openai.AssistantMessage("ok (turn 1)"), openai.UserMessage("run it [[tool:bash]]"),
		acc.Choices[0].Message.ToParam(), openai.ToolMessage("hi\n", calls[0].ID))
	_, err = c.Chat.Completions.New(context.Background(), params)
	if err != nil {
		t.Fatal(err)
	}
	sent := string(e.lastUpstream("/v1/messages").Body)
	if !strings.Contains(sent, `"type":"tool_result"`) || !strings.Contains(sent, calls[0].ID) {
		t.Fatalf("the tool result must reach the upstream: %s", sent)
	}
	e.settle()
	if ids := e.sessionIDs(); len(ids) != 1 || len(e.messages(ids[0])) != 6 {
		t.Fatalf("one session with the whole conversation expected: %v", ids)
	}

	// Errors in OpenAI's shape.
	wrong := openAIClient(e, "sk-ant-api03-wrong")
	_, err = wrong.Chat.Completions.New(context.Background(), chatParams("claude-sonnet-4-5"))
	var apiErr *openai.Error
	if !errorsAs(err, &apiErr) || apiErr.StatusCode != 401 {
		t.Fatalf("refused credential: %v", err)
	}
	status, _, body := e.post("/v1/chat/completions", `{"model":`, "Authorization", "Bearer "+keyA)
	if status != 400 || !strings.Contains(body, `"error":{"message"`) {
		t.Fatalf("malformed: %d %s", status, body)
	}
}

func TestOpenAIRouteOtherModel(t *testing.T) {
	e := newEnv(t)
	c := openAIClient(e, keyB)
	resp, err := c.Chat.Completions.New(context.Background(), chatParams("gpt-5"))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Choices[0].Message.Content != "ok (turn 1)" {
		t.Fatalf("%+v", resp)
	}
	up := e.lastUpstream("/v1/chat/completions")
	if up.Header.Get("Authorization") != "Bearer "+keyB || up.Header.Get("X-Api-Key") != "" {
		t.Fatalf("OpenAI upstreams always get Bearer: %v", up.Header)
	}
	if text, err := streamedText(c, chatParams("gpt-5", openai.AssistantMessage("ok (turn 1)"), openai.UserMessage("again"))); err != nil || text != "ok (turn 2)" {
		t.Fatalf("stream %q %v", text, err)
	}
	e.settle()
	if ids := e.sessionIDs(); len(ids) != 1 || len(e.messages(ids[0])) != 4 {
		t.Fatalf("OpenAI-upstream turns are stored too: %v", ids)
	}
}

// A small chat completion is a utility call (docs/architecture.md,
// Classification): forwarded untransformed through the route's egress, its
// answer, stream or error relayed in OpenAI's shape, nothing stored.
func TestOpenAIUtilityCallRelayed(t *testing.T) {
	for _, c := range []struct{ model, upstreamPath, key string }{
		{"gpt-5", "/v1/chat/completions", keyB},
		{"claude-haiku-4-5", "/v1/messages", keyA},
	} {
		t.Run(c.model, func(t *testing.T) {
			e := newEnv(t)
			cl := openAIClient(e, c.key)
			params := openai.ChatCompletionNewParams{Model: c.model, Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("a title for: fix the parser")}}
			resp, err := cl.Chat.Completions.New(context.Background(), params)
			if err != nil || len(resp.Choices) != 1 || resp.Choices[0].Message.Content != "ok (turn 1)" {
				t.Fatalf("json: %+v %v", resp, err)
			}
			if up := e.lastUpstream(c.upstreamPath); !strings.Contains(string(up.Body), "a title for: fix the parser") {
				t.Fatalf("upstream body %s", up.Body)
			}
			if text, err := streamedText(cl, params); err != nil || text != "ok (turn 1)" {
				t.Fatalf("stream %q %v", text, err)
			}
			e.fake.FailNext(fakeupstream.Failure{Path: c.upstreamPath, Status: http.StatusTooManyRequests})
			_, err = cl.Chat.Completions.New(context.Background(), params)
			var apiErr *openai.Error
			if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusTooManyRequests {
				t.Fatalf("upstream 429: %v", err)
			}
			e.settle()
			if ids := e.sessionIDs(); len(ids) != 0 {
				t.Fatalf("a utility call is not a session: %v", ids)
			}
		})
	}
}
