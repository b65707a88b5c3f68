package recall

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/caddy-lore/caddy-lore/distill"
	"github.com/caddy-lore/caddy-lore/internal/content"
	"github.com/caddy-lore/caddy-lore/knowledge"
	"github.com/caddy-lore/caddy-lore/store"
)

// previewBytes is the longest preview of a distillation or a message
// (docs/knowledge-and-recall.md, Recall: 500 characters), in bytes, as the rest of the gateway
// counts characters; a cut is on a rune boundary and marked with "…".
const previewBytes = 500

// format renders the answer: a header, a blank line and one bullet per
// result, best first.
func format(query string, results []result) string {
	query = oneLine(query, math.MaxInt)
	if len(results) == 0 {
		return "No matches for: " + query
	}
	var b strings.Builder
	b.WriteString("Recall results for: ")
	b.WriteString(query)
	b.WriteString("\n")
	for _, r := range results {
		b.WriteString("\n- ")
		b.WriteString(r.line)
	}
	return b.String()
}

// knowledgeLine is "[knowledge/<category>] **<title>**: <content>".
func knowledgeLine(e knowledge.Entry) string {
	cat := e.Category
	if cat == "" {
		cat = "general"
	}
	return "[knowledge/" + oneLine(cat, math.MaxInt) + "] **" + oneLine(e.Title, math.MaxInt) + "**: " + oneLine(e.Content, math.MaxInt)
}

// distilledLine is "[distilled] <preview of the observations>".
func distilledLine(r distill.Row) string {
	return "[distilled] " + oneLine(r.Observations, previewBytes)
}

// temporalLine is "[temporal/<role>] (message <position>) <preview>".
func temporalLine(m store.StoredMessage, text string) string {
	return "[temporal/" + oneLine(m.Role, math.MaxInt) + "] (message " + strconv.Itoa(m.Position) + ") " + oneLine(text, previewBytes)
}

// oneLine collapses every run of white space (newlines included) into one
// space, so each result stays one Markdown bullet, and keeps at most n
// bytes, cut on a rune boundary and marked with "…". It stops reading at
// the cut, so a huge tool output costs no more than its preview.
func oneLine(s string, n int) string {
	var b strings.Builder
	space := false
	for _, r := range s {
		if unicode.IsSpace(r) {
			space = b.Len() > 0
			continue
		}
		need := utf8.RuneLen(r) // invalid bytes come as U+FFFD, 3 bytes
		if space {
			need++
		}
		if b.Len()+need > n {
			b.WriteString("…")
			break
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(r)
	}
	return b.String()
}

// messageText is what recall searches and previews of a stored message:
// a string content as is; of blocks, the text blocks, each tool call's
// name and input, and each tool result's text. Thinking, images and
// documents are left out: they are not what the model asks to recall.
func messageText(raw json.RawMessage) string {
	blocks, s := content.Decode(raw)
	if blocks == nil {
		return s
	}
	var parts []string
	for _, bl := range blocks {
		switch bl.Type {
		case "text":
			parts = append(parts, bl.Text)
		case "tool_use":
			parts = append(parts, bl.Name+" "+string(bl.Input))
		case "tool_result":
			parts = append(parts, content.ResultText(bl.Content))
		}
	}
	return strings.Join(parts, "\n")
}
