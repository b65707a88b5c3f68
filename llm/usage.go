package llm

import (
	"context"
	"encoding/json"
)

// Usage is the token usage a worker call's answer reports, in Anthropic's
// terms (an OpenAI answer's cached prompt tokens are its cache reads; its
// other prompt tokens are input).
type Usage struct {
	Input, Output, CacheRead, CacheWrite int64
}

// answerUsage reads the model and usage of a Messages or chat completions
// answer; ok is false when it reports none.
func answerUsage(body []byte) (model string, u Usage, ok bool) {
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
		return "", Usage{}, false
	}
	a := ans.Usage
	if a.Prompt > 0 || a.Completion > 0 {
		return ans.Model, Usage{Input: a.Prompt - a.Details.Cached, Output: a.Completion, CacheRead: a.Details.Cached}, true
	}
	return ans.Model, Usage{Input: a.Input, Output: a.Output, CacheRead: a.CacheRead, CacheWrite: a.CacheWrite}, true
}

// reportUsage tells OnUsage what a synchronous call of a session used.
func (w *Worker) reportUsage(ctx context.Context, c Call, answer []byte) {
	if w.cfg.OnUsage == nil || c.SessionID == "" {
		return
	}
	model, u, ok := answerUsage(answer)
	if !ok {
		return
	}
	if model == "" {
		model = c.Model
	}
	w.cfg.OnUsage(ctx, c, model, u)
}
