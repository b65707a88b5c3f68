package fakeupstream

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
)

// convo is what the scripted reply looks at.
type convo struct {
	System      string
	UserTexts   []string // text of each user message (text blocks only, no tool_result)
	Seed        string   // deterministic per prompt; ids derive from it
	ToolResults []string // the text of every tool_result block (loop mode)
	Thinking    bool     // the request enables extended thinking
	SigKey      []byte   // signs thinking blocks
}

type replyBlock struct {
	Type      string // "thinking", "text", "tool_use"
	Text      string // text, or thinking text
	Signature string
	ID, Name  string
	Input     string // JSON object
}

type reply struct {
	Blocks      []replyBlock
	StopReason  string
	StreamError bool // [[stream:error]]: an overloaded error event mid-stream
}

var (
	toolMagic   = regexp.MustCompile(`\[\[tool:([A-Za-z0-9_.-]+)\]\]`)
	recallMagic = regexp.MustCompile(`\[\[recall:([^\]]+)\]\]`)
)

const (
	magicThinking    = "[[thinking]]"
	magicStreamError = "[[stream:error]]"
	observationsTag  = "<observations>"
	toolInput        = `{"command":"echo hi"}`
)

// convoOf builds the scripting view of a parsed Anthropic request.
func convoOf(p *msgRequest, hashes [][32]byte, sigKey []byte) convo {
	c := convo{System: p.System, Thinking: p.thinkingEnabled(), SigKey: sigKey}
	for _, m := range p.Messages {
		if m.Role != "user" {
			continue
		}
		c.UserTexts = append(c.UserTexts, m.Text)
		for _, b := range m.Blocks {
			if b.Type == "tool_result" {
				c.ToolResults = append(c.ToolResults, string(canonical(b.obj["content"])))
			}
		}
	}
	if len(hashes) > 0 {
		c.Seed = hex.EncodeToString(hashes[len(hashes)-1][:])
	} else {
		c.Seed = hex.EncodeToString(sha256.New().Sum(nil))
	}
	return c
}

// script computes the deterministic reply (rules in the package doc).
func script(c convo) reply {
	n := len(c.UserTexts)
	last := ""
	if n > 0 {
		last = c.UserTexts[n-1]
	}
	if r, ok := knowledgeReply(c); ok {
		return r
	}
	if k, ok := observationsRequest(c); ok {
		return reply{
			Blocks:     []replyBlock{{Type: "text", Text: fmt.Sprintf("<observations>\n- distilled %d messages\n</observations>", k)}},
			StopReason: "end_turn",
		}
	}
	if r, ok := loopReply(c); ok {
		return r
	}
	var r reply
	if strings.Contains(last, magicThinking) || c.Thinking {
		text := fmt.Sprintf("thinking about turn %d", n)
		r.Blocks = append(r.Blocks, replyBlock{Type: "thinking", Text: text, Signature: sign(c.SigKey, text)})
	}
	r.Blocks = append(r.Blocks, replyBlock{Type: "text", Text: fmt.Sprintf("ok (turn %d)", n)})
	r.StopReason = "end_turn"
	calls := 0
	for _, m := range recallMagic.FindAllStringSubmatch(last, -1) {
		input, _ := json.Marshal(map[string]string{"query": m[1]})
		r.Blocks = append(r.Blocks, replyBlock{Type: "tool_use", ID: toolUseID(c.Seed, calls), Name: "recall", Input: string(input)})
		r.StopReason = "tool_use"
		calls++
	}
	for _, m := range toolMagic.FindAllStringSubmatch(last, -1) {
		r.Blocks = append(r.Blocks, replyBlock{
			Type:  "tool_use",
			ID:    toolUseID(c.Seed, calls),
			Name:  m[1],
			Input: toolInput,
		})
		r.StopReason = "tool_use"
		calls++
	}
	r.StreamError = strings.Contains(last, magicStreamError)
	return r
}

// observationsRequest recognises a distillation prompt: "<observations>" in
// the system prompt or any user text. K counts the lines of all user texts
// that start (after leading blanks) with "[user]" or "[assistant]".
func observationsRequest(c convo) (int, bool) {
	found := strings.Contains(c.System, observationsTag)
	k := 0
	for _, t := range c.UserTexts {
		if strings.Contains(t, observationsTag) {
			found = true
		}
		for _, line := range strings.Split(t, "\n") {
			line = strings.TrimLeft(line, " \t")
			if strings.HasPrefix(line, "[user]") || strings.HasPrefix(line, "[assistant]") {
				k++
			}
		}
	}
	return k, found
}

func toolUseID(seed string, i int) string {
	s := sha256.Sum256([]byte(fmt.Sprintf("%s|tool|%d", seed, i)))
	return "toolu_01" + hex.EncodeToString(s[:])[:22]
}

func callID(seed string, i int) string {
	s := sha256.Sum256([]byte(fmt.Sprintf("%s|call|%d", seed, i)))
	return "call_" + hex.EncodeToString(s[:])[:24]
}

// outputTokens is ceil(chars/4) of the output (text, thinking, tool name +
// input), at least 1 for non-empty output.
func (r reply) outputTokens() int {
	n := 0
	for _, b := range r.Blocks {
		n += len(b.Text) + len(b.Name) + len(b.Input)
	}
	if n == 0 {
		return 0
	}
	return max(1, tokensOf(n))
}

// limit applies max_tokens: 0 gives empty content; a smaller limit than the
// reply truncates text to 4*max bytes, drops tool uses and sets
// stop_reason "max_tokens".
func (r reply) limit(maxTokens int64) reply {
	if maxTokens < 0 || int64(r.outputTokens()) <= maxTokens {
		return r
	}
	out := reply{StopReason: "max_tokens", StreamError: r.StreamError}
	budget := int(maxTokens) * 4
	for _, b := range r.Blocks {
		if budget <= 0 || b.Type == "tool_use" {
			break
		}
		if len(b.Text) > budget {
			b.Text = b.Text[:budget]
		}
		budget -= len(b.Text)
		out.Blocks = append(out.Blocks, b)
	}
	return out
}
