package handler

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"strings"

	"github.com/caddy-lore/caddy-lore/msg"
	"github.com/caddy-lore/caddy-lore/store"
)

// Recaller answers the recall tool the gateway offers the model
// (docs/knowledge-and-recall.md, Recall): a search of the session's knowledge,
// distillations and history. A nil Recaller offers no tool.
type Recaller interface {
	Recall(ctx context.Context, sess *store.Session, query, scope string) string
}

// recallToolName is the tool the gateway adds to a turn's tools.
const recallToolName = "recall"

// recallTool is its definition, appended after the client's tools. Its bytes
// never change, so the tools prefix stays cached.
const recallTool = `{"name":"recall","description":"Search this conversation's earlier history, which the gateway may have condensed out of your context, and the project's long-term knowledge. Use it when a summary or an \"[output omitted … use recall for details]\" note mentions something whose details you need (exact file contents, command output, error messages, decisions and their reasons). Returns the best matching passages.","input_schema":{"type":"object","properties":{"query":{"type":"string","description":"A few specific words: names, paths, identifiers, error text"},"scope":{"type":"string","enum":["all","session","knowledge"],"description":"all (default): history and knowledge; session: this conversation only; knowledge: long-term knowledge only"}},"required":["query"]}}`

// maxRecallRounds bounds the follow-up calls of one answer: a model that
// keeps calling recall gets its answer closed after this many.
const maxRecallRounds = 3

// withRecallTool returns tools with the recall tool appended, and whether
// it was: only to a non-empty array that has no tool of that name (a client
// with its own recall keeps it, a tool-less call gets no tools).
func withRecallTool(tools json.RawMessage) (json.RawMessage, bool) {
	t := bytes.TrimSpace(tools)
	if len(t) < 2 || t[0] != '[' || t[len(t)-1] != ']' || len(bytes.TrimSpace(t[1:len(t)-1])) == 0 {
		return nil, false
	}
	if bytes.Contains(t, []byte(`"`+recallToolName+`"`)) { // rare: look closer
		var named []struct {
			Name string `json:"name"`
		}
		if json.Unmarshal(t, &named) != nil {
			return nil, false
		}
		for _, n := range named {
			if n.Name == recallToolName {
				return nil, false
			}
		}
	}
	out := make([]byte, 0, len(t)+len(recallTool)+1)
	out = append(out, t[:len(t)-1]...)
	out = append(out, ',')
	out = append(out, recallTool...)
	return append(out, ']'), true
}

// recallAllowed reports whether tool_choice leaves the model free to call
// recall: not when it must call some tool ("any", which recall would then
// satisfy), a named tool, or none.
func recallAllowed(toolChoice json.RawMessage) bool {
	var tc struct {
		Type string `json:"type"`
	}
	if len(bytes.TrimSpace(toolChoice)) == 0 || json.Unmarshal(toolChoice, &tc) != nil {
		return true
	}
	return tc.Type == "" || tc.Type == "auto"
}

// recallCall is one recall tool_use of the model.
type recallCall struct {
	ID    string
	Query string
	Scope string
}

// recallCalls returns the recall tool_use blocks of an assistant content
// array and whether it has tool_use blocks of other tools too.
func recallCalls(content json.RawMessage) (calls []recallCall, others bool) {
	var blocks []struct {
		Type  string          `json:"type"`
		ID    string          `json:"id"`
		Name  string          `json:"name"`
		Input json.RawMessage `json:"input"`
	}
	if json.Unmarshal(content, &blocks) != nil {
		return nil, false
	}
	for _, b := range blocks {
		if b.Type != "tool_use" {
			continue
		}
		if b.Name != recallToolName {
			others = true
			continue
		}
		var in struct {
			Query string `json:"query"`
			Scope string `json:"scope"`
		}
		_ = json.Unmarshal(b.Input, &in)
		calls = append(calls, recallCall{ID: b.ID, Query: in.Query, Scope: in.Scope})
	}
	return calls, others
}

