package translate

import (
	"bytes"
	"encoding/json"
)

// OpenAIAccumulator rebuilds an OpenAI upstream's streamed answer (data:-only
// SSE chunks, relayed to the client unchanged) into the stored Response, with
// the same mapping as ParseOpenAIResponse. Only choice 0 is kept.
type OpenAIAccumulator struct {
	id, model string
	content   openAIContent
	finish    string
	usage     *OpenAIUsage
	sawDone   bool
	errored   bool
}

// Add folds in the data of one SSE event: a chat.completion.chunk, "[DONE]",
// or an error object. Anything else is ignored.
//
// Tool-call deltas are keyed by their index; a provider that omits the index
// starts a new call with every id it sends and continues the last one
// otherwise. Name and id are taken from the first delta that has them.
func (a *OpenAIAccumulator) Add(data []byte) {
	data = bytes.TrimSpace(data)
	if bytes.Equal(data, []byte("[DONE]")) {
		a.sawDone = true
		return
	}
	var c struct {
		ID      string `json:"id"`
		Model   string `json:"model"`
		Choices []struct {
			Index int `json:"index"`
			Delta struct {
				Content   *string `json:"content"`
				Refusal   *string `json:"refusal"`
				ToolCalls []struct {
					Index    *int        `json:"index"`
					ID       string      `json:"id"`
					Function oaiFunction `json:"function"`
				} `json:"tool_calls"`
				FunctionCall *oaiFunction `json:"function_call"`
			} `json:"delta"`
			FinishReason *string `json:"finish_reason"`
		} `json:"choices"`
		Usage *OpenAIUsage    `json:"usage"`
		Error json.RawMessage `json:"error"`
	}
	if json.Unmarshal(data, &c) != nil {
		return
	}
	if !isNull(c.Error) {
		a.errored = true
		return
	}
	if a.id == "" {
		a.id = c.ID
	}
	if a.model == "" {
		a.model = c.Model
	}
	if c.Usage != nil {
		a.usage = c.Usage
	}
	for _, ch := range c.Choices {
		if ch.Index != 0 {
			continue
		}
		d := ch.Delta
		if d.Content != nil {
			a.content.text.WriteString(*d.Content)
		}
		if d.Refusal != nil {
			a.content.text.WriteString(*d.Refusal)
		}
		for _, tc := range d.ToolCalls {
			var call *openAICall
			calls := &a.content.calls
			switch {
			case tc.Index != nil && *tc.Index >= 0 && *tc.Index < 1<<16:
				for len(*calls) <= *tc.Index {
					*calls = append(*calls, nil)
				}
				if (*calls)[*tc.Index] == nil {
					(*calls)[*tc.Index] = &openAICall{}
				}
				call = (*calls)[*tc.Index]
			case tc.ID != "" || len(*calls) == 0 || (*calls)[len(*calls)-1] == nil:
				call = &openAICall{}
				*calls = append(*calls, call)
			default:
				call = (*calls)[len(*calls)-1]
			}
			if call.id == "" {
				call.id = tc.ID
			}
			if call.name == "" {
				call.name = tc.Function.Name
			}
			call.args.WriteString(tc.Function.Arguments)
		}
		if fc := d.FunctionCall; fc != nil {
			if len(a.content.calls) == 0 {
				a.content.calls = append(a.content.calls, &openAICall{id: "call_fn_0"})
			}
			call := a.content.calls[0]
			if call.name == "" {
				call.name = fc.Name
			}
			call.args.WriteString(fc.Arguments)
		}
		if ch.FinishReason != nil && *ch.FinishReason != "" {
			a.finish = *ch.FinishReason
		}
	}
}

// Done reports whether the answer is complete: a finish_reason arrived and
// no error did. (The usage chunk and [DONE] follow the finish_reason.)
func (a *OpenAIAccumulator) Done() bool { return a.finish != "" && !a.errored }

// Response returns the answer accumulated so far.
func (a *OpenAIAccumulator) Response() *Response {
	r := &Response{ID: a.id, Model: a.model, StopReason: AnthropicStopReason(a.finish)}
	if a.usage != nil {
		r.Usage = FromOpenAIUsage(*a.usage)
	}
	r.Content, _ = a.content.blocks()
	return r
}
