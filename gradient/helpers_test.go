package gradient

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/caddy-lore/caddy-lore/msg"
)

// conv builds Anthropic messages as JSON, the way a client sends them.
type conv struct{ raw []string }

func js(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func (c *conv) add(role string, content any) *conv {
	c.raw = append(c.raw, fmt.Sprintf(`{"role":%q,"content":%s}`, role, js(content)))
	return c
}

// user adds a user message with string content.
func (c *conv) user(text string) *conv { return c.add("user", text) }

// asst adds an assistant message with one text block.
func (c *conv) asst(text string) *conv {
	return c.add("assistant", []map[string]any{{"type": "text", "text": text}})
}

// call adds an assistant message with a tool_use.
func (c *conv) call(id, name string, input any) *conv {
	return c.add("assistant", []map[string]any{{"type": "tool_use", "id": id, "name": name, "input": input}})
}

// result adds a user message with a tool_result.
func (c *conv) result(id, output string) *conv {
	return c.add("user", []map[string]any{{"type": "tool_result", "tool_use_id": id, "content": output}})
}

// tool adds a call and its result.
func (c *conv) tool(id, name string, input any, output string) *conv {
	return c.call(id, name, input).result(id, output)
}

func (c *conv) clone() *conv { return &conv{raw: append([]string(nil), c.raw...)} }

func (c *conv) msgs(t testing.TB) []msg.Message {
	t.Helper()
	m, err := msg.Decode(json.RawMessage("[" + strings.Join(c.raw, ",") + "]"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// encode is the messages array as it goes upstream.
func encode(t testing.TB, msgs []msg.Message) string {
	t.Helper()
	out := []byte{'['}
	for i := range msgs {
		if i > 0 {
			out = append(out, ',')
		}
		var err error
		if out, err = msg.AppendJSON(out, &msgs[i]); err != nil {
			t.Fatal(err)
		}
	}
	return string(append(out, ']'))
}

// wire decodes the encoded messages into plain maps for assertions.
func wire(t testing.TB, msgs []msg.Message) []map[string]any {
	t.Helper()
	var v []map[string]any
	if err := json.Unmarshal([]byte(encode(t, msgs)), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// text of n bytes.
func text(n int) string {
	const unit = "lorem ipsum dolor sit amet "
	return strings.Repeat(unit, n/len(unit)+1)[:n]
}

var sonnet4 = Limits{Context: 200_000, MaxOutput: 16_000}

// calibrated returns a state that looks like a session whose last turn, at
// the given layer, was calibrated.
func calibratedState(layer, count int) *State {
	return &State{LastLayer: layer, LastKnownInput: 50_000, LastKnownMessageCount: count, Overhead: 15_000, OverheadSamples: 1}
}

func rows(n int) []Distillation {
	out := make([]Distillation, n)
	for i := range out {
		out[i] = Distillation{ID: fmt.Sprintf("d%d", i), Observations: fmt.Sprintf("  observation %d  ", i)}
	}
	return out
}

func ids(msgs []msg.Message) []string {
	out := make([]string, len(msgs))
	for i := range msgs {
		out[i] = msgs[i].ID
	}
	return out
}

func indexOf(msgs []msg.Message, id string) int {
	for i := range msgs {
		if msgs[i].ID == id {
			return i
		}
	}
	return -1
}

func mustEqual[T comparable](t testing.TB, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Fatalf("%s = %v, want %v", what, got, want)
	}
}

func idf(prefix string, i int) string { return fmt.Sprintf("%s%d", prefix, i) }

// grow decodes only the messages added since prev (ids depend on position
// and content only, so this equals a full decode).
func (c *conv) grow(t testing.TB, prev []msg.Message) []msg.Message {
	t.Helper()
	out := prev[:len(prev):len(prev)]
	for i := len(prev); i < len(c.raw); i++ {
		m, err := msg.DecodeMessage(json.RawMessage(c.raw[i]), i)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}
