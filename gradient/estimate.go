package gradient

import (
	"bytes"

	"github.com/caddy-lore/caddy-lore/msg"
)

// Estimation constants (docs/context-window.md, Budgets and estimates).
const (
	perMessageTokens = 20 // role/metadata overhead of every message
	toolPartTokens   = 50 // extra for every tool_use and tool_result block
	otherPartTokens  = 20 // minimum for block types we do not look into
	// imageTokens is charged per image (top-level or inside a tool_result).
	// The reference charged 20 for any non-text part; an image costs up to
	// ~1,600 tokens (≤1.15 MP), and counting its base64 bytes instead would
	// overstate it a hundredfold, so we charge the documented maximum.
	imageTokens = 1600
)

// EstimateText is the token estimate of one text: ceil(chars/3).
//
// "chars" are UTF-8 bytes. For ASCII they equal the reference's UTF-16 length;
// for other scripts they are larger, which is closer to the real token count
// (a CJK character is about one token) and errs toward compressing earlier,
// never later. It also keeps the estimate a pure length read, with no scan.
func EstimateText(s string) int { return (len(s) + 2) / 3 }

// EstimateMessage is the token estimate of one message: 20 plus its blocks.
func EstimateMessage(m *msg.Message) int {
	n := perMessageTokens
	for i := range m.Blocks {
		n += EstimateBlock(&m.Blocks[i])
	}
	return n
}

// EstimateMessages sums EstimateMessage over msgs.
func EstimateMessages(msgs []msg.Message) int {
	n := 0
	for i := range msgs {
		n += EstimateMessage(&msgs[i])
	}
	return n
}

// EstimateBlock is the token estimate of one block:
//   - text and thinking: ceil(chars/3) of the text;
//   - tool_use: ceil((name + input JSON)/3) + 50 (the reference counted a
//     tool part once, as output + name + 50; on the Anthropic wire a call is
//     two blocks, and its input — a whole file for a Write — is sent too);
//   - tool_result: ceil(output/3) + 50, plus 1,600 per image in its content;
//   - image: 1,600;
//   - anything else (document, redacted_thinking, server tool blocks):
//     ceil(raw JSON/3), at least 20.
func EstimateBlock(b *msg.Block) int {
	switch b.Type {
	case msg.TypeText, msg.TypeThinking:
		return EstimateText(b.Text)
	case msg.TypeToolUse:
		return (len(b.ToolName)+len(b.Input)+2)/3 + toolPartTokens
	case msg.TypeToolResult:
		n := (b.OutputLen()+2)/3 + toolPartTokens
		if !b.Modified {
			n += countImages(b.Raw, b.OutputLen()) * imageTokens
		}
		return n
	case "image":
		return imageTokens
	default:
		if n := (len(b.Raw) + 2) / 3; n > otherPartTokens {
			return n
		}
		return otherPartTokens
	}
}

var (
	imageTag      = []byte(`"type":"image"`)
	imageTagSpace = []byte(`"type": "image"`)
)

// countImages counts image blocks inside a tool_result's raw JSON. Text-only
// content is about as long as its text, so the scan only runs when the raw
// JSON is much longer than the text (base64 data).
func countImages(raw []byte, textLen int) int {
	if len(raw) <= 2*textLen+1024 {
		return 0
	}
	return bytes.Count(raw, imageTag) + bytes.Count(raw, imageTagSpace)
}
