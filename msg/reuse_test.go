package msg

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand"
	"reflect"
	"strings"
	"testing"
)

// turnMessage renders message i of a Claude-Code-shaped conversation.
func turnMessage(i int) string {
	switch {
	case i == 0:
		return `{"role":"user","content":"Fix the tests."}`
	case i%2 == 1:
		return fmt.Sprintf(`{"role":"assistant","content":[{"type":"thinking","thinking":"t%d","signature":"s"},{"type":"tool_use","id":"toolu_%d","name":"Read","input":{"path":"/f%d"}}]}`, i, i, i)
	case i%6 == 4:
		return fmt.Sprintf(`{"role":"user","content":"plain \"prompt\" %d\n"}`, i)
	default:
		return fmt.Sprintf(`{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_%d","content":"line\n%s"},{"type":"text","text":"<system-reminder>r%d</system-reminder>"}]}`, i-1, strings.Repeat("x", i*7), i)
	}
}

// marked puts a cache marker on a rendered message's last block, as Claude
// Code does on the newest message.
func marked(m string) string {
	if strings.HasSuffix(m, "}]}") {
		return m[:len(m)-3] + `,"cache_control":{"type":"ephemeral"}}]}`
	}
	return m
}

// turnBody is a request body whose messages array holds msgs, the last one
// marked; other fields around it as a client sends them.
func turnBody(msgs []string) []byte {
	parts := append([]string(nil), msgs...)
	parts[len(parts)-1] = marked(parts[len(parts)-1])
	return []byte(`{"model":"m","messages":[` + strings.Join(parts, ",") + `],"system":"s"}`)
}

// decodeBody decodes the messages of a turnBody, with prev as the earlier
// decode (nil: cold).
func decodeBody(t *testing.T, body []byte, prev *Decoded) *Decoded {
	t.Helper()
	at := bytes.Index(body, []byte(`"messages":`)) + len(`"messages":`)
	d, end, err := DecodeArray(body, at, func(*Message) *Decoded { return prev })
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(body[end:], []byte(`,"system"`)) {
		t.Fatalf("array end %d: %q", end, body[end:])
	}
	return d
}

// sameDecode fails unless warm decoded exactly as a cold decode of body.
func sameDecode(t *testing.T, body []byte, warm *Decoded) {
	t.Helper()
	cold := decodeBody(t, body, nil)
	if !reflect.DeepEqual(warm.Messages, cold.Messages) {
		for i := range cold.Messages {
			if i >= len(warm.Messages) || !reflect.DeepEqual(warm.Messages[i], cold.Messages[i]) {
				t.Fatalf("message %d differs from a cold decode", i)
			}
		}
		t.Fatalf("%d messages, cold %d", len(warm.Messages), len(cold.Messages))
	}
}

// scribble overwrites b, so a decode that still points into it shows.
func scribble(b []byte) {
	for i := range b {
		b[i] = 'X'
	}
}

func TestDecodeArrayTakesOverUnchangedMessages(t *testing.T) {
	var msgs []string
	for i := range 41 {
		msgs = append(msgs, turnMessage(i))
	}
	prev := decodeBody(t, turnBody(msgs), nil)
	if prev.Reused != 0 {
		t.Fatal("a cold decode reuses nothing")
	}
	for turn := range 30 {
		n := len(msgs)
		msgs = append(msgs, turnMessage(n), turnMessage(n+1))
		body := turnBody(msgs)
		d := decodeBody(t, body, prev)
		// Everything after the first message is taken over but the new
		// ones and the previous last one when it lost its marker.
		want := n - 1
		if marked(msgs[n-1]) != msgs[n-1] {
			want = n - 2
		}
		if d.Reused != want {
			t.Fatalf("turn %d: reused %d of %d", turn, d.Reused, n)
		}
		sameDecode(t, append([]byte(nil), body...), d)
		// A warm decode keeps no reference to its body.
		cold := decodeBody(t, append([]byte(nil), body...), nil)
		scribble(body)
		if !reflect.DeepEqual(d.Messages, cold.Messages) {
			t.Fatalf("turn %d: the decode changed with the body it was read from", turn)
		}
		prev = d
	}
}

func TestDecodeArrayDetectsAChangedPrefix(t *testing.T) {
	var msgs []string
	for i := range 21 {
		msgs = append(msgs, turnMessage(i))
	}
	prev := decodeBody(t, turnBody(msgs), nil)
	for _, edit := range []struct {
		name  string
		at    int // first message whose bytes differ
		apply func([]string)
	}{
		{"one byte inside a tool output", 8, func(m []string) { m[8] = strings.Replace(m[8], "xxxx", "xxyx", 1) }},
		{"a block's type", 5, func(m []string) { m[5] = strings.Replace(m[5], `"thinking","thinking"`, `"text","text"`, 1) }},
		{"a role", 3, func(m []string) { m[3] = strings.Replace(m[3], `"assistant"`, `"user"`, 1) }},
		{"same length, other id", 1, func(m []string) { m[1] = strings.Replace(m[1], "toolu_1", "toolu_9", 1) }},
		{"a message removed", 6, func(m []string) { copy(m[6:], m[7:]); m[len(m)-1] = turnMessage(99) }},
		{"the separator", 12, func(m []string) { m[12] = " " + m[12] }},
	} {
		t.Run(edit.name, func(t *testing.T) {
			cur := append([]string(nil), msgs...)
			edit.apply(cur)
			body := turnBody(cur)
			d := decodeBody(t, body, prev)
			if d.Reused != edit.at-1 {
				t.Fatalf("reused %d, want %d (messages 1..%d)", d.Reused, edit.at-1, edit.at-1)
			}
			sameDecode(t, body, d)
		})
	}
	t.Run("another conversation", func(t *testing.T) {
		body := []byte(`{"model":"m","messages":[` + turnMessage(0) + `,{"role":"assistant","content":"other"}],"system":"s"}`)
		d := decodeBody(t, body, prev)
		if d.Reused != 0 {
			t.Fatalf("reused %d", d.Reused)
		}
		sameDecode(t, body, d)
	})
}

