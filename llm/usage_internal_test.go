package llm

import (
	"testing"

	"github.com/caddy-lore/caddy-lore/pricing"
)

func TestAnswerUsage(t *testing.T) {
	model, u, ok := AnswerUsage([]byte(`{"model":"claude-haiku-4-5","usage":{"input_tokens":10,"output_tokens":3,"cache_read_input_tokens":100,"cache_creation_input_tokens":20}}`))
	if !ok || model != "claude-haiku-4-5" || u != (pricing.Usage{InputTokens: 10, OutputTokens: 3, CacheReadTokens: 100, CacheWriteTokens: 20}) {
		t.Errorf("messages: %q %+v %v", model, u, ok)
	}
	// Chat completions: cached prompt tokens are cache reads, the rest input.
	model, u, ok = AnswerUsage([]byte(`{"model":"gpt-5-mini","usage":{"prompt_tokens":110,"completion_tokens":7,"prompt_tokens_details":{"cached_tokens":100}}}`))
	if !ok || model != "gpt-5-mini" || u != (pricing.Usage{InputTokens: 10, OutputTokens: 7, CacheReadTokens: 100}) {
		t.Errorf("chat: %q %+v %v", model, u, ok)
	}
	// Cache writes reported by OpenAI are not input, and input never goes
	// below zero (the OpenAI routes' mapping, translate.FromOpenAIUsage).
	model, u, ok = AnswerUsage([]byte(`{"model":"gpt-5-mini","usage":{"prompt_tokens":110,"completion_tokens":7,"prompt_tokens_details":{"cached_tokens":60,"cache_write_tokens":40}}}`))
	if !ok || model != "gpt-5-mini" || u != (pricing.Usage{InputTokens: 10, OutputTokens: 7, CacheReadTokens: 60, CacheWriteTokens: 40}) {
		t.Errorf("chat with cache writes: %q %+v %v", model, u, ok)
	}
	if _, u, _ = AnswerUsage([]byte(`{"usage":{"prompt_tokens":5,"completion_tokens":1,"prompt_tokens_details":{"cached_tokens":9}}}`)); u.InputTokens != 0 {
		t.Errorf("chat with more cached than prompt tokens: %+v", u)
	}
	if _, _, ok := AnswerUsage([]byte(`{"content":[]}`)); ok {
		t.Error("no usage reported as usage")
	}
}
