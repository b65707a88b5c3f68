package jsonscan

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestString(t *testing.T) {
	for _, s := range []string{"", "plain", "quote \" and \\ back", "tab\tnl\nret\r\b\f/", "é ü 中文 😀", "\u0000\u001f", "<>&"} {
		raw, _ := json.Marshal(s)
		got, err := String(raw)
		if err != nil || got != s {
			t.Fatalf("%q: got %q %v", s, got, err)
		}
	}
	for in, want := range map[string]string{`"\ud83d\ude00"`: "😀", `"\u00e9"`: "é", `"\/"`: "/", `"\ud800x"`: "\uFFFDx"} {
		if got, err := String([]byte(in)); err != nil || got != want {
			t.Fatalf("%s: got %q %v", in, got, err)
		}
	}
	for _, bad := range []string{`"`, `x`, `"\q"`, `"\u12"`, `"a\"`} {
		if _, err := String([]byte(bad)); err == nil {
			t.Fatalf("%s: want error", bad)
		}
	}
}

func TestObjectArraySkip(t *testing.T) {
	doc := []byte(` {"a" : "x\"}]" , "b":[1,{"c":"]"},[]], "d":-1.5e3,"e":true,"f":null,"g":{}} `)
	var keys []string
	var vals []string
	end, err := Fields(doc, 0, func(k []byte, s, e int) {
		keys = append(keys, string(k))
		vals = append(vals, string(doc[s:e]))
	})
	if err != nil || end != len(doc)-1 {
		t.Fatalf("end %d err %v", end, err)
	}
	want := []string{`"x\"}]"`, `[1,{"c":"]"},[]]`, `-1.5e3`, `true`, `null`, `{}`}
	for i := range want {
		if vals[i] != want[i] {
			t.Fatalf("value %s = %s, want %s", keys[i], vals[i], want[i])
		}
	}
	var elems []string
	arr := []byte(`[ "a\\", {"x":[1]} ,3 ]`)
	if _, err := Array(arr, 0, func(s int) (int, error) {
		e := SkipValue(arr, s)
		elems = append(elems, string(arr[s:e]))
		return e, nil
	}); err != nil || len(elems) != 3 || elems[0] != `"a\\"` || Count(arr, 0) != 3 {
		t.Fatalf("%v %v", elems, err)
	}
	for _, bad := range []string{`{"a" 1}`, `{"a":}`, `{"a":1,}`, `{"a":1`, `[1 2]`, `{"a":"}`} {
		_, err1 := Object([]byte(bad), 0, func([]byte, int) int { return -1 })
		_, err2 := Array([]byte(bad), 0, func(int) (int, error) { return -1, nil })
		if err1 == nil && err2 == nil {
			t.Fatalf("%s: want an error", bad)
		}
	}
}

func FuzzSkipValueMatchesEncodingJSON(f *testing.F) {
	for _, s := range []string{`{"a":"\\\""}`, `[1,"]",{"b":[]}]`, `"x"`, `12`, `{"a":[{"b":"c\\\\"}]}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b := []byte(s)
		if !json.Valid(b) {
			_ = SkipValue(b, SkipSpace(b, 0)) // must not panic
			return
		}
		i := SkipSpace(b, 0)
		end := SkipValue(b, i)
		var raw json.RawMessage
		dec := json.NewDecoder(bytesReader(b))
		if err := dec.Decode(&raw); err != nil {
			t.Skip()
		}
		if end < 0 || string(b[i:end]) != string(raw) && len(raw) > 0 && raw[0] != '"' && raw[0] != '{' && raw[0] != '[' {
			// numbers/literals: encoding/json strips nothing, spans must match
			t.Fatalf("%q: end %d raw %q", s, end, raw)
		}
		if end < 0 {
			t.Fatalf("%q: valid JSON not skipped", s)
		}
		if SkipSpace(b, end) != len(b) {
			t.Fatalf("%q: value ends at %d of %d", s, end, len(b))
		}
	})
}

func FuzzStringMatchesEncodingJSON(f *testing.F) {
	for _, s := range []string{`"a"`, `"\"x\\"`, `"\u00e9\n\t"`, `"\ud83d\ude00"`, `"a\\\"b"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var want string
		werr := json.Unmarshal([]byte(s), &want)
		got, gerr := String([]byte(strings.Trim(s, " \t\n\r")))
		if werr != nil || !utf8.ValidString(s) {
			return // lenient on what encoding/json rejects; invalid UTF-8 is substituted there
		}
		if gerr != nil || got != want {
			t.Fatalf("%q: got %q (%v), want %q", s, got, gerr, want)
		}
	})
}
