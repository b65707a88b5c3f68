package translate

import (
	"encoding/json"
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