// withoutRecallBlocks returns the content array's blocks other than recall
// tool_use blocks (and, for a continuation, thinking blocks: see
// recallRelay.round), as raw JSON elements.
func withoutRecallBlocks(content json.RawMessage, continuation bool) []json.RawMessage {
	return filterBlocks(content, func(b blockHead) bool {
		return b.Type == "tool_use" && b.Name == recallToolName ||
			continuation && (b.Type == "thinking" || b.Type == "redacted_thinking")
	})
}

// blockHead is what the filters look at in a content block.
type blockHead struct {
	Type string `json:"type"`
	Name string `json:"name"`
	Text string `json:"text"`
}

// filterBlocks returns a content array's blocks, as raw JSON elements,
// without those drop matches.
func filterBlocks(content json.RawMessage, drop func(blockHead) bool) []json.RawMessage {
	var blocks []json.RawMessage
	if json.Unmarshal(content, &blocks) != nil {
		return nil
	}
	out := blocks[:0]
	for _, b := range blocks {
		var head blockHead
		if json.Unmarshal(b, &head) == nil && drop(head) {
			continue
		}
		out = append(out, b)
	}
	return out
}

// runRecall answers the calls, in order.
func (h *Handler) runRecall(ctx context.Context, sess *store.Session, calls []recallCall) []string {
	out := make([]string, len(calls))
	for i, c := range calls {
		if sess == nil || h.cfg.Recall == nil {
			out[i] = "Recall is unavailable for this request."
			continue
		}
		out[i] = h.cfg.Recall.Recall(ctx, sess, c.Query, c.Scope)
	}
	return out
}

// followUpMessages are the two messages a follow-up call appends to the
// conversation: the model's answer as it was (recall calls included) and a
// user message with one tool_result per recall call.
func followUpMessages(content json.RawMessage, calls []recallCall, results []string) ([]byte, error) {
	type result struct {
		Type      string `json:"type"`
		ToolUseID string `json:"tool_use_id"`
		Content   string `json:"content"`
	}
	rs := make([]result, len(calls))
	for i, c := range calls {
		rs[i] = result{Type: "tool_result", ToolUseID: c.ID, Content: results[i]}
	}
	user, err := json.Marshal(struct {
		Role    string   `json:"role"`
		Content []result `json:"content"`
	}{"user", rs})
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.WriteString(`{"role":"assistant","content":[`)
	b.Write(joinRaw(withoutBlankText(content)))
	b.WriteString("]},")
	b.Write(user)
	return b.Bytes(), nil
}

// withoutBlankText drops text blocks holding only whitespace, which the API
// refuses in a request ("text content blocks must contain non-whitespace
// text") although models emit them before a tool call.
func withoutBlankText(content json.RawMessage) []json.RawMessage {
	return filterBlocks(content, func(b blockHead) bool { return b.Type == "text" && strings.TrimSpace(b.Text) == "" })
}

// appendMessages adds raw message elements (comma-separated) at the end of a
// messages array.
func appendMessages(messages json.RawMessage, extra []byte) []byte {
	m := bytes.TrimSpace(messages)
	out := make([]byte, 0, len(m)+len(extra)+1)
	out = append(out, m[:len(m)-1]...)
	if len(bytes.TrimSpace(m[1:len(m)-1])) > 0 {
		out = append(out, ',')
	}
	out = append(out, extra...)
	return append(out, ']')
}

// withPendingRecall appends kept recall results as a text block to the last
// message when it is the user's (a copy: the decoded messages are shared).
func withPendingRecall(msgs []msg.Message, text string) []msg.Message {
	if text == "" || len(msgs) == 0 || msgs[len(msgs)-1].Role != msg.RoleUser {
		return msgs
	}
	out := slices.Clone(msgs)
	last := &out[len(out)-1]
	last.Blocks = append(slices.Clip(last.Blocks), msg.Block{Type: msg.TypeText, Text: text, Modified: true})
	return out
}

// pendingRecallText renders results kept for the next request (the model
// called recall beside the client's tools).
func pendingRecallText(calls []recallCall, results []string) string {
	var b strings.Builder
	b.WriteString("<recall-results>\n")
	for i, c := range calls {
		b.WriteString("Results of recall(" + strings.TrimSpace(c.Query) + "):\n")
		b.WriteString(results[i])
		b.WriteString("\n")
	}
	b.WriteString("</recall-results>")
	return b.String()
}
