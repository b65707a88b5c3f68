package llm

import (
	"context"
	"encoding/json"

	"github.com/caddy-lore/caddy-lore/pricing"
)

// AnswerUsage reads the model and usage of a Messages or chat completions
// answer; ok is false when it reports none.
func AnswerUsage(body []byte) (model string, u pricing.Usage, ok bool) {
	var ans struct {
		Model string `json:"model"`
		Usage *struct {
			Input      int64 `json:"input_tokens"`
			Output     int64 `json:"output_tokens"`
			CacheRead  int64 `json:"cache_read_input_tokens"`
			CacheWrite int64 `json:"cache_creation_input_tokens"`
			Prompt     int64 `json:"prompt_tokens"`
			Completion int64 `json:"completion_tokens"`
			Details    struct {
				Cached int64 `json:"cached_tokens"`
			} `json:"prompt_tokens_details"`
		} `json:"usage"`
	}
	if json.Unmarshal(body, &ans) != nil || ans.Usage == nil {
		return "", pricing.Usage{}, false
	}
	a := ans.Usage
	if a.Prompt > 0 || a.Completion > 0 {
		return ans.Model, pricing.Usage{InputTokens: a.Prompt - a.Details.Cached, OutputTokens: a.Completion, CacheReadTokens: a.Details.Cached}, true
	}
	return ans.Model, pricing.Usage{InputTokens: a.Input, OutputTokens: a.Output, CacheReadTokens: a.CacheRead, CacheWriteTokens: a.CacheWrite}, true
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
