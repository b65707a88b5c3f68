package distill

import (
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/caddy-lore/caddy-lore/gradient"
	"github.com/caddy-lore/caddy-lore/msg"
	"github.com/caddy-lore/caddy-lore/store"
)

// Roles as the observer sees them. A user message made only of tool results
// is shown as "tool": the observer ranks user assertions highest, and tool
// output is not something the user said.
const (
	roleUser      = "user"
	roleAssistant = "assistant"
	roleTool      = "tool"
)

// unknownTool names a tool_result whose tool_use is not among the pending
// messages (it was distilled in the previous segment run).
const unknownTool = "tool"

// toolNames maps tool_use ids to tool names over all pending messages, so a
// tool_result is rendered with the name of the call it answers.
func toolNames(msgs []indexed) map[string]string {
	names := map[string]string{}
	for _, m := range msgs {
		if m.Msg.Role != msg.RoleAssistant {
			continue
		}
		dm, err := decode(m.Msg)
		if err != nil {
			continue
		}
		for _, b := range dm.Blocks {
			if b.Type == msg.TypeToolUse && b.ToolID != "" {
				names[b.ToolID] = b.ToolName
			}
		}
	}
	return names
}

// decode parses a stored message's content with the message model.
func decode(m store.StoredMessage) (msg.Message, error) {
	raw, err := json.Marshal(struct {
		Role    string          `json:"role"`
		Content json.RawMessage `json:"content"`
	}{m.Role, m.Content})
	if err != nil {
		return msg.Message{}, err
	}
	return msg.DecodeMessage(raw, m.Position)
}

// Render renders messages for the observer (docs/context-window.md,
// Distillation): each one as
// "[role] (HH:MM) body", separated by blank lines. Bodies:
//   - text blocks verbatim (user text is never truncated);
//   - thinking as "[reasoning] text";
//   - tool calls as "[call:NAME] input", the input cut at 2,000 characters;
//   - tool results as "[tool:NAME] output", or, for outputs over 2,000
//     characters, "[tool:NAME] " + the gradient's strip annotation
//     ("[output omitted — NAME: N lines… — use recall for details]");
//   - other blocks (images, documents) as "[type]".
func render(msgs []indexed, names map[string]string, loc *time.Location) string {
	var b strings.Builder
	for i, m := range msgs {
		if i > 0 {
			b.WriteString("\n\n")
		}
		role, body := messageBody(m.Msg, names)
		b.WriteString("[" + role + "] (")
		b.WriteString(time.UnixMilli(m.Msg.At).In(loc).Format("15:04"))
		b.WriteString(") ")
		b.WriteString(body)
	}
	return b.String()
}

func messageBody(m store.StoredMessage, names map[string]string) (role, body string) {
	role = roleUser
	if m.Role == msg.RoleAssistant {
		role = roleAssistant
	}
	dm, err := decode(m)
	if err != nil {
		// Stored content is what the client sent; show it rather than drop it.
		return role, string(m.Content)
	}
	parts := make([]string, 0, len(dm.Blocks))
	hasText, hasResult := false, false
	for _, blk := range dm.Blocks {
		switch blk.Type {
		case msg.TypeText:
			hasText = true
			parts = append(parts, blk.Text)
		case msg.TypeThinking:
			parts = append(parts, "[reasoning] "+blk.Text)
		case msg.TypeToolUse:
			parts = append(parts, "[call:"+blk.ToolName+"] "+clip(string(blk.Input)))
		case msg.TypeToolResult:
			hasResult = true
			name := names[blk.ToolID]
			if name == "" {
				name = unknownTool
			}
			parts = append(parts, toolOutput(name, blk.OutputText()))
		default:
			parts = append(parts, "["+blk.Type+"]")
		}
	}
	if role == roleUser && hasResult && !hasText {
		role = roleTool
	}
	return role, strings.Join(parts, "\n")
}

// toolOutput is "[tool:NAME] output", with outputs over ToolOutputMaxChars
// replaced by the strip annotation the gradient uses in live turns, so the
// observer sees the same affordance the model does.
func toolOutput(name, output string) string {
	if utf8.RuneCountInString(output) > ToolOutputMaxChars {
		return "[tool:" + name + "] " + gradient.StripAnnotation(name, output)
	}
	return "[tool:" + name + "] " + output
}

// clip cuts a tool call's input to ToolOutputMaxChars characters. The
// reference shows no inputs at all; the command or path a call used is
// often what the observer needs, but a file's full new content is not.
func clip(s string) string {
	n := utf8.RuneCountInString(s)
	if n <= ToolOutputMaxChars {
		return s
	}
	cut := 0
	for i := range s {
		if cut == ToolOutputMaxChars {
			return s[:i] + "… [input truncated — " + strconv.Itoa(n) + " chars]"
		}
		cut++
	}
	return s
}

// sessionDate is the reference's "Month D, YYYY" of the first message.
func sessionDate(msgs []indexed, loc *time.Location) string {
	if len(msgs) == 0 {
		return "unknown date"
	}
	return time.UnixMilli(msgs[0].Msg.At).In(loc).Format("January 2, 2006")
}

var observationsRE = regexp.MustCompile(`(?is)<observations>(.*?)</observations>`)

// ParseObservations extracts a worker answer's observations
// (docs/context-window.md, "Distillation"): the inner text of the first
// <observations>…</observations> block (case-insensitive), else the whole
// answer, trimmed. An answer cut off by max_tokens has an opening tag and no
// closing one; that tag is dropped rather than stored (the reference would
// keep it). "" means failure.
func ParseObservations(text string) string {
	if m := observationsRE.FindStringSubmatch(text); m != nil {
		return strings.TrimSpace(m[1])
	}
	t := strings.TrimSpace(text)
	if len(t) >= len("<observations>") && strings.EqualFold(t[:len("<observations>")], "<observations>") {
		t = strings.TrimSpace(t[len("<observations>"):])
	}
	return t
}
