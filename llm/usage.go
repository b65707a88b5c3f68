package llm

import (
	"context"
	"encoding/json"

	"github.com/caddy-lore/caddy-lore/handler/translate"
	"github.com/caddy-lore/caddy-lore/pricing"
)

// AnswerUsage reads the model and usage of a Messages or chat completions
// answer; ok is false when it reports none. A chat completions usage maps
// as the gateway's OpenAI routes map it (translate.FromOpenAIUsage), so a
// worker answer and a relayed one count the same tokens the same way.
func AnswerUsage(body []byte) (model string, u pricing.Usage, ok bool) {
	var ans struct {
		Model string          `json:"model"`
		Usage json.RawMessage `json:"usage"`
	}
	if json.Unmarshal(body, &ans) != nil || len(ans.Usage) == 0 || string(ans.Usage) == "null" {
		return "", pricing.Usage{}, false
	}
	var o translate.OpenAIUsage
	if json.Unmarshal(ans.Usage, &o) == nil && (o.PromptTokens > 0 || o.CompletionTokens > 0) {
		return ans.Model, translate.FromOpenAIUsage(o), true
	}
	if json.Unmarshal(ans.Usage, &u) != nil {
		return "", pricing.Usage{}, false
	}
	return ans.Model, u, true
}

// reportUsage tells OnUsage what a synchronous call of a session used.
func (w *Worker) reportUsage(ctx context.Context, c Call, answer []byte) {
	if w.cfg.OnUsage == nil || c.SessionID == "" {
		return
	}
	model, u, ok := AnswerUsage(answer)
	if !ok {
		return
	}
	if model == "" {
		model = c.Model
	}
	w.cfg.OnUsage(ctx, c, model, u)
}