// Random histories edited at random, each decode taking over from the
// previous one: always what a cold decode gives.
func TestDecodeArrayRandomEdits(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	var msgs []string
	for i := range 5 {
		msgs = append(msgs, turnMessage(i))
	}
	var prev *Decoded
	reused := 0
	for step := range 400 {
		switch r := rng.Intn(10); {
		case r < 5: // a turn
			n := len(msgs)
			msgs = append(msgs, turnMessage(n), turnMessage(n+1))
		case r < 7 && len(msgs) > 3: // a rewind
			msgs = msgs[:1+rng.Intn(len(msgs)-1)]
		case r < 9: // one byte changed somewhere
			i := rng.Intn(len(msgs))
			m := []byte(msgs[i])
			for _, j := range rng.Perm(len(m)) {
				if m[j] >= 'a' && m[j] <= 'z' && !bytes.Contains(m[max(j-12, 0):j], []byte(`"`)) {
					m[j] = 'a' + byte(rng.Intn(26))
					break
				}
			}
			msgs[i] = string(m)
		default: // whitespace between messages
			i := rng.Intn(len(msgs))
			msgs[i] = "\n " + strings.TrimLeft(msgs[i], "\n ")
		}
		body := turnBody(msgs)
		at := bytes.Index(body, []byte(`"messages":`)) + len(`"messages":`)
		d, _, err := DecodeArray(body, at, func(*Message) *Decoded { return prev })
		if err != nil {
			continue // an edit made it invalid: nothing to compare
		}
		reused += d.Reused
		sameDecode(t, body, d)
		if d.Reused > 0 {
			scribble(body)
			sameDecode(t, turnBody(msgs), d)
		}
		prev = d
		_ = step
	}
	if reused == 0 {
		t.Fatal("nothing was ever taken over")
	}
}

// A long session's cached decode holds about one copy of its history: not
// one body per turn, nor the copies of the messages a client changed since.
func TestDecodeArraySizeStaysLinear(t *testing.T) {
	var msgs []string
	for i := range 11 {
		msgs = append(msgs, turnMessage(i))
	}
	prev := decodeBody(t, turnBody(msgs), nil)
	for range 200 {
		n := len(msgs)
		msgs = append(msgs, turnMessage(n), turnMessage(n+1))
		prev = decodeBody(t, turnBody(msgs), prev)
	}
	body := turnBody(msgs)
	cold := decodeBody(t, body, nil)
	if prev.Size() > cold.Size()*5/4 {
		t.Fatalf("held %d bytes for a history a cold decode holds in %d", prev.Size(), cold.Size())
	}
}

// TestDecodeArrayTakeOverKeepsTheBound: messages taken over from an earlier
// decode are held to the decode bound as a decode without it would hold
// them. Here the earlier turn's first message carried 8 MiB of padding
// (which its id ignores), room for 50,000 empty messages; the same messages
// behind the unpadded first message are over the bound, cache or not.
func TestDecodeArrayTakeOverKeepsTheBound(t *testing.T) {
	empties := strings.Repeat(`,{}`, 50000)
	padded := []byte(`[{"role":"user","content":"hi","pad":"` + strings.Repeat("x", 8<<20) + `"}` + empties + `]`)
	earlier, _, err := DecodeArray(padded, 0, nil)
	if err != nil {
		t.Fatalf("the padded body: %v", err)
	}
	body := []byte(`[{"role":"user","content":"hi"}` + empties + `]`)
	var shape *ShapeError
	if _, _, err := DecodeArray(body, 0, nil); !errors.As(err, &shape) {
		t.Fatalf("decoded alone: %v, want a ShapeError", err)
	}
	alone := *shape
	_, _, err = DecodeArray(body, 0, func(*Message) *Decoded { return earlier })
	if !errors.As(err, &shape) || *shape != alone {
		t.Fatalf("with the earlier decode: %v, want the same ShapeError as alone (%v)", err, &alone)
	}
	// A first message that costs no more for its bytes still takes over.
	d, _, err := DecodeArray(padded, 0, func(*Message) *Decoded { return earlier })
	if err != nil || d.Reused != 50000 {
		t.Fatalf("the same body again: reused %d, %v", d.Reused, err)
	}
	// And so does one a little shorter, with the room a real conversation
	// leaves: a client moving its cache marker off the first message.
	rest := strings.Repeat(`,{"role":"assistant","content":"ok"},{"role":"user","content":"next"}`, 10)
	marked := []byte(`[{"role":"user","content":[{"type":"text","text":"hi","cache_control":{"type":"ephemeral"}}]}` + rest + `]`)
	plain := []byte(`[{"role":"user","content":[{"type":"text","text":"hi"}]}` + rest + `]`)
	before, _, err := DecodeArray(marked, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d, _, err := DecodeArray(plain, 0, func(*Message) *Decoded { return before }); err != nil || d.Reused != 20 {
		t.Fatalf("the marker moved off the first message: reused %d, %v", d.Reused, err)
	}
}
