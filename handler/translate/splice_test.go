package translate

import (
	"bytes"
	"encoding/json"
	"io"
	"testing"
)

func TestReplaceFields(t *testing.T) {
	body := []byte(` { "model" : "m", "system":"s\"}x", "messages":[{"role":"user","content":"a]}"}],"n":-1.5e3,"t":true, "z":null }`)
	out, err := ReplaceFields(body, map[string][]byte{
		"messages": []byte(`[{"role":"user","content":"b"}]`),
		"system":   []byte(`[{"type":"text","text":"S"}]`),
		"t":        nil,
		"added":    []byte(`1`),
	})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"model":"m","system":[{"type":"text","text":"S"}],"messages":[{"role":"user","content":"b"}],"n":-1.5e3,"z":null,"added":1}`
	if string(out) != want {
		t.Fatalf("got  %s\nwant %s", out, want)
	}
	if !json.Valid(out) {
		t.Fatal("invalid output")
	}
	same, _ := ReplaceFields([]byte(`{}`), nil)
	if string(same) != `{}` {
		t.Fatalf("%s", same)
	}
	if _, err := ReplaceFields([]byte(`[1]`), nil); err == nil {
		t.Fatal("want error for a non-object")
	}
}

// Rebuild gives ReplaceFields's bytes with the messages spliced in, and
// refers to the client's body instead of copying it: an unchanged body is
// one slice of it, a changed message splits it around the change.
func TestRebuild(t *testing.T) {
	body := []byte(`{"model":"m","messages":[{"role":"user","content":"a"},{"role":"assistant","content":"b"},{"role":"user","content":"c"}],"system":"s","future":[1,{"x":"]"}]}`)
	req, err := ParseRequest(body)
	if err != nil {
		t.Fatal(err)
	}
	elements := [][]byte{
		[]byte(`{"role":"user","content":"a"}`), // a copy, not the body's bytes
		body[bytes.Index(body, []byte(`{"role":"assistant"`)):bytes.Index(body, []byte(`,{"role":"user","content":"c"}`))],
		body[bytes.Index(body, []byte(`{"role":"user","content":"c"}`)):bytes.Index(body, []byte(`],"system"`))],
	}
	for _, fields := range []map[string][]byte{
		nil,
		{"system": []byte(`[{"type":"text","text":"S"}]`)},
		{"system": nil, "added": []byte(`true`), "another": []byte(`2`)},
	} {
		joined := append(append([]byte(`[`), bytes.Join(elements, []byte(","))...), ']')
		want, err := ReplaceFields(body, withField(fields, "messages", joined))
		if err != nil {
			t.Fatal(err)
		}
		got, err := req.Rebuild(elements, fields)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Bytes(), want) || got.Len() != len(want) {
			t.Fatalf("fields %v:\ngot  %s\nwant %s", fields, got.Bytes(), want)
		}
		if read, _ := io.ReadAll(got.Reader()); !bytes.Equal(read, want) {
			t.Fatalf("reader gave %s", read)
		}
	}

	// Unchanged: one slice of the body itself.
	same, _ := ParseRequest(body)
	msgs := body[bytes.Index(body, []byte(`[{"role"`))+1 : bytes.Index(body, []byte(`],"system"`))]
	first, _, ok := bytes.Cut(msgs, []byte(`,{"role":"assistant"`))
	rest := msgs[len(first)+1:]
	i := bytes.Index(rest, []byte(`,{"role"`))
	if !ok || i < 0 {
		t.Fatal("the test body lost its shape")
	}
	parts := [][]byte{first, rest[:i], rest[i+1:]}
	out, _ := same.Rebuild(parts, nil)
	if len(out) != 1 || &out[0][0] != &body[0] || !bytes.Equal(out[0], body) {
		t.Fatalf("an unchanged body is %d slices", len(out))
	}
	// One changed message: the body before it, the message, a comma, the
	// body after it.
	parts[1] = []byte(`{"role":"assistant","content":"B"}`)
	out, _ = same.Rebuild(parts, nil)
	if len(out) != 4 || &out[0][0] != &body[0] || &out[3][len(out[3])-1] != &body[len(body)-1] ||
		!bytes.Equal(out.Bytes(), bytes.Replace(body, []byte(`"b"`), []byte(`"B"`), 1)) {
		t.Fatalf("%d slices: %s", len(out), out.Bytes())
	}
}

func withField(fields map[string][]byte, k string, v []byte) map[string][]byte {
	out := map[string][]byte{k: v}
	for fk, fv := range fields {
		out[fk] = fv
	}
	return out
}
