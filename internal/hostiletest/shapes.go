// Package hostiletest renders the request bodies shaped to hurt the gateway
// that docs/hostile-input.md lists, for the handler's unit tests and the
// end-to-end memory test alike: both judge the same shapes.
package hostiletest

import (
	"bytes"
	"strconv"
	"strings"
)

// Shapes are the hostile shapes Body renders.
var Shapes = []string{
	"empty messages", "empty blocks", "empty string messages", "deep nesting", "many fields",
	"chat empty messages", "chat deep nesting",
}

// Body renders one hostile shape at about size bytes, with the path it is
// sent to. Every one is refused (400) however long it is.
func Body(shape string, size int) (path string, body []byte) {
	fill := func(prefix, elem, sep, suffix string) []byte {
		var b bytes.Buffer
		b.Grow(size)
		b.WriteString(prefix)
		numbered := strings.Contains(elem, "#") // "#" takes the element's number
		for i := 0; b.Len()+len(elem)+len(sep)+len(suffix) < size; i++ {
			if i > 0 {
				b.WriteString(sep)
			}
			if numbered {
				b.WriteString(strings.ReplaceAll(elem, "#", strconv.Itoa(i)))
			} else {
				b.WriteString(elem)
			}
		}
		b.WriteString(suffix)
		return b.Bytes()
	}
	nest := func(head, tail string) []byte {
		n := (size - len(head) - len(tail)) / 2
		return []byte(head + strings.Repeat("[", n) + strings.Repeat("]", n) + tail)
	}
	const head = `{"model":"claude-sonnet-4-5","max_tokens":1,`
	switch shape {
	case "empty messages":
		return "/v1/messages", fill(head+`"messages":[`, `{}`, ",", `]}`)
	case "empty blocks":
		return "/v1/messages", fill(head+`"messages":[{"role":"user","content":[`, `{}`, ",", `]}]}`)
	case "empty string messages":
		return "/v1/messages", fill(head+`"messages":[`, `{"role":"user","content":""}`, ",", `]}`)
	case "deep nesting":
		return "/v1/messages", nest(head+`"messages":[{"role":"user","content":"hi"}],"x":`, `}`)
	case "many fields":
		return "/v1/messages", fill(head, `"f#":0`, ",", `,"messages":[{"role":"user","content":"hi"}]}`)
	case "chat empty messages":
		return "/v1/chat/completions", fill(`{"model":"gpt-4o","messages":[`, `{}`, ",", `]}`)
	case "chat deep nesting":
		return "/v1/chat/completions", nest(`{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"x":`, `}`)
	}
	panic("hostiletest: unknown shape " + shape)
}
