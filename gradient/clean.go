package gradient

import (
	"strings"

	"github.com/caddy-lore/caddy-lore/msg"
)

// System-reminder cleaning, at every layer ≥ 1.
const (
	reminderOpen  = "<system-reminder>"
	reminderClose = "</system-reminder>"
	// A reminder that wraps a user message keeps the message.
	wrapperStart = "The user sent the following message:\n"
	wrapperEnd   = "\n\nPlease address"
	// EmptyPlaceholder replaces a message whose text blocks all became empty.
	EmptyPlaceholder = "..."
)

// CleanText removes <system-reminder>…</system-reminder> blocks (and one
// newline after each) from a text; a reminder wrapping a user message ("The
// user sent the following message:\n…\n\nPlease address") is replaced by the
// trimmed inner message and a newline. Then runs of 3 or more newlines
// collapse to 2 and the text is trimmed. A reminder without a closing tag is
// left alone. This is the reference's stripSystemReminders, without regexps.
func CleanText(text string) string {
	if !strings.Contains(text, reminderOpen) {
		return normalizeText(text)
	}
	var b strings.Builder
	b.Grow(len(text))
	rest := text
	for {
		i := strings.Index(rest, reminderOpen)
		if i < 0 {
			break
		}
		j := strings.Index(rest[i+len(reminderOpen):], reminderClose)
		if j < 0 {
			break
		}
		end := i + len(reminderOpen) + j + len(reminderClose)
		match := rest[i:end]
		if end < len(rest) && rest[end] == '\n' {
			end++
		}
		b.WriteString(rest[:i])
		if k := strings.Index(match, wrapperStart); k >= 0 {
			after := match[k+len(wrapperStart):]
			if e := strings.Index(after, wrapperEnd); e >= 0 {
				b.WriteString(strings.TrimSpace(after[:e]))
				b.WriteByte('\n')
			}
		}
		rest = rest[end:]
	}
	b.WriteString(rest)
	return normalizeText(b.String())
}

// normalizeText collapses 3+ newlines to 2 and trims, returning s itself when
// there is nothing to do.
func normalizeText(s string) string {
	if strings.Contains(s, "\n\n\n") {
		var b strings.Builder
		b.Grow(len(s))
		run := 0
		for i := 0; i < len(s); i++ {
			c := s[i]
			if c == '\n' {
				run++
				if run > 2 {
					continue
				}
			} else {
				run = 0
			}
			b.WriteByte(c)
		}
		s = b.String()
	}
	return strings.TrimSpace(s)
}

// cleanBlocks applies CleanText to the text blocks of a message. Text blocks
// left empty are dropped; if every block was an emptied text block, the first
// is kept with the text "..." so the message survives. It returns nil when
// nothing changed. Other blocks (thinking with its signature, tool blocks,
// images, unknown types) are never touched.
func cleanBlocks(blocks []msg.Block) []msg.Block {
	var out []msg.Block // nil until the first change
	for i := range blocks {
		b := &blocks[i]
		if b.Type != msg.TypeText {
			if out != nil {
				out = append(out, *b)
			}
			continue
		}
		cleaned := CleanText(b.Text)
		if cleaned == b.Text && cleaned != "" {
			if out != nil {
				out = append(out, *b)
			}
			continue
		}
		if out == nil {
			out = make([]msg.Block, i, len(blocks))
			copy(out, blocks[:i])
		}
		if cleaned == "" {
			continue
		}
		out = append(out, textBlock(cleaned))
	}
	if out == nil {
		return nil
	}
	if len(out) == 0 {
		if blocks[0].Type == msg.TypeText {
			return []msg.Block{textBlock(EmptyPlaceholder)}
		}
		return nil // the reference keeps the original blocks then
	}
	return out
}

// textBlock is a new text block, encoded from its fields.
func textBlock(s string) msg.Block {
	return msg.Block{Type: msg.TypeText, Text: s, Modified: true}
}
