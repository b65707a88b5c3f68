package llm

import (
	"encoding/json"
	"fmt"
	"strings"
)

// DefaultOpenAIUpstream is the base URL of OpenAI-provider worker calls when
// none is configured.
const DefaultOpenAIUpstream = "https://api.openai.com"

// DefaultOpenAIModel is the worker model of sessions whose credential belongs
// to openai_upstream (openai_worker_model): a small current model, as
// claude-haiku-4-5 is on the Anthropic side.
const DefaultOpenAIModel = "gpt-5-mini"

// chatMessage is one message of a chat completions request.
type chatMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// chatParams is the chat completions body of a worker call. max_completion_tokens
// rather than max_tokens: OpenAI's reasoning models refuse the latter, and
// OpenAI-compatible servers (vLLM, Ollama, OpenRouter) accept it.
type chatParams struct {
	Model               string        `json:"model"`
	MaxCompletionTokens int           `json:"max_completion_tokens"`
	Messages            []chatMessage `json:"messages"`
}

// OpenAIModel is the model of a call billed to an OpenAI-provider
// credential: the call's own model when it names a non-Claude one, else
// openai_worker_model (the distiller and curator ask for worker_model, a
// Claude model that openai_upstream does not serve).
func (w *Worker) OpenAIModel(c Call) string {
	m := strings.ToLower(c.Model)
	if c.Model == "" || strings.HasPrefix(m, "claude") || strings.HasPrefix(m, "anthropic/") {
		return w.cfg.OpenAIModel
	}
	return c.Model
}

// ChatParams is the chat completions request body of c: the system prompt as
// a system message, the user text as one user message.
func (w *Worker) ChatParams(c Call) json.RawMessage {
	p := chatParams{Model: w.OpenAIModel(c), MaxCompletionTokens: c.MaxTokens}
	if p.MaxCompletionTokens <= 0 {
		p.MaxCompletionTokens = DefaultMaxTokens
	}
	if c.System != "" {
		p.Messages = append(p.Messages, chatMessage{Role: "system", Content: c.System})
	}
	p.Messages = append(p.Messages, chatMessage{Role: "user", Content: c.User})
	b, err := json.Marshal(p)
	if err != nil {
		panic("llm: marshal chat params: " + err.Error()) // strings and ints only
	}
	return b
}

// FirstChoiceText returns the message content of a chat completion's first
// choice (a worker answer, or a row of an OpenAI batch's output file).
func FirstChoiceText(body []byte) (string, error) {
	var ans struct {
		Choices []struct {
			Message struct {
				Content *string `json:"content"`
			} `json:"message"`
		} `json:"choices"`
	}
	if err := json.Unmarshal(body, &ans); err != nil {
		return "", fmt.Errorf("llm: answer is not a chat completion: %w", err)
	}
	if len(ans.Choices) == 0 || ans.Choices[0].Message.Content == nil {
		return "", ErrNoText
	}
	return *ans.Choices[0].Message.Content, nil
}
